"""Authentication backend that grants permissions from organization memberships.

It authenticates nobody (ModelBackend, OIDC, LDAP do that); it only answers `user.has_perm(p)`:
true when some membership's role grants `p`. *Where* the permission applies is narrowed by
core.permissions (the scope resolver in identity.scoping), not here.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend

from identity.scoping import membership_permissions


class MembershipBackend(BaseBackend):
    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if obj is not None or not user_obj.is_active or user_obj.is_anonymous:
            return set()
        return membership_permissions(user_obj)
