"""Deny by default: every page needs a login; the API authenticates itself (token or session)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.http import HttpRequest


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's middleware, except for /api/: DRF authenticates tokens there and its default
    permission class (core.permissions.RolePermission) refuses anonymous requests."""

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any) -> Any:
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
