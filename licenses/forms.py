from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from inventory.models import Application, Organization
from licenses.choices import ChecklistStatus, ConclusionStatus
from licenses.models import License, Obligation


class ListField(forms.CharField):
    """A JSON list edited as one item per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            return value
        text = super().to_python(value) or ""
        return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


class LicenseForm(forms.ModelForm):
    aliases = ListField(required=False, help_text="One per line.")
    reference_names = ListField(required=False, help_text="Phrases that count as a reference, one per line.")
    urls = ListField(required=False, help_text="URL fragments, one per line.")
    reason = forms.CharField(required=False, help_text="Why (kept in the audit log).")

    class Meta:
        model = License
        fields = [
            "key", "spdx_id", "name", "family", "threat_group", "aliases", "reference_names", "urls",
            "component_of", "notice", "display_attribution", "naming_prefix", "binds_output_trained",
            "is_active", "notes", "text",
        ]  # fmt: skip
        widgets = {
            "text": forms.Textarea(attrs={"rows": 16, "class": "mono"}),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }


class ObligationForm(forms.ModelForm):
    class Meta:
        model = Obligation
        fields = ["term", "meaning"]
        widgets = {"meaning": forms.Textarea(attrs={"rows": 2})}


class LicenseObligationForm(forms.Form):
    term = forms.CharField(max_length=80, help_text="Vocabulary term, e.g. user-threshold:700M")
    clause = forms.CharField(max_length=60, required=False)
    quote = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    remove = forms.BooleanField(required=False)


class ConclusionForm(forms.Form):
    status = forms.ChoiceField(choices=ConclusionStatus.choices)
    license_expression = forms.CharField(
        required=False, max_length=500, help_text="Canonical ids with AND / OR; empty to confirm the detected one."
    )
    application = forms.ModelChoiceField(
        queryset=Application.objects.none(), required=False, help_text="Scope: leave both empty for everywhere."
    )
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), required=False)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["application"].queryset = Application.objects.restrict(user)  # type: ignore[attr-defined]
        self.fields["organization"].queryset = Organization.objects.restrict(user)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("application") and data.get("organization"):
            raise forms.ValidationError("Scope the conclusion to an application or an organization, not both.")
        return data


class ChecklistForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    term = forms.CharField(max_length=80, widget=forms.HiddenInput)
    status = forms.ChoiceField(choices=ChecklistStatus.choices)
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True), required=False)
    note = forms.CharField(max_length=500, required=False)
