"""Pages of user, role and team management for administrators (instead of /admin/).

Every view declares its permission (auth.view_user / auth.add_user / auth.change_user, and the group
permissions for teams), checked before dispatch for every method. The user's page is one page with
a section per form; each section is an inline partial that an htmx POST re-renders in place with its
errors (422, core.htmx.render_form_errors). A valid POST redirects (HX-Redirect for htmx), so the page
and its history are read again. Without JavaScript the same forms post and the full page answers.
"""

from __future__ import annotations

from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from core.htmx import render_form_errors
from core.http import HtmxHttpRequest
from core.models import AuditEvent
from core.permissions import PermissionMixin, has_perm
from core.roles import ROLES
from core.views import AUDIT_ROWS, paginate, partial_template
from identity import accounts, forms
from identity.filtersets import UserFilterSet
from identity.models import Membership
from inventory.models import Organization

DETAIL = "identity/users/user_detail.html"
TEAM_DETAIL = "identity/users/team_detail.html"


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _done(request: HttpRequest, url: str, message: str) -> HttpResponse:
    """Post/redirect/get; htmx follows with a full navigation (HX-Redirect), so the message shows."""
    messages.success(request, message)
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _add_errors(form: django_forms.Form, exc: ValidationError) -> None:
    """A service's ValidationError onto the form: per field where the form has the field."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        form.add_error(None, exc)


# --- users ---------------------------------------------------------------------------------------------


class UserListView(PermissionMixin, View):
    permission_required = accounts.VIEW_USERS

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        filterset = UserFilterSet(request.GET, queryset=accounts.users())
        filterset.form.fields["organization"].queryset = Organization.objects.restrict(request.user).order_by("name")  # type: ignore[attr-defined]
        page = paginate(request, filterset.qs)
        rows = [_row(u) for u in page.object_list]
        return render(
            request,
            partial_template(request, "identity/users/user_list.html", "results"),
            {
                "filterset": filterset,
                "page": page,
                "rows": rows,
                "can_add": has_perm(request.user, accounts.ADD_USER),
                "can_view_teams": has_perm(request.user, accounts.VIEW_TEAMS),
            },
        )


def _row(user: Any) -> dict[str, Any]:
    source = accounts.source_of(user)
    return {
        "user": user,
        "roles": accounts.global_roles(user),
        "memberships": list(user.memberships.all()),
        "team_memberships": [(t, m) for t in accounts.user_teams(user) for m in t.memberships.all()],
        "source": source,
        "source_label": accounts.SOURCE_LABELS[source],
    }


class UserCreateView(PermissionMixin, View):
    permission_required = accounts.ADD_USER
    template = "identity/users/user_form.html"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        return render(request, self.template, {"form": forms.UserCreateForm(user=request.user)})

    def post(self, request: HtmxHttpRequest) -> HttpResponse:
        form = forms.UserCreateForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                user = accounts.create_user(actor=request.user, data=form.new_user(), base_url=_base_url(request))
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                how = "an invitation was sent to " + user.email if not user.has_usable_password() else "password set"
                return _done(request, reverse("identity:user_detail", args=[user.pk]), f"Created {user} ({how}).")
        return render_form_errors(request, self.template, {"form": form}, form=form, partial="form")


def _detail_context(request: HttpRequest, user: Any, **bound: Any) -> dict[str, Any]:
    """Everything the user's page shows; `bound` replaces a section's fresh form with the posted one."""
    teams = accounts.user_teams(user)
    return {
        "subject": user,
        "row": _row(user),
        "is_self": user.pk == request.user.pk,
        "is_admin": accounts.is_administrator(user),
        "memberships": Membership.objects.filter(user=user).for_list(),
        "team_memberships": Membership.objects.filter(group__in=teams).for_list(),
        "teams": teams,
        "can_change": has_perm(request.user, accounts.CHANGE_USER),
        "profile_form": bound.get("profile_form")
        or forms.UserProfileForm(
            initial={"first_name": user.first_name, "last_name": user.last_name, "email": user.email}
        ),
        "roles_form": bound.get("roles_form") or forms.UserRolesForm(initial={"roles": accounts.global_roles(user)}),
        "membership_form": bound.get("membership_form") or forms.MembershipForm(user=request.user),
        "status_form": bound.get("status_form") or forms.ReasonForm(),
        "invite_form": bound.get("invite_form") or forms.ReasonForm(),
        "membership_error": bound.get("membership_error", ""),
        "events": _history(request, user, "user", user.get_username()),
        "directory_sources": accounts.DIRECTORY_SOURCES,
    }


def _history(request: HttpRequest, obj: Any, member_key: str, member_name: str) -> list[AuditEvent]:
    """The audit trail of a user or team: events about it, and about its organization memberships (whose
    rows may be gone: they are found by the snapshot's `user`/`group`)."""
    if not has_perm(request.user, "core.view_auditevent"):
        return []
    about_obj = Q(target_type=ContentType.objects.get_for_model(obj), target_id=str(obj.pk))
    about_memberships = Q(target_type=ContentType.objects.get_for_model(Membership)) & (
        Q(**{f"after__{member_key}": member_name}) | Q(**{f"before__{member_key}": member_name})
    )
    qs = AuditEvent.objects.restrict(request.user).filter(about_obj | about_memberships).select_related("actor")
    return list(qs[:AUDIT_ROWS])


def _subject(pk: int) -> Any:
    return get_object_or_404(accounts.users(), pk=pk)


class UserDetailView(PermissionMixin, View):
    permission_required = accounts.VIEW_USERS

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        return render(request, DETAIL, _detail_context(request, _subject(pk)))


class _UserFormView(PermissionMixin, View):
    """POST one section's form of the user's page; the service decides; errors re-render the section."""

    permission_required = accounts.CHANGE_USER
    form_class: type[django_forms.Form] = forms.ReasonForm
    context_key = ""
    partial = ""

    def make_form(self, request: HttpRequest) -> django_forms.Form:
        return self.form_class(request.POST)

    def act(self, request: HttpRequest, user: Any, data: dict[str, Any]) -> str:
        """Do it (through a service); return the success message."""
        raise NotImplementedError

    def post(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        user = _subject(pk)
        form = self.make_form(request)
        if form.is_valid():
            try:
                message = self.act(request, user, form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return _done(request, reverse("identity:user_detail", args=[user.pk]), message)
        ctx = _detail_context(request, _subject(pk), **{self.context_key: form})
        return render_form_errors(request, DETAIL, ctx, form=form, partial=self.partial)


class UserProfileView(_UserFormView):
    form_class = forms.UserProfileForm
    context_key, partial = "profile_form", "profile"

    def act(self, request: HttpRequest, user: Any, data: dict[str, Any]) -> str:
        accounts.update_user(actor=request.user, user=user, **data)
        return f"Saved {user.get_username()}."


class UserRolesView(_UserFormView):
    form_class = forms.UserRolesForm
    context_key, partial = "roles_form", "roles"

    def act(self, request: HttpRequest, user: Any, data: dict[str, Any]) -> str:
        user = accounts.set_roles(actor=request.user, user=user, roles=data["roles"], reason=data["reason"])
        roles = ", ".join(accounts.global_roles(user)) or "none"
        return f"Global roles of {user.get_username()}: {roles}."


class UserMembershipAddView(_UserFormView):
    form_class = forms.MembershipForm
    context_key, partial = "membership_form", "memberships"

    def make_form(self, request: HttpRequest) -> django_forms.Form:
        return forms.MembershipForm(request.POST, user=request.user)

    def act(self, request: HttpRequest, user: Any, data: dict[str, Any]) -> str:
        m = accounts.add_membership(actor=request.user, organization=data["organization"], role=data["role"], user=user)
        return f"{user.get_username()} is now {m.role} in {m.organization}."


class UserMembershipRemoveView(PermissionMixin, View):
    permission_required = accounts.CHANGE_USER

    def post(self, request: HtmxHttpRequest, pk: int, membership_pk: int) -> HttpResponse:
        user = _subject(pk)
        membership = get_object_or_404(Membership.objects.for_list(), pk=membership_pk, user=user)
        try:
            accounts.remove_membership(actor=request.user, membership=membership, reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            ctx = _detail_context(request, user, membership_error=" ".join(exc.messages))
            return render_form_errors(request, DETAIL, ctx, partial="memberships")
        return _done(
            request,
            reverse("identity:user_detail", args=[user.pk]),
            f"{user.get_username()} is no longer {membership.role} in {membership.organization}.",
        )


class UserDeactivateView(_UserFormView):
    context_key, partial = "status_form", "status"

    def act(self, request: HttpRequest, user: Any, data: dict[str, Any]) -> str:
        accounts.deactivate_user(actor=request.user, user=user, reason=data["reason"])
        return f"Deactivated {user.get_username()}: sessions ended, CI tokens and API key revoked."


class UserActivateView(_UserFormView):
    context_key, partial = "status_form", "status"

    def act(self, request: HttpRequest, user: Any, data: dict[str, Any]) -> str:
        accounts.activate_user(actor=request.user, user=user, reason=data["reason"])
        return f"Reactivated {user.get_username()}."


class UserInviteView(_UserFormView):
    context_key, partial = "invite_form", "status"

    def act(self, request: HttpRequest, user: Any, data: dict[str, Any]) -> str:
        accounts.invite_user(actor=request.user, user=user, base_url=_base_url(request))
        return f"Invitation sent to {user.email}."


# --- teams (Django groups that are not roles) ---------------------------------------------------------


class TeamListView(PermissionMixin, View):
    permission_required = accounts.VIEW_TEAMS
    template = "identity/users/team_list.html"

    @staticmethod
    def context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
        return {
            "teams": accounts.teams()
            .annotate(member_count=Count("user", distinct=True))
            .prefetch_related("memberships__organization"),
            "form": extra.pop("form", None) or forms.TeamForm(),
            "can_add": has_perm(request.user, accounts.ADD_TEAM),
            "roles": list(ROLES),
            **extra,
        }

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        return render(request, self.template, self.context(request))


class TeamCreateView(PermissionMixin, View):
    permission_required = accounts.ADD_TEAM

    def post(self, request: HtmxHttpRequest) -> HttpResponse:
        form = forms.TeamForm(request.POST)
        if form.is_valid():
            try:
                team = accounts.create_team(actor=request.user, name=form.cleaned_data["name"])
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return _done(request, reverse("identity:team_detail", args=[team.pk]), f"Created team {team.name}.")
        return render_form_errors(request, TeamListView.template, TeamListView.context(request, form=form), form=form)


def _team(pk: int) -> Group:
    return get_object_or_404(accounts.teams(), pk=pk)


def _team_context(request: HttpRequest, team: Group, **bound: Any) -> dict[str, Any]:
    return {
        "team": team,
        "members": team.user_set.order_by("username"),
        "memberships": Membership.objects.filter(group=team).for_list(),
        "member_form": bound.get("member_form") or forms.TeamMemberForm(),
        "membership_form": bound.get("membership_form") or forms.MembershipForm(user=request.user),
        "error": bound.get("error", ""),
        "can_change": has_perm(request.user, accounts.CHANGE_TEAM),
        "events": _history(request, team, "group", team.name),
    }


class TeamDetailView(PermissionMixin, View):
    permission_required = accounts.VIEW_TEAMS

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        return render(request, TEAM_DETAIL, _team_context(request, _team(pk)))


class TeamMemberAddView(PermissionMixin, View):
    permission_required = accounts.CHANGE_TEAM

    def post(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        team = _team(pk)
        form = forms.TeamMemberForm(request.POST)
        if form.is_valid():
            try:
                accounts.add_team_member(actor=request.user, team=team, user=form.cleaned_data["user"])
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                who = form.cleaned_data["user"].get_username()
                return _done(request, reverse("identity:team_detail", args=[team.pk]), f"Added {who} to {team.name}.")
        return render_form_errors(request, TEAM_DETAIL, _team_context(request, team, member_form=form), form=form)


class TeamMemberRemoveView(PermissionMixin, View):
    permission_required = accounts.CHANGE_TEAM

    def post(self, request: HtmxHttpRequest, pk: int, user_pk: int) -> HttpResponse:
        team = _team(pk)
        user = get_object_or_404(get_user_model().objects.all(), pk=user_pk)
        try:
            accounts.remove_team_member(actor=request.user, team=team, user=user)
        except ValidationError as exc:
            return render_form_errors(request, TEAM_DETAIL, _team_context(request, team, error=" ".join(exc.messages)))
        return _done(
            request, reverse("identity:team_detail", args=[team.pk]), f"Removed {user.get_username()} from {team.name}."
        )


class TeamMembershipAddView(PermissionMixin, View):
    permission_required = accounts.CHANGE_TEAM

    def post(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        team = _team(pk)
        form = forms.MembershipForm(request.POST, user=request.user)
        if form.is_valid():
            d = form.cleaned_data
            try:
                accounts.add_membership(actor=request.user, organization=d["organization"], role=d["role"], team=team)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return _done(
                    request,
                    reverse("identity:team_detail", args=[team.pk]),
                    f"Team {team.name} is now {d['role']} in {d['organization']}.",
                )
        return render_form_errors(request, TEAM_DETAIL, _team_context(request, team, membership_form=form), form=form)


class TeamMembershipRemoveView(PermissionMixin, View):
    permission_required = accounts.CHANGE_TEAM

    def post(self, request: HtmxHttpRequest, pk: int, membership_pk: int) -> HttpResponse:
        team = _team(pk)
        membership = get_object_or_404(Membership.objects.for_list(), pk=membership_pk, group=team)
        try:
            accounts.remove_membership(actor=request.user, membership=membership, reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            return render_form_errors(request, TEAM_DETAIL, _team_context(request, team, error=" ".join(exc.messages)))
        return _done(
            request,
            reverse("identity:team_detail", args=[team.pk]),
            f"Team {team.name} is no longer {membership.role} in {membership.organization}.",
        )
