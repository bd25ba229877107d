"""The one access gate.

Every HTML view and API endpoint asks here: `require(user, perm)` for actions,
`Model.objects.restrict(user, action)` for reads. Roles (core/roles.py) are Django groups
holding model and custom permissions; nothing is allowed unless a role grants it.

Organization scope. A role held as a Django group is global. A role held through an organization
membership (identity.Membership) grants its permissions only inside that organization's subtree.
core does not know memberships: the identity app registers a *scope resolver*
(`register_scope_resolver`) that answers, for (user, permission), either None (unrestricted: a
global role, a superuser) or an `OrganizationScope` (the organizations where the permission holds).
Each model with a RestrictedQuerySet declares how its rows relate to organizations in a `SCOPE`
class attribute (see `ScopeRule`); a model that declares nothing shows no rows to a scoped user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import models
from rest_framework.permissions import BasePermission

from core.generation import TrackedQuerySet

if TYPE_CHECKING:
    from django.http import HttpRequest

_M = TypeVar("_M", bound=models.Model)

UserLike = "AbstractBaseUser | AnonymousUser"


def perm_name(model: type[models.Model], action: str) -> str:
    """`inventory.view_model` for (Model, "view"); a dotted name is returned unchanged."""
    if "." in action:
        return action
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


# --- organization scope ------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganizationScope:
    """Where a permission held only through memberships applies.

    `ids`: the organizations (subtrees expanded) where it holds; `ancestor_ids`: the organizations
    above them (inherited objects, e.g. policies, are readable there); `user_id`: the user, for rows
    owned by the user (`OwnedBy`).
    """

    ids: frozenset[int]
    ancestor_ids: frozenset[int] = frozenset()
    user_id: Any = None


@dataclass(frozen=True)
class Inherited:
    """Rule: rows owned (at `lookup`) by an ancestor of the scope, or by no one — every field in `root`
    empty — apply inside the scope: readable (view permissions) by scoped users, never editable."""

    lookup: str
    root: tuple[str, ...]


@dataclass(frozen=True)
class OwnedBy:
    """Rule: rows whose `lookup` (a user foreign key) is the user (e.g. an import job they requested)."""

    lookup: str


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# SCOPE = SHARED: one catalog for every organization (models, versions, the license catalog…): every
# row readable by whoever holds the view permission; changing a row needs the permission globally.
SHARED: Final = _Marker("SHARED")
# SCOPE = GLOBAL_ONLY: installation-wide records (audit log, webhooks): none for scoped users.
GLOBAL_ONLY: Final = _Marker("GLOBAL_ONLY")

# A lookup (str) from the model to an Organization foreign key ("application__organization"; "pk" on
# Organization itself), an Inherited or an OwnedBy rule. A model's SCOPE is a tuple of rules (OR-ed),
# SHARED or GLOBAL_ONLY.
ScopeRule = str | Inherited | OwnedBy
ScopeResolver = Callable[[Any, str], "OrganizationScope | None"]

_resolvers: list[ScopeResolver] = []


def register_scope_resolver(resolver: ScopeResolver) -> None:
    """Called once by the app that knows memberships (identity, in its AppConfig.ready())."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def organization_scope(user: Any, perm: str) -> OrganizationScope | None:
    """None when `perm` is unrestricted for this user; otherwise where it holds."""
    for resolver in _resolvers:
        scope = resolver(user, perm)
        if scope is not None:
            return scope
    return None


def _is_read(perm: str) -> bool:
    return perm.partition(".")[2].startswith("view_")


def scope_filter(model: type[models.Model], scope: OrganizationScope, perm: str) -> models.Q | None:
    """The rows of `model` inside `scope` for `perm` as a Q; None means every row (a shared read).

    Fails closed: a model without a SCOPE declaration gives no rows (an always-false Q).
    """
    declared = getattr(model, "SCOPE", None)
    nothing = models.Q(pk__in=[])
    if declared is SHARED:
        return None if _is_read(perm) else nothing
    if declared is None or declared is GLOBAL_ONLY or not isinstance(declared, tuple):
        return nothing
    q = nothing
    for rule in declared:
        if isinstance(rule, str):
            q |= models.Q(**{f"{rule}__in": scope.ids})
        elif isinstance(rule, OwnedBy):
            if scope.user_id is not None:
                q |= models.Q(**{rule.lookup: scope.user_id})
        elif isinstance(rule, Inherited) and _is_read(perm):
            q |= models.Q(**{f"{rule.lookup}__in": scope.ancestor_ids})
            q |= models.Q(**{f"{field}__isnull": True for field in rule.root})
    return q


