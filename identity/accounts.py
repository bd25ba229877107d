"""Use cases of user and role management by administrators (the app's own pages, not /admin/).

Every change is audited in the transaction that makes it, with before/after snapshots. Guards that
keep the platform administrable live here, not in views or forms:

- an administrator cannot remove their own administrator role, nor deactivate themselves;
- the last active administrator (administrator role or superuser) cannot lose the role or be
  deactivated. The administrator role's group row is locked while this is decided, so two
  administrators demoting each other at the same moment cannot both succeed.

Deactivating a user ends their sessions, revokes their CI tokens and deletes their legacy API key
(DRF authtoken), so nothing they started keeps working. Reactivating gives none of these back.

Teams are Django groups that are not roles: a team's members hold the team's organization memberships.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token

from core.models import AuditAction
from core.permissions import require
from core.roles import ADMINISTRATOR, ROLES
from core.services import record_event
from identity import memberships
from identity.choices import MembershipSource
from identity.models import CIToken, Membership
from inventory.models import Organization

VIEW_USERS = "auth.view_user"
ADD_USER = "auth.add_user"
CHANGE_USER = "auth.change_user"
VIEW_TEAMS = "auth.view_group"
ADD_TEAM = "auth.add_group"
CHANGE_TEAM = "auth.change_group"

DIRECTORY_SOURCES = (MembershipSource.OIDC.value, MembershipSource.LDAP.value)
DB_SESSION_ENGINES = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")


# --- reads ---------------------------------------------------------------------------------------------


def users() -> QuerySet[Any]:
    """Every user, with what the list and the user's page show (roles, memberships) prefetched."""
    return (
        get_user_model()
        .objects.prefetch_related("groups__memberships__organization", "memberships__organization")
        .order_by("username")
    )


def teams() -> QuerySet[Group]:
    """Django groups that are not roles."""
    return Group.objects.exclude(name__in=list(ROLES)).order_by("name")


def global_roles(user: Any) -> list[str]:
    """The user's roles held as Django groups (global: every organization), in ROLES order."""
    names = {g.name for g in user.groups.all()}
    return [r for r in ROLES if r in names]


def user_teams(user: Any) -> list[Group]:
    return [g for g in user.groups.all() if g.name not in ROLES]


def source_of(user: Any) -> str:
    """How the user signs in, for the list: a local password, or a directory (OIDC/LDAP), or not yet.

    A usable password means local sign-in. Without one, the directory that owns the user's memberships
    names the source; an invited user who has not chosen a password yet is "invited".
    """
    if user.has_usable_password():
        return "local"
    sources = {m.source for m in user.memberships.all()} - {MembershipSource.MANUAL}
    if MembershipSource.OIDC in sources:
        return "oidc"
    if MembershipSource.LDAP in sources:
        return "ldap"
    return "invited" if user.last_login is None else "external"


SOURCE_LABELS = {
    "local": "Local",
    "oidc": "OIDC",
    "ldap": "LDAP",
    "invited": "Invited (no password yet)",
    "external": "Single sign-on",
}


def active_administrators() -> QuerySet[Any]:
    return (
        get_user_model().objects.filter(Q(groups__name=ADMINISTRATOR) | Q(is_superuser=True), is_active=True).distinct()
    )


def is_administrator(user: Any) -> bool:
    return bool(user.is_superuser or any(g.name == ADMINISTRATOR for g in user.groups.all()))


def snapshot(user: Any) -> dict[str, Any]:
    return {
        "username": user.get_username(),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": user.is_active,
        "roles": global_roles(user),
        "teams": sorted(g.name for g in user_teams(user)),
    }


# --- guards ----------------------------------------------------------------------------------------------


def _lock_administrators() -> None:
    """Serialize decisions about who stays administrator (row lock on the role's group)."""
    list(Group.objects.select_for_update().filter(name=ADMINISTRATOR))


