"""Fixtures of the single sign-on tests: the test OpenID Connect provider in a second process, Modelgate
configured against it, and a sign-in driven over real HTTP (requests) through both servers."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from core.roles import sync_roles
from identity import oidc

REPO = Path(__file__).resolve().parents[2]
CLIENT_ID = "modelgate-test"
USER_PASSWORD = "op-password-1"  # users of the throwaway test provider
GROUP_MAP = (
    "mg-admins=administrator; mg-architects=architect; acme-legal=legal reviewer@acme; "
    "acme-security=security reviewer@acme; acme-security=manager@acme-labs"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Provider:
    url: str
    control_secret: str
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    def setup(self, **data: Any) -> None:
        response = requests.post(
            f"{self.url}/_test/setup/", json=data, headers={"X-Test-Secret": self.control_secret}, timeout=30
        )
        response.raise_for_status()

    def user(self, username: str, groups: list[str], password: str = USER_PASSWORD) -> None:
        self.setup(
            users=[
                {
                    "username": username,
                    "password": password,
                    "email": f"{username}@corp.example",
                    "first_name": username.capitalize(),
                    "last_name": "Tester",
                    "groups": groups,
                }
            ]
        )


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """django-oauth-toolkit's OIDC provider, a separate Django project, served on a free port."""
    port = _free_port()
    provider = Provider(url=f"http://127.0.0.1:{port}", control_secret=secrets.token_urlsafe(16))
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}},
        "OP_PORT": str(port),
        "OP_DB": str(tmp_path_factory.mktemp("oidc-provider") / "provider.sqlite3"),
        "OP_CONTROL_SECRET": provider.control_secret,
        "PYTHONPATH": str(REPO),
    }
    log = tmp_path_factory.mktemp("oidc-provider-log") / "provider.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.identity.oidc_provider.serve"], cwd=REPO, env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"the test OIDC provider exited: {log.read_text()[-3000:]}")
            try:
                if requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the test OIDC provider did not start: {log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield provider
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def sso(settings: Any, oidc_provider: Provider, live_server: Any, transactional_db: None) -> Provider:
    """Modelgate (the live server) configured against the provider, the client registered there."""
    sync_roles()  # transactional tests flush the role groups
    settings.MODELGATE_OIDC_ISSUER = oidc_provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = oidc_provider.client_secret
    settings.OIDC_ENABLED = True
    settings.MODELGATE_OIDC_PROVIDER_NAME = "Test IdP"
    settings.MODELGATE_OIDC_GROUP_MAP = GROUP_MAP
    settings.MODELGATE_OIDC_ALLOW_UNMAPPED = False
    settings.OIDC_VERIFY_SSL = True
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "identity.oidc.ModelgateOIDCBackend"]
    oidc.clear_discovery_cache()
    oidc_provider.setup(
        client={
            "client_id": CLIENT_ID,
            "client_secret": oidc_provider.client_secret,
            "redirect_uris": [f"{live_server.url}/oidc/callback/"],
            "post_logout_redirect_uris": [f"{live_server.url}/accounts/login/"],
        }
    )
    return oidc_provider


CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def sign_in(live_server: Any, provider: Provider, username: str, password: str = USER_PASSWORD) -> requests.Response:
    """A person's sign-in over HTTP: Modelgate's login page → its SSO button → the provider's login form →
    (consent skipped) → Modelgate's callback → wherever Modelgate sends the user. Returns the last answer."""
    session = requests.Session()
    page = session.get(f"{live_server.url}/accounts/login/?next=/", timeout=30)
    button = re.search(r'id="sso-login" href="([^"]+)"', page.text)
    assert button, page.text[:2000]
    at_provider = session.get(live_server.url + button.group(1).replace("&amp;", "&"), timeout=30)
    assert at_provider.url.startswith(f"{provider.url}/accounts/login/"), at_provider.url
    token = CSRF.search(at_provider.text)
    assert token
    answer = session.post(
        at_provider.url,
        data={"csrfmiddlewaretoken": token.group(1), "username": username, "password": password},
        timeout=60,
    )
    answer.session = session  # type: ignore[attr-defined]  # the browser, for further requests
    return answer
