"""DRF authentication by CI token: `Authorization: Bearer mg_…` or `Authorization: Token mg_…`.

Other `Token …` values are left to DRF's TokenAuthentication (listed after this class). A gate
token may only POST to the gate; a read token may only use safe methods. What it may read, and for
which application the gate answers, is narrowed further by `CIPrincipal`.
"""

from __future__ import annotations

from typing import Any

from django.urls import Resolver404, resolve
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from identity.choices import Capability
from identity.models import CIToken
from identity.services import TOKEN_PREFIX, authenticate_token

GATE_URL_NAME = "policies-api:gate"


class CITokenAuthentication(BaseAuthentication):
    keywords = (b"bearer", b"token")

    def authenticate(self, request: Request) -> tuple[Any, CIToken] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() not in self.keywords:
            return None
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            return None
        if not raw.startswith(TOKEN_PREFIX):
            return None  # a DRF authtoken key: not ours
        principal = authenticate_token(raw=raw)
        if principal is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        token = principal.ci_token
        if token.capability == Capability.GATE and not (request.method == "POST" and _is_gate(request)):
            raise exceptions.PermissionDenied("A gate token may only call POST /api/v1/gate.")
        if token.capability == Capability.READ and request.method not in SAFE_METHODS:
            raise exceptions.PermissionDenied("A read token may only read.")
        return principal, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def _is_gate(request: Request) -> bool:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.view_name == GATE_URL_NAME
