"""Fixtures shared by the whole suite: role users, logged-in clients, the local Hub server."""

from __future__ import annotations

import pytest
from django.test import Client

from governance import roles
from tests.factories import UserFactory

pytest_plugins = ["tests.hubserver.fixtures"]

ROLE_NAMES = [roles.ADMINISTRATOR, roles.ARCHITECT, roles.LEGAL_REVIEWER, roles.SECURITY_REVIEWER, roles.MANAGER]


@pytest.fixture
def make_user(db):
    def make(role: str | None = None, username: str | None = None, **kwargs):
        if username:
            kwargs["username"] = username
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user(roles.ADMINISTRATOR, username="admin-user")


@pytest.fixture
def architect(make_user):
    return make_user(roles.ARCHITECT, username="architect")


@pytest.fixture
def legal(make_user):
    return make_user(roles.LEGAL_REVIEWER, username="legal")


@pytest.fixture
def security(make_user):
    return make_user(roles.SECURITY_REVIEWER, username="security")


@pytest.fixture
def manager(make_user):
    return make_user(roles.MANAGER, username="manager")


@pytest.fixture
def nobody(make_user):
    """Logged in but in no role: must be denied everything."""
    return make_user(None, username="nobody")


@pytest.fixture
def client_for():
    def make(user) -> Client:
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture
def admin_client_(client_for, admin_user) -> Client:
    return client_for(admin_user)
