"""Forms of the identity pages. They parse and present; the rules live in services."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from identity.choices import Capability
from identity.services import max_token_days
from inventory.models import Application, Organization

DEFAULT_TOKEN_DAYS = 90


class CITokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. 'GitHub Actions: release'.")
    capability = forms.ChoiceField(choices=Capability.choices, initial=Capability.GATE)
    application = forms.ModelChoiceField(queryset=Application.objects.none(), required=False)
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(), required=False, help_text="…or every application of an organization."
    )
    expires_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="Ends at 24:00 UTC.")

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        today = timezone.now().astimezone(UTC).date()
        self.fields["expires_on"].initial = today + timedelta(days=min(DEFAULT_TOKEN_DAYS, max_token_days()))
        self.fields["expires_on"].widget.attrs["max"] = (today + timedelta(days=max_token_days())).isoformat()
        self.fields["application"].queryset = Application.objects.restrict(user).select_related("organization")  # type: ignore[attr-defined]
        self.fields["organization"].queryset = Organization.objects.restrict(user)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("application")) == bool(data.get("organization")):
            raise forms.ValidationError("Choose one application or one organization.")
        return data


class RevokeForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)
