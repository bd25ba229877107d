"""Forms of the identity pages. They parse and present; the rules live in services."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from core.roles import ORGANIZATION_ROLES, ROLES
from identity.accounts import NewUser
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
        # Only where the user may create tokens (a membership role: inside its organizations).
        apps = Application.objects.restrict(user, "identity.add_citoken").select_related("organization")
        self.fields["application"].queryset = apps  # type: ignore[attr-defined]
        self.fields["organization"].queryset = Organization.objects.restrict(user, "identity.add_citoken")  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("application")) == bool(data.get("organization")):
            raise forms.ValidationError("Choose one application or one organization.")
        return data


class RevokeForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


# --- user and role management (identity/accounts.py) ------------------------------------------------


def _role_choices() -> list[tuple[str, str]]:
    return [(r, r.capitalize()) for r in ROLES]


ORGANIZATION_ROLE_CHOICES = [(r, r.capitalize()) for r in ORGANIZATION_ROLES]


class UserCreateForm(forms.Form):
    INVITE, PASSWORD = "invite", "password"

    username = forms.CharField(max_length=150)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False, help_text="Required for an invitation.")
    roles = forms.MultipleChoiceField(
        choices=_role_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Global roles",
        help_text="A global role applies in every organization.",
    )
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(), required=False, help_text="Optional: a role inside one organization…"
    )
    organization_role = forms.ChoiceField(
        choices=[("", "—"), *ORGANIZATION_ROLE_CHOICES], required=False, label="Role in that organization"
    )
    access = forms.ChoiceField(
        choices=[(INVITE, "Send an invitation email to choose a password"), (PASSWORD, "Set an initial password")],
        initial=INVITE,
        widget=forms.RadioSelect,
        label="Sign-in",
    )
    password1 = forms.CharField(
        label="Initial password", required=False, strip=False, widget=forms.PasswordInput(render_value=False)
    )
    password2 = forms.CharField(
        label="Initial password (again)", required=False, strip=False, widget=forms.PasswordInput(render_value=False)
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.restrict(user).order_by("name")  # type: ignore[attr-defined]
        self.fields["password1"].widget.attrs["autocomplete"] = "new-password"
        self.fields["password2"].widget.attrs["autocomplete"] = "new-password"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("access") == self.PASSWORD:
            if not data.get("password1"):
                self.add_error("password1", "Type the initial password, or send an invitation instead.")
            elif data.get("password1") != data.get("password2"):
                self.add_error("password2", "The two passwords differ.")
        return data

    def new_user(self) -> NewUser:
        d = self.cleaned_data
        return NewUser(
            username=d["username"],
            first_name=d["first_name"],
            last_name=d["last_name"],
            email=d["email"],
            password=d["password1"] if d["access"] == self.PASSWORD else None,
            roles=tuple(d["roles"]),
            organization=d.get("organization"),
            organization_role=d.get("organization_role") or "",
        )


class UserProfileForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)


class UserRolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        choices=_role_choices, required=False, widget=forms.CheckboxSelectMultiple, label="Global roles"
    )
    reason = forms.CharField(max_length=500, required=False)


class MembershipForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none())
    role = forms.ChoiceField(choices=ORGANIZATION_ROLE_CHOICES, label="Role in the organization")

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.restrict(user).order_by("name")  # type: ignore[attr-defined]


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


class TeamForm(forms.Form):
    name = forms.CharField(max_length=150, label="Team name")


class TeamMemberForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.none(), label="Add a member")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")  # type: ignore[attr-defined]
