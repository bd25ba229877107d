"""OpenID Connect sign-in (mozilla-django-oidc), configured entirely from the environment.

Off unless `MODELGATE_OIDC_ISSUER` (with discovery) or the explicit endpoints and a client id are set.
The endpoints come from the issuer's `/.well-known/openid-configuration` unless given one by one; the
document is fetched when a sign-in starts (never at start-up, never for password logins) and cached.

The backend verifies the ID token (signature with the provider's JWKS for RS256, nonce, issuer,
audience), reads the claims of the ID token and of the userinfo endpoint, and hands them to
identity.directory: just-in-time user, roles and memberships from the groups claim, audit.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from identity.choices import MembershipSource
from identity.directory import DirectoryIdentity, LoginRefused, load_group_map, login_from_directory

logger = logging.getLogger(__name__)

# Setting → key of the discovery document it falls back to.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "MODELGATE_OIDC_END_SESSION_ENDPOINT": "end_session_endpoint",
}
DISCOVERY_TTL = 3600.0
_discovery_lock = threading.Lock()
_discovery_cache: dict[str, tuple[float, dict[str, Any]]] = {}


class ProviderUnavailable(Exception):
    """The identity provider could not be asked (discovery failed, token endpoint unreachable)."""


def enabled() -> bool:
    return bool(settings.OIDC_ENABLED)


def discovery() -> dict[str, Any]:
    """The issuer's discovery document ({} without an issuer), cached for an hour."""
    issuer = settings.MODELGATE_OIDC_ISSUER.rstrip("/")
    if not issuer:
        return {}
    with _discovery_lock:
        hit = _discovery_cache.get(issuer)
        if hit and time.monotonic() - hit[0] < DISCOVERY_TTL:
            return hit[1]
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(f"could not read {url}: {exc}") from exc
    if not isinstance(document, dict) or document.get("issuer", "").rstrip("/") != issuer:
        raise ProviderUnavailable(f"{url} does not describe the issuer {issuer}")
    with _discovery_lock:
        _discovery_cache[issuer] = (time.monotonic(), document)
    return document


def clear_discovery_cache() -> None:
    with _discovery_lock:
        _discovery_cache.clear()


def oidc_setting(attr: str, *default: Any) -> Any:
    """A mozilla-django-oidc setting; an endpoint not set explicitly comes from discovery."""
    if attr in ENDPOINTS:
        explicit = getattr(settings, attr, "")
        return explicit or discovery().get(ENDPOINTS[attr], default[0] if default else "")
    if default:
        return getattr(settings, attr, default[0])
    return getattr(settings, attr)


def groups_from_claims(claims: dict[str, Any]) -> tuple[str, ...]:
    """The groups claim (`MODELGATE_OIDC_GROUPS_CLAIM`, a dotted path like `realm_access.roles` allowed)."""
    value: Any = claims
    for part in settings.MODELGATE_OIDC_GROUPS_CLAIM.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if isinstance(v, str | int))
    return ()


