"""Use cases of organization memberships: grant, revoke, and re-sync those a directory owns.

Every change is audited. Memberships from a directory (OIDC groups, LDAP groups) are replaced as a
whole at each login by `sync_from_directory`; manual ones are never touched by a sync.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core.models import AuditAction
from core.permissions import require
from core.roles import ORGANIZATION_ROLES
from core.services import record_event
from identity.choices import MembershipSource
from identity.models import Membership
from inventory.models import Organization

MANAGE_PERMISSION = "identity.change_membership"


def _snapshot(m: Membership) -> dict[str, Any]:
    return {
        "organization": m.organization.slug,
        "user": m.user.get_username() if m.user_id and m.user else None,
        "group": m.group.name if m.group_id and m.group else None,
        "role": m.role,
        "source": m.source,
    }


def _check_role(role: str) -> None:
    if role not in ORGANIZATION_ROLES:
        allowed = ", ".join(ORGANIZATION_ROLES)
        raise ValidationError(f"'{role}' is not a role that can be held in an organization ({allowed}).")


@transaction.atomic
def grant(
    *,
    actor: Any,
    organization: Organization,
    role: str,
    user: Any = None,
    group: Any = None,
    source: str = MembershipSource.MANUAL,
    check: bool = True,
) -> Membership:
    """Give `user` (or `group`) `role` in `organization`; idempotent. `check=False` for directory syncs."""
    if check:
        require(actor, MANAGE_PERMISSION)
    _check_role(role)
    if (user is None) == (group is None):
        raise ValidationError("A membership is for a user or for a group.")
    membership, created = Membership.objects.get_or_create(
        organization=organization, role=role, user=user, group=group, defaults={"source": source, "granted_by": actor}
    )
    if created:
        record_event(actor=actor, action=AuditAction.MEMBERSHIP_GRANT, target=membership, after=_snapshot(membership))
    return membership


@transaction.atomic
def revoke(*, actor: Any, membership: Membership, reason: str = "", check: bool = True) -> None:
    if check:
        require(actor, MANAGE_PERMISSION)
    before = _snapshot(membership)
    record_event(actor=actor, action=AuditAction.MEMBERSHIP_REVOKE, target=membership, before=before, reason=reason)
    membership.delete()


@transaction.atomic
def sync_from_directory(*, user: Any, source: str, grants: Iterable[tuple[Organization, str]]) -> list[Membership]:
    """Make the user's `source` memberships exactly `grants` ((organization, role) pairs); audited per change.

    The actor of the audit events is the user itself (the directory asserted it at login).
    """
    wanted = {(org.pk, role) for org, role in grants}
    for _org_id, role in wanted:
        _check_role(role)
    current = list(Membership.objects.filter(user=user, source=source).select_related("organization", "user"))
    for m in current:
        if (m.organization_id, m.role) not in wanted:
            revoke(actor=user, membership=m, reason=f"no longer granted by {source}", check=False)
    have = {(m.organization_id, m.role) for m in current}
    orgs = {o.pk: o for o in Organization.objects.filter(pk__in=[o for o, _ in wanted])}
    for org_id, role in sorted(wanted - have):
        grant(actor=user, organization=orgs[org_id], role=role, user=user, source=source, check=False)
    return list(Membership.objects.filter(user=user, source=source).select_related("organization"))
