"""Issue 11, item 3: brute-force protection of the login form and of POST /api/v1/auth/token/ (django-axes)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-correct-password-1"


@pytest.fixture
def victim():
    user = UserFactory(username="victim")
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return settings


def _login(client: Client, password: str, ip: str = "203.0.113.7"):
    return client.post("/accounts/login/", {"username": "victim", "password": password}, REMOTE_ADDR=ip)


def _token(client: APIClient, password: str, ip: str = "203.0.113.7"):
    return client.post("/api/v1/auth/token/", {"username": "victim", "password": password}, REMOTE_ADDR=ip)


def test_login_form_locks_out_after_the_failure_limit(victim, limits):
    client = Client()
    for _ in range(2):
        assert _login(client, "wrong").status_code == 200  # the form again, with its error
    locked = _login(client, "wrong")
    assert locked.status_code == 429
    assert "Too many failed login attempts: try again in 15 minutes." in locked.content.decode()
    # Even the right password is refused while locked out, from that address…
    again = _login(client, PASSWORD)
    assert again.status_code == 429 and "_auth_user_id" not in client.session
    # …but the lock is per username + address: the user can still log in from elsewhere.
    elsewhere = Client()
    assert _login(elsewhere, PASSWORD, ip="198.51.100.9").status_code == 302
    assert "_auth_user_id" in elsewhere.session


def test_token_endpoint_locks_out_after_the_failure_limit(victim, limits):
    client = APIClient()
    for _ in range(2):
        assert _token(client, "wrong").status_code == 400
    locked = _token(client, "wrong")
    assert locked.status_code == 429
    assert locked.json() == {"detail": "Too many failed login attempts: try again in 15 minutes."}
    assert locked["Retry-After"] == "900"
    assert _token(client, PASSWORD).status_code == 429  # no token while locked out
    assert "token" in _token(APIClient(), PASSWORD, ip="198.51.100.9").json()


def test_failures_on_the_form_and_the_api_add_up(victim, limits):
    assert _login(Client(), "wrong").status_code == 200
    assert _token(APIClient(), "wrong").status_code == 400
    assert _login(Client(), "wrong").status_code == 429
    assert _token(APIClient(), PASSWORD).status_code == 429


def test_cooloff_ends_the_lockout(victim, limits):
    from axes.models import AccessAttempt

    for _ in range(3):
        _token(APIClient(), "wrong")
    assert _token(APIClient(), PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time="2000-01-01T00:00:00Z")  # the cool-off has passed
    assert "token" in _token(APIClient(), PASSWORD).json()


def test_success_resets_the_count(victim, limits):
    for _ in range(2):
        _token(APIClient(), "wrong")
    assert "token" in _token(APIClient(), PASSWORD).json()
    for _ in range(2):
        assert _token(APIClient(), "wrong").status_code == 400


def test_forwarded_for_is_ignored_unless_proxies_are_configured(victim, limits):
    client = APIClient()
    for n in range(3):
        client.post(
            "/api/v1/auth/token/",
            {"username": "victim", "password": "wrong"},
            REMOTE_ADDR="203.0.113.7",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",  # forged: rotating it must not dodge the lock
        )
    assert _token(client, PASSWORD).status_code == 429
