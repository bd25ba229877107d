"""The login page and local (password) accounts, next to single sign-on.

Local login stays on by default: the first administrator signs in with a password (`manage.py
ensure_admin`). `MODELGATE_LOCAL_LOGIN=0` switches it off: the login page shows the single sign-on
button (and the LDAP form, if LDAP is configured), and a Modelgate password is refused by the login form
and by `POST /api/v1/auth/token/`, except for superusers: they keep a way in when the identity provider
is down (break glass; their sign-ins are visible in the audit log as ordinary logins).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest


def local_login_allowed() -> bool:
    return bool(settings.MODELGATE_LOCAL_LOGIN)


class LocalPasswordBackend(ModelBackend):
    """Django's password check, refused for everyone but superusers when MODELGATE_LOCAL_LOGIN=0."""

    def user_can_authenticate(self, user: Any) -> bool:
        if not local_login_allowed() and not getattr(user, "is_superuser", False):
            return False
        return super().user_can_authenticate(user)


class LoginView(auth_views.LoginView):
    """Django's login view; the page offers what is configured: SSO button, password form, or both."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(login_options(self.request))
        # The directory knew the password but refused the user (no mapped group, deactivated): say so.
        context["refusal"] = getattr(self.request, "modelgate_sso_refusal", "")
        return context


def login_options(request: HttpRequest) -> dict[str, Any]:
    """What the login template shows. The password form: when local login or LDAP is on, or when asked
    for explicitly (`?local=1`: a superuser's way in while local login is off)."""
    ldap = bool(settings.MODELGATE_LDAP_SERVER_URI)
    local = local_login_allowed()
    return {
        "sso_enabled": bool(settings.OIDC_ENABLED),
        "sso_provider_name": settings.MODELGATE_OIDC_PROVIDER_NAME,
        "ldap_enabled": ldap,
        "local_login": local,
        "show_password_form": local or ldap or request.GET.get("local") == "1" or request.method == "POST",
    }