def in_scope(user: Any, perm: str, obj: models.Model) -> bool:
    """Whether `obj` lies inside the organizations where the user holds `perm` (one query if scoped)."""
    scope = organization_scope(user, perm)
    if scope is None:
        return True
    model = obj._meta.concrete_model
    assert model is not None
    q = scope_filter(model, scope, perm)
    if q is None:
        return True
    return bool(obj.pk is not None and model._default_manager.filter(q, pk=obj.pk).exists())


# --- the gate ----------------------------------------------------------------------------------


def has_perm(user: Any, perm: str, obj: models.Model | None = None) -> bool:
    """The user holds `perm` (a global role or a membership); with `obj`, holds it where `obj` lies."""
    if not (user is not None and user.is_active and user.has_perm(perm)):
        return False
    return obj is None or in_scope(user, perm, obj)


def require(user: Any, perm: str, obj: models.Model | None = None) -> None:
    """Raise PermissionDenied unless the user holds `perm` (through a role or as superuser).

    With `obj`: also unless the permission holds in the organization `obj` belongs to (a membership
    role in one organization does not act on another organization's objects).
    """
    if not has_perm(user, perm):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")
    if obj is not None and not in_scope(user, perm, obj):
        raise PermissionDenied(f"Your role does not allow this here ({perm}): outside your organizations.")


def require_global(user: Any, perm: str) -> None:
    """For changes to what every organization shares (the license catalog, dataset flags): `perm` must
    come from a global role, not from a membership in one organization."""
    require(user, perm)
    if organization_scope(user, perm) is not None:
        raise PermissionDenied(f"Shared by every organization: a global role does this ({perm}).")


class RestrictedQuerySet(TrackedQuerySet[_M]):
    """Reads narrowed to what a user may see (`restrict`); writes tracked (core/generation.py)."""

    def restrict(self, user: Any, action: str = "view") -> Self:
        """Rows this user may see for `action` (model permission codename or dotted permission)."""
        perm = perm_name(self.model, action)
        if not has_perm(user, perm):
            return self.none()
        qs = self
        scope = organization_scope(user, perm)
        if scope is not None:
            q = scope_filter(self.model, scope, perm)
            if q is not None:
                qs = qs.filter(q)
        # A principal narrower than its role (a CI token's scope) filters the rows itself.
        narrow = getattr(user, "narrow_queryset", None)
        return narrow(qs) if narrow is not None else qs


class PermissionMixin:
    """Class-based views: declare `permission_required` (dotted) per view; checked before dispatch."""

    permission_required: str = ""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not self.permission_required:
            raise PermissionDenied("View declares no permission: denied by default.")
        require(request.user, self.permission_required)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


_METHOD_ACTIONS = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


class RolePermission(BasePermission):
    """DRF side of the same gate.

    A view may declare `permission_map = {"action_or_METHOD": "app.codename"}`; otherwise the
    permission is derived from its queryset's model and the HTTP method (view/add/change/delete).
    """

    message = "Your role does not allow this."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        perm = self.required(request, view)
        return perm is not None and has_perm(user, perm)

    @staticmethod
    def required(request: Any, view: Any) -> str | None:
        mapping: dict[str, str] = getattr(view, "permission_map", {}) or {}
        action = getattr(view, "action", None)
        if action and action in mapping:
            return mapping[action]
        if request.method in mapping:
            return mapping[request.method]
        queryset = getattr(view, "queryset", None)
        if queryset is None:
            return None  # nothing declared: deny by default
        verb = _METHOD_ACTIONS.get(request.method)
        return perm_name(queryset.model, verb) if verb else None
