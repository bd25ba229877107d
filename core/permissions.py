"""The one access gate.

Every HTML view and API endpoint asks here: `require(user, perm)` for actions,
`Model.objects.restrict(user, action)` for reads. Roles (governance/roles.py) are Django groups
holding model and custom permissions; nothing is allowed unless a role grants it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import models
from rest_framework.permissions import BasePermission

if TYPE_CHECKING:
    from django.http import HttpRequest

_M = TypeVar("_M", bound=models.Model)

UserLike = "AbstractBaseUser | AnonymousUser"


def perm_name(model: type[models.Model], action: str) -> str:
    """`inventory.view_model` for (Model, "view"); a dotted name is returned unchanged."""
    if "." in action:
        return action
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def has_perm(user: Any, perm: str) -> bool:
    return bool(user is not None and user.is_active and user.has_perm(perm))


def require(user: Any, perm: str) -> None:
    """Raise PermissionDenied unless the user holds `perm` (through a role or as superuser)."""
    if not has_perm(user, perm):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")


class RestrictedQuerySet(models.QuerySet[_M]):
    def restrict(self, user: Any, action: str = "view") -> Self:
        """Rows this user may see for `action` (model permission codename or dotted permission)."""
        if not has_perm(user, perm_name(self.model, action)):
            return self.none()
        # A principal narrower than its role (a CI token's scope) filters the rows itself.
        narrow = getattr(user, "narrow_queryset", None)
        return narrow(self) if narrow is not None else self


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