class ModelgateOIDCBackend(OIDCAuthenticationBackend):
    """Authorization-code login: verified ID token + userinfo → identity.directory.login_from_directory."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django instantiates every backend for every authenticate() call, password logins included: the
        # provider's endpoints are only looked up when an OIDC callback is actually being handled.
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        if request is None or not enabled() or "code" not in request.GET or "state" not in request.GET:
            return None
        super().__init__()  # reads the endpoints (discovery)
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id: Any) -> Any:
        """The session's user, unless deactivated since it signed in (the library does not check)."""
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The ID token's claims, completed by the userinfo endpoint (if the provider has one).

        Entra ID and Okta put groups in the ID token; Keycloak and others (also) in userinfo.
        """
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = super().get_userinfo(access_token, id_token, payload)
            if userinfo.get("sub", claims.get("sub")) != claims.get("sub"):
                raise SuspiciousOperation("userinfo is about another subject than the ID token")
            claims.update(userinfo)
        return claims

    def _check_id_token(self, payload: dict[str, Any]) -> None:
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("the ID token was issued to another client")
        issuer = settings.MODELGATE_OIDC_ISSUER.rstrip("/")
        if issuer and str(payload.get("iss", "")).rstrip("/") != issuer:
            raise SuspiciousOperation("the ID token comes from another issuer")
        if not payload.get("sub"):
            raise SuspiciousOperation("the ID token has no subject")

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        self._check_id_token(payload)
        claims = self.get_userinfo(access_token, id_token, payload)
        email = str(claims.get("email") or "")
        if claims.get("email_verified") is False:
            email = ""  # an address the provider did not verify does not link or update anything
        if "groups" in (claims.get("_claim_names") or {}):
            logger.warning(
                "the provider left the groups of %s out of the token (too many groups; Entra ID: emit only "
                "'Groups assigned to the application')",
                payload.get("sub"),
            )
        identity = DirectoryIdentity(
            source=MembershipSource.OIDC,
            issuer=str(payload.get("iss", "")),
            subject=str(payload["sub"]),
            username=str(claims.get("preferred_username") or email or payload["sub"]),
            email=email,
            first_name=str(claims.get("given_name") or ""),
            last_name=str(claims.get("family_name") or ""),
            groups=groups_from_claims(claims),
        )
        try:
            return login_from_directory(
                identity,
                group_map=load_group_map("MODELGATE_OIDC_GROUP_MAP", settings.MODELGATE_OIDC_GROUP_MAP),
                allow_unmapped=settings.MODELGATE_OIDC_ALLOW_UNMAPPED,
                provider=settings.MODELGATE_OIDC_PROVIDER_NAME,
            )
        except LoginRefused as refused:
            self.request.modelgate_sso_refusal = str(refused)
            return None


def sso_error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    context = {"message": message, "provider_name": settings.MODELGATE_OIDC_PROVIDER_NAME}
    return render(request, "registration/sso_error.html", context, status=status)


@method_decorator(login_not_required, name="dispatch")
class SSOAuthenticationRequestView(OIDCAuthenticationRequestView):
    """GET /oidc/authenticate/ → redirect to the provider (404 when OIDC is not configured)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)  # endpoints are read in get()

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = self.get_settings("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnavailable as exc:
            logger.error("OIDC sign-in could not start: %s", exc)
            return sso_error(request, "The identity provider cannot be reached. Try again later.", 503)
        self.OIDC_RP_CLIENT_ID = self.get_settings("OIDC_RP_CLIENT_ID")
        return super().get(request)


@method_decorator(login_not_required, name="dispatch")
class SSOCallbackView(OIDCAuthenticationCallbackView):
    """GET /oidc/callback/: the provider's answer; a refused or failed sign-in gets a page saying why."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            response = super().get(request)
        except (ProviderUnavailable, requests.RequestException) as exc:
            logger.error("OIDC sign-in failed talking to the provider: %s", exc)
            return sso_error(request, "The identity provider did not answer as expected. Try again later.", 502)
        except SuspiciousOperation as exc:
            logger.warning("OIDC sign-in refused: %s", exc)
            return sso_error(request, "The sign-in answer could not be verified. Start again.", 400)
        return response

    def login_failure(self) -> HttpResponse:
        refusal = getattr(self.request, "modelgate_sso_refusal", "")
        if refusal:
            return sso_error(self.request, refusal, 403)
        error = self.request.GET.get("error_description") or self.request.GET.get("error") or ""
        message = f"Sign-in through {settings.MODELGATE_OIDC_PROVIDER_NAME} did not complete"
        return sso_error(self.request, f"{message}: {error}" if error else f"{message}.", 403)


class SSOLogoutView(auth_views.LogoutView):
    """POST /accounts/logout/: ends the Modelgate session; with MODELGATE_OIDC_LOGOUT also the provider's
    (RP-initiated logout at its end_session_endpoint, back to the login page)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        id_token = request.session.get("oidc_id_token") if settings.MODELGATE_OIDC_LOGOUT else None
        response = super().post(request, *args, **kwargs)
        if not id_token or not enabled():
            return response
        try:
            end_session = oidc_setting("MODELGATE_OIDC_END_SESSION_ENDPOINT")
        except ProviderUnavailable:
            return response  # signed out here; the provider's session stays
        if not end_session:
            return response
        params = {
            "id_token_hint": id_token,
            "client_id": settings.OIDC_RP_CLIENT_ID,
            "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
        }
        return HttpResponseRedirect(f"{end_session}?{urlencode(params)}")
