"""Authentication plumbing: the brute-force lockout answer (django-axes) and the client address it locks on."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken


def cooloff_minutes() -> int:
    cooloff = settings.AXES_COOLOFF_TIME
    if not isinstance(cooloff, timedelta):  # axes also takes hours as a number
        cooloff = timedelta(hours=float(cooloff))
    return max(1, math.ceil(cooloff.total_seconds() / 60))


def lockout_message() -> str:
    minutes = cooloff_minutes()
    return f"Too many failed login attempts: try again in {minutes} minute{'s' if minutes != 1 else ''}."


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with a clear message; JSON for the API, the login page otherwise."""
    message = lockout_message()
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=429)
    else:
        response = render(request, "registration/login.html", {"lockout_message": message}, status=429)
    response["Retry-After"] = str(cooloff_minutes() * 60)
    return response


def client_ip(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: REMOTE_ADDR, or behind MODELGATE_PROXY_COUNT trusted reverse proxies the
    address the outermost of them saw (X-Forwarded-For counted from the right, so a client cannot forge it)."""
    remote = request.META.get("REMOTE_ADDR")
    count = settings.MODELGATE_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    return forwarded[-count] if len(forwarded) >= count else remote


class LockoutAwareAuthTokenSerializer(AuthTokenSerializer):
    """DRF's token serializer, authenticating with the Django request itself.

    django-axes marks a lockout on the request it is given; DRF's `Request` wrapper would keep that
    mark from the middleware that answers 429, so the underlying HttpRequest is passed instead.
    (The rest is DRF's AuthTokenSerializer.validate.)
    """

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        request = self.context.get("request")
        username, password = attrs.get("username"), attrs.get("password")
        if not (username and password):
            raise serializers.ValidationError('Must include "username" and "password".', code="authorization")
        django_request = getattr(request, "_request", request)
        user = authenticate(request=django_request, username=username, password=password)
        if not user:
            raise serializers.ValidationError("Unable to log in with provided credentials.", code="authorization")
        # A token is a login: the signal resets the failure count (AXES_RESET_ON_SUCCESS) and last_login.
        user_logged_in.send(sender=user.__class__, request=django_request, user=user)
        attrs["user"] = user
        return attrs


class ObtainAuthTokenView(ObtainAuthToken):
    """`POST /api/v1/auth/token/` {username, password} → {token}; failures count towards the lockout."""

    serializer_class = LockoutAwareAuthTokenSerializer
