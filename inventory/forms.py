from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from inventory.choices import DatasetFlag
from inventory.local import LocalImportError, check_import_root
from inventory.models import Application, Dataset, Organization


class ImportForm(forms.Form):
    repo_id = forms.CharField(
        label="Repository",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "org/model-name", "autocomplete": "off"}),
        help_text="A Hugging Face Hub repository id.",
    )
    revision = forms.CharField(
        label="Revision",
        required=False,
        initial="main",
        max_length=200,
        help_text="Branch, tag or commit; pinned to a commit on import.",
    )
    local_path = forms.CharField(
        label="…or a local folder",
        required=False,
        max_length=1000,
        help_text="A Hugging Face cache snapshot (models--org--name/snapshots/<sha>) or a folder under an import root.",
    )
    application = forms.ModelChoiceField(
        queryset=Application.objects.none(),
        required=False,
        help_text="Record that this application uses the imported version.",
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["application"].queryset = Application.objects.restrict(user).select_related("organization")  # type: ignore[attr-defined]
        roots = ", ".join(str(r) for r in settings.MODELGATE_LOCAL_IMPORT_ROOTS)
        self.fields["local_path"].help_text = (
            "A Hugging Face cache snapshot (models--org--name/snapshots/<sha>) or a folder "
            f"under the import roots: {roots}."
            if roots
            else "Local folders are disabled: no import root is configured (MODELGATE_LOCAL_IMPORT_ROOTS)."
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        repo_id, local = (data.get("repo_id") or "").strip(), (data.get("local_path") or "").strip()
        if not repo_id and not local:
            self.add_error("repo_id", "Give a repository id or a local folder.")
            return data
        if local:
            try:
                check_import_root(local, settings.MODELGATE_LOCAL_IMPORT_ROOTS)
            except LocalImportError as exc:
                self.add_error("local_path", str(exc))
        if repo_id and not local and (repo_id.count("/") > 1 or " " in repo_id):
            self.add_error("repo_id", "A repository id looks like org/name.")
        return data


class _PlacedForm(forms.ModelForm):
    """Offers as the owning organization only those where the user may add/change (its own, for a
    membership role), plus the current one (shown by name; moving elsewhere is checked by the service)."""

    owner_field = ""

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get(self.owner_field)
        if user is None or not isinstance(field, forms.ModelChoiceField):
            return
        verb = "change" if self.instance.pk else "add"
        choices = Organization.objects.restrict(user, f"inventory.{verb}_{self._meta.model._meta.model_name}")
        current = getattr(self.instance, f"{self.owner_field}_id", None)
        field.queryset = choices | Organization.objects.filter(pk=current) if current else choices


class OrganizationForm(_PlacedForm):
    owner_field = "parent"

    class Meta:
        model = Organization
        fields = list(Organization.EDITABLE_FIELDS)


class ApplicationForm(_PlacedForm):
    owner_field = "organization"

    class Meta:
        model = Application
        fields = list(Application.EDITABLE_FIELDS)


class UsageForm(forms.Form):
    application = forms.ModelChoiceField(queryset=Application.objects.none())
    notes = forms.CharField(required=False, max_length=300)

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["application"].queryset = Application.objects.restrict(user)  # type: ignore[attr-defined]


class DatasetFlagsForm(forms.Form):
    flags = forms.MultipleChoiceField(choices=DatasetFlag.choices, required=False, widget=forms.CheckboxSelectMultiple)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class WatchForm(forms.Form):
    ref = forms.CharField(initial="main", max_length=200)


class DatasetForm(forms.ModelForm):
    class Meta:
        model = Dataset
        fields = ["license", "notes"]
