"""Fixtures of the identity tests: an application using two versions (one that passes the gate, one
that a policy fails at build), real files on disk with the recorded hashes, and token builders."""

from __future__ import annotations

import hashlib
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
