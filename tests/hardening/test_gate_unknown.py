"""Issue 11, item 1: the gate never imports inside a request, and never for a caller who may not import."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from core.models import AuditEvent
from inventory.models import ImportJob, ModelVersion
from policies.services import gate
from tests.hubserver.repos import tiny_bert_repo

pytestmark = pytest.mark.django_db


def _gate(client: Client, repo_id: str, revision: str = "main", stage: str = "proxy") -> dict:
    response = client.post(
        "/api/v1/gate", {"repo_id": repo_id, "revision": revision, "stage": stage}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def no_sync_import(monkeypatch):
    """Any import inside the request fails the test loudly."""
    calls: list[str] = []

    def forbidden(**kwargs):
        calls.append(kwargs["repo_id"])
        raise AssertionError("the gate imported inside the request")

    monkeypatch.setattr(gate, "import_from_hub", forbidden)  # the name gate.py imported at its top
    return calls


def test_manager_cannot_import_through_the_gate(client_for, manager, no_sync_import, hub_env):
    tiny_bert_repo("gate-h/manager-probe").add_to(hub_env)
    result = _gate(client_for(manager), "gate-h/manager-probe")
    assert result["action"] == "fail"
    assert "unknown model, not imported" in result["violations"][0]["facts"]["message"]
    assert "import_job" not in result
    assert not no_sync_import
    assert not ImportJob.objects.exists()
    assert not ModelVersion.objects.filter(model__repo_id="gate-h/manager-probe").exists()
    assert not AuditEvent.objects.filter(action__in=["version.import", "import.request"]).exists()


@pytest.mark.slow  # the whole import → scan → licenses → evaluation chain runs (~2.5 s)
def test_importer_gets_a_queued_job_then_the_judgement(
    client_for, architect, hub_env, django_capture_on_commit_callbacks
):
    tiny_bert_repo("gate-h/queued").add_to(hub_env)
    client = client_for(architect)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = _gate(client, "gate-h/queued")
    # Nothing was imported inside the request: only a job row, enqueued on commit.
    assert not ModelVersion.objects.filter(model__repo_id="gate-h/queued").exists()
    assert first["action"] == "fail"
    assert first["violations"][0]["policy"] == "unknown-model"
    assert "pending evaluation" in first["violations"][0]["facts"]["message"]
    job = ImportJob.objects.get()
    assert first["import_job"] == {"id": job.pk, "state": "queued", "url": f"/inventory/imports/{job.pk}/"}
    assert job.requested_by == architect and job.target == "gate-h/queued@main"
    assert len(callbacks) == 1
    # Asking again while the job waits does not queue a second one.
    second = _gate(client, "gate-h/queued")
    assert second["import_job"]["id"] == job.pk
    assert ImportJob.objects.count() == 1
    # The worker runs the job (import, scan, licenses, evaluation): the gate now judges the model.
    callbacks[0]()
    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    judged = _gate(client, "gate-h/queued")
    assert "import_job" not in judged
    assert all(v["policy"] != "unknown-model" for v in judged["violations"])
    assert {"action", "violations", "identity"} <= set(judged)


def test_gate_configured_to_fail_closed_queues_nothing(client_for, architect, settings, no_sync_import):
    settings.MODELGATE_GATE_UNKNOWN = "fail"
    result = _gate(client_for(architect), "gate-h/closed")
    assert result["action"] == "fail" and "fail closed" in result["violations"][0]["facts"]["message"]
    assert not ImportJob.objects.exists()


def test_cli_queues_unless_told_to_import_now(hub_env, no_sync_import):
    tiny_bert_repo("gate-h/cli").add_to(hub_env)
    out = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("gate", "gate-h/cli@main", "--stage", "proxy", stdout=out)
    assert exc.value.code == 1
    result = json.loads(out.getvalue())
    assert result["action"] == "fail" and "pending evaluation" in result["violations"][0]["facts"]["message"]
    job = ImportJob.objects.get()
    assert result["import_job"]["id"] == job.pk and job.requested_by is None
    assert not no_sync_import


def test_cli_import_now_imports_and_judges(hub_env, django_capture_on_commit_callbacks):
    tiny_bert_repo("gate-h/cli-now").add_to(hub_env)
    out = io.StringIO()
    try:
        call_command("gate", "gate-h/cli-now@main", "--stage", "proxy", "--import-now", stdout=out)
    except SystemExit as exc:  # identity is not verified without --dir: exit 1 is the contract
        assert exc.code == 1
    result = json.loads(out.getvalue())
    assert all(v["policy"] != "unknown-model" for v in result["violations"])
    assert ModelVersion.objects.filter(model__repo_id="gate-h/cli-now").exists()
    assert not ImportJob.objects.exists()
    event = AuditEvent.objects.get(action="version.import")
    assert event.actor is None and event.actor_repr == "system"
