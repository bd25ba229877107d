"""Logins asserted by a directory (an OpenID Connect provider or an LDAP server): one path for both.

A directory tells who the user is (a stable subject, a username, names, email) and which groups the user
is in. `login_from_directory` turns that into a Modelgate user:

- *just in time*: the first login creates the user (audited USER_CREATE); later logins find it again by
  its subject, whatever its name or email became, and update names and email;
- *roles from groups*: a group map (`MODELGATE_OIDC_GROUP_MAP`, `MODELGATE_LDAP_GROUP_MAP`, syntax in
  `parse_group_map`) grants global roles (Django groups of core.roles) and organization memberships
  (identity.memberships.sync_from_directory). Both are re-synced at every login: a group that is gone
  takes its roles with it. Only the global roles the directory granted are ever removed (tracked on
  `DirectoryAccount.granted_roles`); roles given in the app stay.
- a user whose groups map to nothing is refused (`LoginRefused`, with a message for the login page),
  unless unmapped users are allowed; then it is created without roles.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import checks
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.models import AuditAction
from core.roles import ORGANIZATION_ROLES, ROLES
from core.services import record_event
from identity import accounts, memberships
from identity.models import DirectoryAccount
from inventory.models import Organization

logger = logging.getLogger(__name__)

USERNAME_MAX = 150
SUBJECT_MAX = 255  # DirectoryAccount.subject / issuer
EMAIL_MAX = 254  # User.email
GROUPS_MAX = 1000  # groups the account keeps from one login (a directory may list thousands)
GROUP_NAME_MAX = 512
_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]+")


class LoginRefused(Exception):
    """The directory vouched for the user, but Modelgate will not let it in; the message is for the user."""


# --- the group map ---------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class RoleGrant:
    """A global role (`organization` empty) or a role inside one organization (by slug)."""

    role: str
    organization: str = ""

    def __str__(self) -> str:
        return f"{self.role}@{self.organization}" if self.organization else self.role


@dataclass(frozen=True)
class GroupMap:
    """Directory group (compared case-insensitively) → what it grants."""

    entries: Mapping[str, tuple[RoleGrant, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def grants_for(self, groups: Iterable[str]) -> set[RoleGrant]:
        found: set[RoleGrant] = set()
        for group in groups:
            found.update(self.entries.get(group.strip().casefold(), ()))
        return found


def _parse_target(group: str, target: str) -> RoleGrant:
    role, _, org = (part.strip() for part in target.strip().partition("@"))
    if org:
        if role not in ORGANIZATION_ROLES:
            allowed = ", ".join(ORGANIZATION_ROLES)
            raise ValueError(f"group '{group}': '{role}' cannot be held in an organization (one of: {allowed})")
        if not re.fullmatch(r"[-a-zA-Z0-9_]+", org):
            raise ValueError(f"group '{group}': '{org}' is not an organization slug")
        return RoleGrant(role, org)
    if role not in ROLES:
        raise ValueError(f"group '{group}': unknown role '{role}' (one of: {', '.join(ROLES)})")
    return RoleGrant(role)


def parse_group_map(text: str) -> GroupMap:
    """Parse a group map; raise ValueError naming the faulty entry.

    Two spellings:

    - entries `idp-group=role` or `idp-group=role@org-slug`, separated by `;` or new lines; a group may
      appear in several entries. The group name is everything before the LAST `=`, so LDAP DNs work:
      `cn=ml-admins,ou=groups,dc=example,dc=org=administrator`.
    - a JSON object: `{"idp-group": "role", "other-group": ["architect@acme", "manager@acme"]}`.

    `role` alone is a global role (administrator, architect, legal reviewer, security reviewer, manager);
    `role@org-slug` is that role inside the organization with that slug (and the organizations below it).
    """
    text = text.strip()
    pairs: list[tuple[str, str]] = []
    if not text:
        return GroupMap()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("the JSON group map must be an object")
        for group, targets in data.items():
            listed = [targets] if isinstance(targets, str) else targets
            for target in listed if isinstance(listed, list) else [listed]:
                if not isinstance(target, str):
                    raise ValueError(f"group '{group}': roles must be strings")
                pairs.append((group, target))
    else:
        for entry in re.split(r"[;\n]", text):
            if not entry.strip():
                continue
            group, sep, target = entry.rpartition("=")
            if not sep or not group.strip() or not target.strip():
                raise ValueError(f"entry '{entry.strip()}' is not of the form group=role or group=role@org-slug")
            pairs.append((group, target))
    entries: dict[str, list[RoleGrant]] = {}
    for group, target in pairs:
        group = group.strip()
        grant = _parse_target(group, target)
        bucket = entries.setdefault(group.casefold(), [])
        if grant not in bucket:
            bucket.append(grant)
    return GroupMap({g: tuple(v) for g, v in entries.items()})


def load_group_map(setting_name: str, text: str) -> GroupMap:
    try:
        return parse_group_map(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{setting_name}: {exc}") from exc


# --- the login -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryIdentity:
    """What a directory asserted about a user at login."""

    source: str  # identity.choices.MembershipSource value
    issuer: str
    subject: str
    username: str
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    groups: tuple[str, ...] = ()

    def checked(self) -> DirectoryIdentity:
        """The identity with what the directory sent bounded to what we store (untrusted input).

        A subject or issuer longer than its column is refused (it identifies the account: never cut it);
        an email that is not one, or is too long, is dropped. (All groups are mapped; the account keeps
        at most GROUPS_MAX of them for display.)
        """
        if not self.subject or len(self.subject) > SUBJECT_MAX or len(self.issuer) > SUBJECT_MAX:
            raise LoginRefused("The identity provider sent a user identifier Modelgate cannot store.")
        email = self.email.strip()
        try:
            validate_email(email)
        except ValidationError:
            email = ""
        return replace(self, email=email if len(email) <= EMAIL_MAX else "")


def safe_username(wanted: str, *, exclude_pk: Any = None) -> str:
    """`wanted` made a valid Django username, with -2, -3, … appended while another user holds it."""
    user_model = get_user_model()
    base = _USERNAME_UNSAFE.sub("-", wanted.strip()).strip("-") or "user"
    base = base[:USERNAME_MAX]
    candidate, n = base, 1
    taken = user_model.objects.exclude(pk=exclude_pk) if exclude_pk is not None else user_model.objects.all()
    while taken.filter(username__iexact=candidate).exists():
        n += 1
        suffix = f"-{n}"
        candidate = base[: USERNAME_MAX - len(suffix)] + suffix
    return candidate


def _user_snapshot(user: Any) -> dict[str, Any]:
    return {
        "username": user.get_username(),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
    }


def _invited_user(email: str) -> Any:
    """An account an administrator prepared for this person: same email, no password, not linked yet."""
    if not email:
        return None
    candidates = [
        u
        for u in get_user_model().objects.filter(email__iexact=email, is_superuser=False, directory_accounts=None)
        if not u.has_usable_password()
    ]
    return candidates[0] if len(candidates) == 1 else None


def _sync_global_roles(user: Any, account: DirectoryAccount, wanted: set[str]) -> None:
    """Global roles granted by this directory become exactly `wanted`; roles given in the app are kept."""
    held = set(user.groups.values_list("name", flat=True))
    granted = set(account.granted_roles)
    to_add = wanted - held
    to_remove = (granted - wanted) & held
    if to_add or to_remove:
        before = accounts.snapshot(user)  # the same event shape as role changes made in the app
        if to_add:
            user.groups.add(*Group.objects.filter(name__in=to_add))
        if to_remove:
            user.groups.remove(*Group.objects.filter(name__in=to_remove))
        record_event(
            actor=user,
            action=AuditAction.USER_ROLES,
            target=user,
            before=before,
            after=accounts.snapshot(user),
            reason=f"groups at {account.source} login",
        )
    # A role the user already held from the app stays the app's, not the directory's.
    account.granted_roles = sorted((granted & wanted) | to_add)


def _resolve(grants: set[RoleGrant]) -> tuple[set[str], list[tuple[Organization, str]]]:
    global_roles = {g.role for g in grants if not g.organization}
    slugs = {g.organization for g in grants if g.organization}
    orgs = {o.slug: o for o in Organization.objects.filter(slug__in=slugs)}
    for missing in sorted(slugs - set(orgs)):
        logger.warning("group map names organization '%s', which does not exist; ignored", missing)
    org_grants = sorted(
        ((orgs[g.organization], g.role) for g in grants if g.organization in orgs), key=lambda p: (p[0].pk, p[1])
    )
    return global_roles, org_grants


def login_from_directory(
    identity: DirectoryIdentity, *, group_map: GroupMap, allow_unmapped: bool, provider: str
) -> Any:
    """The user `identity` is, created or updated, its roles re-synced from its groups; audited.

    Raises LoginRefused (after taking away what the directory no longer grants) when the groups grant
    nothing and unmapped users are not allowed, or when the account was deactivated in Modelgate.
    Two first sign-ins of one person at once (two tabs): the second finds the account the first made.
    """
    identity = identity.checked()
    try:
        return _login(identity, group_map=group_map, allow_unmapped=allow_unmapped, provider=provider)
    except IntegrityError:
        return _login(identity, group_map=group_map, allow_unmapped=allow_unmapped, provider=provider)


def _login(identity: DirectoryIdentity, *, group_map: GroupMap, allow_unmapped: bool, provider: str) -> Any:
    with transaction.atomic():
        global_roles, org_grants = _resolve(group_map.grants_for(identity.groups))
        has_grants = bool(global_roles or org_grants)
        account = (
            DirectoryAccount.objects.select_related("user")
            .filter(source=identity.source, issuer=identity.issuer, subject=identity.subject)
            .first()
        )
        if account is None and not has_grants and not allow_unmapped:
            raise LoginRefused(_unmapped_message(provider))
        user_model = get_user_model()
        created = False
        if account is None:
            user = _invited_user(identity.email)
            if user is None:
                user = user_model(username=safe_username(identity.username))
                user.set_unusable_password()  # signs in through the directory only
                created = True
            account = DirectoryAccount(user=user, source=identity.source, issuer=identity.issuer)
        else:
            user = account.user
        before = None if created else _user_snapshot(user)
        user.email = identity.email or user.email
        user.first_name = identity.first_name[:150] or user.first_name
        user.last_name = identity.last_name[:150] or user.last_name
        if created or user.is_active:
            user.save()
        if created:
            record_event(
                actor=user,
                action=AuditAction.USER_CREATE,
                target=user,
                after={**accounts.snapshot(user), "source": identity.source},
                reason=f"first sign-in through {provider}",
            )
        account.user = user
        account.subject = identity.subject
        account.groups = sorted(g[:GROUP_NAME_MAX] for g in identity.groups)[:GROUPS_MAX]
        account.last_login_at = timezone.now()
        if not user.is_active:
            account.save()
            refusal = "Your Modelgate account is deactivated. Ask a Modelgate administrator to reactivate it."
        else:
            _sync_global_roles(user, account, global_roles)
            account.save()
            synced = memberships.sync_from_directory(user=user, source=identity.source, grants=org_grants)
            refusal = "" if has_grants or allow_unmapped else _unmapped_message(provider)
            after = _user_snapshot(user)
            record_event(
                actor=user,
                action=AuditAction.USER_SSO_LOGIN,
                target=user,
                before=before if before and before != after else None,
                after={
                    **after,
                    "source": identity.source,
                    "groups": account.groups,
                    "roles": account.granted_roles,
                    "memberships": [f"{m.role}@{m.organization.slug}" for m in synced],
                },
                reason="refused: no mapped group" if refusal else "",
            )
    if refusal:
        raise LoginRefused(refusal)
    return user


def _unmapped_message(provider: str) -> str:
    return (
        f"{provider} signed you in, but none of your groups there gives a role in Modelgate. "
        "Ask your Modelgate administrator to add you to a group that does."
    )


@checks.register(checks.Tags.security)
def check_group_maps(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """`manage.py check` (and every start) reports a group map that does not parse."""
    errors: list[checks.CheckMessage] = []
    for name in ("MODELGATE_OIDC_GROUP_MAP", "MODELGATE_LDAP_GROUP_MAP"):
        try:
            parse_group_map(getattr(settings, name))
        except ValueError as exc:
            errors.append(checks.Error(f"{name}: {exc}", id="identity.E001"))
    return errors
