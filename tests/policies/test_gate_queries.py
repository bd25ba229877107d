"""`POST /api/v1/gate` costs the same number of queries for 3 files and 1 application as for 2,000 files
and 40 applications using the version (it used to evaluate every application's context on every call:
~10 queries per application). Figures: bench/gate/bench_gate.py."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import Application, ApplicationModel, ModelFile
from policies.services import evaluate_versions
from tests import factories as f

pytestmark = pytest.mark.django_db

MAX_QUERIES = 70  # measured: ~60 with the default pack, whatever the files and applications


def _version(files: int, apps: int, tag: str) -> dict[str, object]:
    version = f.ModelVersionFactory(model__repo_id=f"gate-q/{tag}")
    rows = ModelFile.objects.bulk_create(
        ModelFile(
            version=version, path=f"shard-{i:05d}.safetensors", size=i, sha256=hashlib.sha256(b"%d" % i).hexdigest()
        )
        for i in range(files)
    )
    org = f.OrganizationFactory()
    applications = Application.objects.bulk_create(
        Application(organization=org, name=f"{tag} {i}", slug=f"{tag}-{i}") for i in range(apps)
    )
    ApplicationModel.objects.bulk_create(ApplicationModel(application=a, version=version) for a in applications)
    evaluate_versions(version_ids=[version.pk])
    return {
        "repo_id": version.model.repo_id,
        "revision": version.commit,
        "stage": "build",
        "application": applications[0].slug,
        "files": [{"path": r.path, "sha256": r.sha256} for r in rows],
    }


def _queries(client, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    client.post("/api/v1/gate", body, content_type="application/json")  # warm caches (content types, roles)
    with CaptureQueriesContext(connection) as ctx:
        response = client.post("/api/v1/gate", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), response.json()


def test_gate_queries_do_not_grow_with_files_or_applications(default_pack, admin_client_, settings):
    settings.MODELGATE_PAGE_CACHE = False  # the cost of computing an answer, not of reusing one
    small, large = _version(3, 1, "small"), _version(2000, 40, "large")
    for with_application in (True, False):
        bodies = [dict(b) for b in (small, large)]
        if not with_application:
            for body in bodies:
                body.pop("application")
        small_count, small_answer = _queries(admin_client_, bodies[0])
        large_count, large_answer = _queries(admin_client_, bodies[1])
        assert small_answer["identity"]["verified"] and large_answer["identity"]["verified"]
        assert large_answer["action"] == small_answer["action"]  # same facts, same answer
        assert large_count == small_count <= MAX_QUERIES, (with_application, small_count, large_count)
