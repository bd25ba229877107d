"""Issue 11, item 4: `import_model --wait` fails when the scan failed; a job that succeeded on retry shows no error."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from inventory import services
from inventory.models import ImportJob
from tests.hubserver.repos import safetensors_bytes, tiny_bert_repo

pytestmark = pytest.mark.django_db


def _lfs_repo(hub, repo_id: str) -> None:
    """A repo whose weights are an LFS file (over the test Hub's 10 kB threshold): the import only
    reads metadata, the scan reads the weights."""
    weights = safetensors_bytes({"lm_head.weight": ("F32", [8192])})
    hub.add_repo(repo_id, {"config.json": b'{"model_type": "bert"}', "model.safetensors": weights})


def test_wait_exits_1_with_the_reason_when_the_scan_failed(hub_env):
    _lfs_repo(hub_env, "wait-h/scan-fails")
    hub_env.fail_next("*model.safetensors*", 500, times=50)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("import_model", "wait-h/scan-fails", "--wait", stdout=out, stderr=err)
    assert exc.value.code == 1
    assert "scan" in err.getvalue() and "failed" in err.getvalue()
    summary = json.loads(out.getvalue())  # the summary is still printed for the pipeline to read
    assert summary["repo_id"] == "wait-h/scan-fails" and summary["scan"]["state"] == "failed"


def test_wait_exits_0_when_every_step_succeeded(hub_env):
    _lfs_repo(hub_env, "wait-h/fine")
    out, err = io.StringIO(), io.StringIO()
    call_command("import_model", "wait-h/fine", "--wait", stdout=out, stderr=err)
    summary = json.loads(out.getvalue())
    assert summary["scan"]["state"] == "succeeded" and summary["scan"]["verdict"] == "safe"
    assert err.getvalue() == ""


def test_a_job_that_succeeds_on_retry_no_longer_shows_the_first_error(hub_env, admin_user):
    tiny_bert_repo("retry-h/flaky").add_to(hub_env)
    job = ImportJob.objects.create(repo_id="retry-h/flaky", revision="main", requested_by=admin_user)
    hub_env.fail_next("/api/models/*", 404, times=1, error_code="RepoNotFound", message="Repository not found")
    with pytest.raises(services.ImportFailed):
        services.execute_import_job(job_id=job.pk)  # first attempt: the Hub answered an error
    job.refresh_from_db()
    assert job.state == "failed" and job.error
    services.execute_import_job(job_id=job.pk)  # the worker's retry
    client = APIClient()
    client.force_authenticate(admin_user)
    shown = client.get(f"/api/v1/imports/{job.pk}/").json()
    assert shown["state"] == "succeeded" and shown["attempts"] == 2
    assert shown["error"] == "" and shown["error_kind"] == ""
