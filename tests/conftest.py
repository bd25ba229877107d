"""Fixtures shared by the whole suite: role users, logged-in clients, the local Hub server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from django.test import Client

from core import roles
from tests.factories import UserFactory

pytest_plugins = ["tests.hubserver.fixtures"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache: the database rolls back between tests (on SQLite with the data
    generation's row), the in-process cache does not, and a setting a test overrides is not part of a
    cached page's key (settings do not change while a server runs)."""
    from django.core.cache import cache
    from django.core.signals import setting_changed

    def clear(**_kwargs: object) -> None:
        cache.clear()

    cache.clear()
    setting_changed.connect(clear, dispatch_uid="tests.fresh_cache")
    yield
    setting_changed.disconnect(dispatch_uid="tests.fresh_cache")


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


# --- browser tests: real Chromium (Debian's /usr/bin/chromium) driven by Playwright ----------------
# No browser download: Playwright's Python client launches the system Chromium. The sync API runs an
# event loop in the test thread, so Django's async-safety guard is relaxed once a browser starts.

CHROMIUM = os.environ.get("MODELGATE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
