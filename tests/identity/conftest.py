"""Fixtures of the identity tests: an application using two versions (one that passes the gate, one
that a policy fails at build), real files on disk with the recorded hashes, and token builders."""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from identity import services as identity_services
from inventory.models import ApplicationModel
from policies import services as policy_services
from policies.models import Policy
from tests import factories as f
from tests.identity.ldap_fixtures import ldap_server  # noqa: F401  (single sign-on fixtures)
from tests.identity.oidc_fixtures import oidc_provider, sso  # noqa: F401
from tests.policies.conftest import make_policy


@pytest.fixture(autouse=True)
def _no_default_pack(db):
    """Only the policy the tests create applies."""
    Policy.objects.all().delete()


def _version_with_files(tmp: Path, name: str, downloads: int) -> tuple[Any, Path]:
    model = f.ModelFactory(repo_id=f"acme/{name}", downloads=downloads)
    version = f.ModelVersionFactory(model=model)
    folder = tmp / name
    (folder / "sub").mkdir(parents=True)
    for rel, content in {"model.safetensors": b"weights " * 64 + name.encode(), "sub/config.json": b"{}"}.items():
        (folder / rel).write_bytes(content)
        f.ModelFileFactory(version=version, path=rel, size=len(content), sha256=hashlib.sha256(content).hexdigest())
    return version, folder


@pytest.fixture
def gate_world(db, tmp_path, make_user):
    """app (in org), app2 (another org); `good` passes, `bad` fails the build stage (few downloads)."""
    admin = make_user("administrator", username="gate-admin")
    app = f.ApplicationFactory(slug="chatbot", name="Chatbot")
    app2 = f.ApplicationFactory(slug="other-app", name="Other")
    make_policy("Few downloads", value=100, threat_level=7, actions={"build": "fail", "release": "fail"})
    good, good_dir = _version_with_files(tmp_path, "good-model", 10_000)
    bad, bad_dir = _version_with_files(tmp_path, "bad-model", 5)
    for v in (good, bad):
        ApplicationModel.objects.create(application=app, version=v, added_by=admin)
    policy_services.evaluate_versions()
    return {
        "admin": admin,
        "app": app,
        "app2": app2,
        "good": good,
        "bad": bad,
        "good_dir": good_dir,
        "bad_dir": bad_dir,
    }


@pytest.fixture
def make_token(db):
    def make(user, *, capability="gate", application=None, organization=None, days=30, name="CI"):
        return identity_services.create_token(
            user=user,
            name=name,
            capability=capability,
            application=application,
            organization=organization,
            expires_on=(timezone.now() + timedelta(days=days)).date(),
        )

    return make


def target(version) -> str:
    return f"{version.model.repo_id}@{version.commit}"


def files_of(folder: Path) -> list[dict[str, str]]:
    return [
        {"path": p.relative_to(folder).as_posix(), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


# --- the standalone client, installed into a fresh virtual environment ----------------------------------

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def client_venv(tmp_path_factory) -> Path:
    """A fresh venv (no Django, no project on its path) with the built `modelgate-client` wheel and its
    declared dependencies only.

    Offline: the wheel is built with this interpreter's setuptools (--no-build-isolation --no-deps); its
    dependencies (Jinja2 and MarkupSafe) are copied from this interpreter's installed distributions, and
    the wheel is installed with --no-index, so pip checks that what it requires is there.
    """
    base = tmp_path_factory.mktemp("modelgate-client")
    wheels, venv, src = base / "wheels", base / "venv", base / "src"
    # Build from a copy with the repository's layout (client/ beside scanning/scanners/ and the whole of
    # core/, Django modules included: the build must pick files.py alone), so the in-tree build leaves
    # nothing behind in the checkout.
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    shutil.copytree(REPO / "client", src / "client", ignore=ignore)
    shutil.copytree(REPO / "scanning" / "scanners", src / "scanning" / "scanners", ignore=ignore)
    shutil.copytree(REPO / "core", src / "core", ignore=ignore)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [*pip, "wheel", "--no-build-isolation", "--no-deps", "--no-index", "-w", str(wheels), str(src / "client")],
        check=True,
        cwd=base,
    )
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    for name in CLIENT_DEPENDENCIES:
        _copy_distribution(name, site)
    (wheel,) = wheels.glob("modelgate_client-*.whl")
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", "--no-index", str(wheel)], check=True)
    return venv


CLIENT_DEPENDENCIES = ("Jinja2", "MarkupSafe")  # client/pyproject.toml's dependencies, with theirs


def _copy_distribution(name: str, site: Path) -> None:
    """Install an already installed distribution into another environment by copying its RECORD's files."""
    dist = importlib.metadata.distribution(name)
    for rel in dist.files or []:
        if ".." in rel.parts or "__pycache__" in rel.parts:
            continue  # console scripts and bytecode: not needed
        target = site / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(str(dist.locate_file(rel))), target)


def clean_env(**extra: str) -> dict[str, str]:
    """What a CI runner has: a PATH and a HOME; no DJANGO_SETTINGS_MODULE, no SECRET_KEY, no DEBUG."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", **extra}
    assert not {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"} & set(env)
    return env


def create_token_through_ui(client: Any, application: Any, capability: str = "gate") -> str:
    """Log-in session → the token form on the application's gate page → the secret shown once."""
    response = client.post(
        "/identity/tokens/new/",
        {
            "name": "CI pipeline",
            "capability": capability,
            "application": application.pk,
            "expires_on": (timezone.now() + timedelta(days=7)).date().isoformat(),
            "gate_page": application.pk,
        },
    )
    assert response.status_code == 201, response.content[:2000]
    match = re.search(r'id="token-secret">(mg_[^<]+)<', response.content.decode())
    assert match, "the secret is shown once on creation"
    return match.group(1)