def _would_leave_no_administrator(user: Any) -> bool:
    """True when `user` is an active administrator and nobody else is."""
    return not active_administrators().exclude(pk=user.pk).exists()


# --- users -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewUser:
    username: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    password: str | None = None  # None: send an invitation instead
    roles: tuple[str, ...] = ()
    organization: Organization | None = None
    organization_role: str = ""


def _clean_roles(names: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in ROLES]
    if unknown:
        raise ValidationError({"roles": f"Unknown role(s): {', '.join(unknown)}."})
    return wanted


def create_user(*, actor: Any, data: NewUser, base_url: str) -> Any:
    """A new user with an initial password (validated) or an invitation by email; roles and a membership.

    `base_url` ("https://host") builds the invitation link. If the email cannot be sent nothing is
    created: the administrator sees the error and can try again.
    """
    require(actor, ADD_USER)
    user_model = get_user_model()
    username = data.username.strip()
    errors: dict[str, list[str]] = {}
    if not username:
        errors.setdefault("username", []).append("A username is required.")
    elif user_model.objects.filter(username__iexact=username).exists():
        errors.setdefault("username", []).append("A user with that username already exists.")
    else:
        try:
            user_model._meta.get_field("username").run_validators(username)
        except ValidationError as exc:
            errors.setdefault("username", []).extend(exc.messages)
    if data.password is None and not data.email:
        errors.setdefault("email", []).append("An invitation needs an email address.")
    if bool(data.organization) != bool(data.organization_role):
        errors.setdefault("organization_role", []).append("Choose both an organization and a role in it, or neither.")
    roles = _clean_roles(data.roles)
    user = user_model(username=username, first_name=data.first_name, last_name=data.last_name, email=data.email)
    if data.password is not None:
        try:
            password_validation.validate_password(data.password, user)
        except ValidationError as exc:
            errors.setdefault("password1", []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        if data.password is None:
            user.set_unusable_password()
        else:
            user.set_password(data.password)
        user.save()
        if roles:
            user.groups.set(Group.objects.filter(name__in=roles))
        record_event(
            actor=actor,
            action=AuditAction.USER_CREATE,
            target=user,
            after=snapshot(user) | {"password": "set" if data.password is not None else "invitation"},
        )
        if data.organization is not None:
            memberships.grant(actor=actor, organization=data.organization, role=data.organization_role, user=user)
        if data.password is None:
            _send_invitation(actor=actor, user=user, base_url=base_url)
    return user


def invitation_link(user: Any, base_url: str) -> str:
    """A one-time link to Django's password reset confirm view (valid PASSWORD_RESET_TIMEOUT seconds,
    and only until the password or last login changes)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return base_url.rstrip("/") + reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


def _send_invitation(*, actor: Any, user: Any, base_url: str) -> None:
    context = {
        "user": user,
        "inviter": actor,
        "link": invitation_link(user, base_url),
        "site": base_url.rstrip("/"),
        "days": max(1, round(settings.PASSWORD_RESET_TIMEOUT / 86400)),
    }
    subject = render_to_string("identity/users/invitation_subject.txt", context).strip()
    body = render_to_string("identity/users/invitation_email.txt", context)
    try:
        send_mail(subject, body, None, [user.email])
    except OSError as exc:  # SMTP refused, host unreachable: undo the change, say why
        raise ValidationError(f"The invitation email could not be sent ({exc}); nothing was changed.") from exc
    record_event(actor=actor, action=AuditAction.USER_INVITE, target=user, after={"email": user.email})


def invite_user(*, actor: Any, user: Any, base_url: str) -> None:
    """(Re)send the invitation: a fresh one-time link to choose a password. Earlier links keep working
    until one of them is used (they all become invalid when the password changes)."""
    require(actor, CHANGE_USER)
    if not user.email:
        raise ValidationError("This user has no email address: add one first.")
    if not user.is_active:
        raise ValidationError("This user is deactivated: reactivate them first.")
    with transaction.atomic():
        _send_invitation(actor=actor, user=user, base_url=base_url)


def update_user(*, actor: Any, user: Any, first_name: str, last_name: str, email: str) -> Any:
    require(actor, CHANGE_USER)
    with transaction.atomic():
        user = users().select_for_update().get(pk=user.pk)
        before = snapshot(user)
        user.first_name, user.last_name, user.email = first_name.strip(), last_name.strip(), email.strip()
        if before == snapshot(user):
            return user
        user.save(update_fields=["first_name", "last_name", "email"])
        record_event(actor=actor, action=AuditAction.USER_UPDATE, target=user, before=before, after=snapshot(user))
    return user


def set_roles(*, actor: Any, user: Any, roles: Iterable[str], reason: str = "") -> Any:
    """Make the user's global roles exactly `roles` (teams are left alone)."""
    require(actor, CHANGE_USER)
    wanted = _clean_roles(roles)
    with transaction.atomic():
        _lock_administrators()
        user = users().get(pk=user.pk)
        before = snapshot(user)
        if before["roles"] == [r for r in ROLES if r in wanted]:
            return user
        losing_admin = ADMINISTRATOR in before["roles"] and ADMINISTRATOR not in wanted
        if losing_admin and user.pk == actor.pk:
            raise ValidationError({"roles": "You cannot remove your own administrator role."})
        if losing_admin and user.is_active and not user.is_superuser and _would_leave_no_administrator(user):
            raise ValidationError({"roles": "This is the last active administrator: make someone else one first."})
        keep = [g for g in user.groups.all() if g.name not in ROLES]
        user.groups.set([*keep, *Group.objects.filter(name__in=wanted)])
        user = users().get(pk=user.pk)
        record_event(
            actor=actor, action=AuditAction.USER_ROLES, target=user, reason=reason, before=before, after=snapshot(user)
        )
    return user


def _end_sessions(user: Any) -> int:
    """Delete the user's sessions (database-backed engines); returns how many.

    With other engines the sessions die anyway: Django refuses an inactive user on every request.
    """
    if settings.SESSION_ENGINE not in DB_SESSION_ENGINES:
        return 0
    store = import_module(settings.SESSION_ENGINE).SessionStore
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            store(session_key=session.session_key).delete()  # the cache too, for cached_db
            ended += 1
    return ended


def deactivate_user(*, actor: Any, user: Any, reason: str = "") -> Any:
    """Deactivate: no more sign-in, sessions ended, CI tokens revoked, legacy API key deleted."""
    require(actor, CHANGE_USER)
    with transaction.atomic():
        _lock_administrators()
        user = users().select_for_update().get(pk=user.pk)
        if not user.is_active:
            raise ValidationError("This user is already deactivated.")
        if user.pk == actor.pk:
            raise ValidationError("You cannot deactivate yourself.")
        if is_administrator(user) and _would_leave_no_administrator(user):
            raise ValidationError("This is the last active administrator: make someone else one first.")
        before = snapshot(user)
        user.is_active = False
        user.save(update_fields=["is_active"])
        now = timezone.now()
        revoked = []
        for token in CIToken.objects.select_for_update().filter(created_by=user).active():
            token_before = {"prefix": token.prefix, "revoked_at": None}
            token.revoked_at, token.revoked_by = now, actor
            token.save(update_fields=["revoked_at", "revoked_by"])
            record_event(
                actor=actor,
                action=AuditAction.CITOKEN_REVOKE,
                target=token,
                reason=f"creator {user.get_username()} deactivated",
                before=token_before,
                after={"prefix": token.prefix, "revoked_at": now.isoformat()},
            )
            revoked.append(token.prefix)
        api_keys, _ = Token.objects.filter(user=user).delete()
        sessions = _end_sessions(user)
        record_event(
            actor=actor,
            action=AuditAction.USER_DEACTIVATE,
            target=user,
            reason=reason,
            before=before,
            after=snapshot(user),
            extra={"ci_tokens_revoked": revoked, "api_keys_deleted": api_keys, "sessions_ended": sessions},
        )
    return user


def activate_user(*, actor: Any, user: Any, reason: str = "") -> Any:
    """Reactivate. Revoked CI tokens and the deleted API key stay gone."""
    require(actor, CHANGE_USER)
    with transaction.atomic():
        user = users().select_for_update().get(pk=user.pk)
        if user.is_active:
            raise ValidationError("This user is already active.")
        before = snapshot(user)
        user.is_active = True
        user.save(update_fields=["is_active"])
        record_event(
            actor=actor,
            action=AuditAction.USER_ACTIVATE,
            target=user,
            reason=reason,
            before=before,
            after=snapshot(user),
        )
    return user


# --- organization memberships (of a user or a team) ------------------------------------------------------


def add_membership(
    *, actor: Any, organization: Organization, role: str, user: Any = None, team: Group | None = None
) -> Membership:
    require(actor, CHANGE_TEAM if team is not None else CHANGE_USER)
    if team is not None and team.name in ROLES:
        raise ValidationError("A role is global: give organization memberships to users or teams.")
    if Membership.objects.filter(organization=organization, role=role, user=user, group=team).exists():
        raise ValidationError(f"Already {role} in {organization}.")
    return memberships.grant(actor=actor, organization=organization, role=role, user=user, group=team)


def remove_membership(*, actor: Any, membership: Membership, reason: str = "") -> None:
    """Remove a manual membership. Directory memberships come back at the next login: change them there."""
    require(actor, CHANGE_TEAM if membership.group_id else CHANGE_USER)
    if membership.source != MembershipSource.MANUAL:
        raise ValidationError(
            f"This membership comes from {membership.get_source_display().split(' (')[0].lower()} and is re-synced "
            "at each login: change the user's groups in the directory, or deactivate the user."
        )
    memberships.revoke(actor=actor, membership=membership, reason=reason)


# --- teams -----------------------------------------------------------------------------------------------


def _team_snapshot(team: Group) -> dict[str, Any]:
    return {"name": team.name, "members": sorted(team.user_set.values_list("username", flat=True))}


def create_team(*, actor: Any, name: str) -> Group:
    require(actor, ADD_TEAM)
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the team."})
    if name.lower() in {r.lower() for r in ROLES}:
        raise ValidationError({"name": "That is the name of a role: choose another."})
    if Group.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": "A team or role with that name already exists."})
    with transaction.atomic():
        team = Group.objects.create(name=name)
        record_event(actor=actor, action=AuditAction.TEAM_CREATE, target=team, after=_team_snapshot(team))
    return team


def _check_team(team: Group) -> None:
    if team.name in ROLES:
        raise ValidationError("That is a role, not a team: assign roles on the user's page.")


def add_team_member(*, actor: Any, team: Group, user: Any) -> None:
    require(actor, CHANGE_TEAM)
    _check_team(team)
    with transaction.atomic():
        before = _team_snapshot(team)
        if user.get_username() in before["members"]:
            raise ValidationError({"user": f"{user.get_username()} is already a member."})
        team.user_set.add(user)
        record_event(
            actor=actor, action=AuditAction.TEAM_MEMBERS, target=team, before=before, after=_team_snapshot(team)
        )


def remove_team_member(*, actor: Any, team: Group, user: Any) -> None:
    require(actor, CHANGE_TEAM)
    _check_team(team)
    with transaction.atomic():
        before = _team_snapshot(team)
        if user.get_username() not in before["members"]:
            raise ValidationError(f"{user.get_username()} is not a member.")
        team.user_set.remove(user)
        record_event(
            actor=actor, action=AuditAction.TEAM_MEMBERS, target=team, before=before, after=_team_snapshot(team)
        )
