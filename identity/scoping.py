"""Where a user's permissions apply: global roles versus organization memberships.

A role held as a Django group (core.roles) is global. A role held through a `Membership` grants its
permissions (core.roles.ROLES, the single source of truth) inside the membership's organization and
every organization below it. This module answers both questions the access gate asks:

- which permissions the user holds at all (`membership_permissions`, used by `MembershipBackend`);
- where a permission applies (`resolve_scope`, registered with core.permissions as the scope
  resolver): None when a global role or superuser status grants it, otherwise an
  `OrganizationScope` with the organization ids (possibly empty).

Everything is computed once per user object — two queries: the user's memberships and the
organization tree — and cached on it, like Django's ModelBackend caches `_perm_cache`. A request's
`request.user` is one object, so a page pays those two queries once however many lists it restricts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.backends import ModelBackend

from core.permissions import OrganizationScope
from core.roles import ROLES
from identity.models import Membership
from inventory.models import Organization

_CACHE_ATTR = "_membership_scope_cache"
_global_backend = ModelBackend()


@dataclass
class MembershipGrants:
    """A user's memberships, resolved: permission → organization ids (subtrees expanded)."""

    perms: dict[str, frozenset[int]] = field(default_factory=dict)
    parents: dict[int, int | None] = field(default_factory=dict)
    _ancestors: dict[frozenset[int], frozenset[int]] = field(default_factory=dict)

    def ancestors_of(self, ids: frozenset[int]) -> frozenset[int]:
        """The organizations above `ids` (not themselves in `ids`)."""
        if ids not in self._ancestors:
            found: set[int] = set()
            for org_id in ids:
                node = self.parents.get(org_id)
                steps = 0
                while node is not None and node not in found and steps < 64:
                    found.add(node)
                    node = self.parents.get(node)
                    steps += 1
            self._ancestors[ids] = frozenset(found - ids)
        return self._ancestors[ids]


def _subtrees(roots: set[int], parents: dict[int, int | None]) -> dict[int, frozenset[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for org_id, parent_id in parents.items():
        if parent_id is not None:
            children[parent_id].append(org_id)
    out: dict[int, frozenset[int]] = {}
    for root in roots:
        seen = {root}
        frontier = [root]
        while frontier:
            frontier = [c for node in frontier for c in children.get(node, ()) if c not in seen]
            seen.update(frontier)
        out[root] = frozenset(seen)
    return out


def membership_grants(user: Any) -> MembershipGrants:
    """The user's membership grants (cached on the user object)."""
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    grants = MembershipGrants()
    if getattr(user, "is_authenticated", False) and user.is_active:
        held = list(Membership.objects.for_user(user).values_list("organization_id", "role"))
        if held:
            grants.parents = dict(Organization.objects.values_list("pk", "parent_id"))
            subtrees = _subtrees({org_id for org_id, _ in held}, grants.parents)
            by_perm: dict[str, set[int]] = defaultdict(set)
            for org_id, role in held:
                for perm in ROLES.get(role, []):
                    if perm != "*":  # administrator is never an organization role
                        by_perm[perm] |= subtrees[org_id]
            grants.perms = {perm: frozenset(ids) for perm, ids in by_perm.items()}
    setattr(user, _CACHE_ATTR, grants)
    return grants


def membership_permissions(user: Any) -> set[str]:
    """Every permission some membership of the user grants (somewhere)."""
    return set(membership_grants(user).perms)


def holds_globally(user: Any, perm: str) -> bool:
    """A role held as a Django group (or superuser status, or a direct user permission) grants `perm`."""
    return bool(user.is_superuser or perm in _global_backend.get_all_permissions(user))


def resolve_scope(user: Any, perm: str) -> OrganizationScope | None:
    """The scope resolver (core.permissions.register_scope_resolver): None = unrestricted."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None  # has_perm already said no
    if holds_globally(user, perm):
        return None
    grants = membership_grants(user)
    ids = grants.perms.get(perm, frozenset())
    return OrganizationScope(ids=ids, ancestor_ids=grants.ancestors_of(ids), user_id=user.pk)
