"""Hub faults during import: 500s, timeouts, truncated bodies, wrong hashes.

The real `huggingface_hub` client (through inventory.hub) against the test Hub server, whose per-path fault
plan (`plan_faults`) injects the fault; the import is requested through the API and retried the way a user
does (the job page's Retry form, no JavaScript). Tasks run eagerly in this process (the task's own backoff
on a real worker is covered by test_database_restart.py). Each fault must end in a visible state: failed
with a clear error and retryable, or imported exactly once — never a half-written or unverified version.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.urls import reverse

from core.models import AuditEvent
from inventory.choices import JobState
from inventory.models import ImportJob, ModelFile, ModelVersion
from scanning.models import ScanFileResult, ScanRun
from tests.hubserver.repos import GeneratedRepo, tiny_bert_repo
from tests.hubserver.server import HubServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def importer(admin_client_, django_capture_on_commit_callbacks):
    """Request an import (API) and retry it (the job page's form) as an administrator; tasks run eagerly."""

    class Importer:
        def request(self, repo_id: str) -> ImportJob:
            with django_capture_on_commit_callbacks(execute=True):
                response = admin_client_.post(
                    "/api/v1/models/import", {"repo_id": repo_id}, content_type="application/json"
                )
            assert response.status_code == 202, response.content
            return ImportJob.objects.get(pk=response.json()["id"])

        def retry(self, job: ImportJob) -> ImportJob:
            with django_capture_on_commit_callbacks(execute=True):
                response = admin_client_.post(reverse("inventory:importjob_retry", args=[job.pk]))
            assert response.status_code == 302
            job.refresh_from_db()
            return job

        def page(self, job: ImportJob) -> str:
            response = admin_client_.get(job.get_absolute_url())
            assert response.status_code == 200
            return response.content.decode()

    return Importer()


def _repo(hub: HubServer, repo_id: str) -> GeneratedRepo:
    repo = tiny_bert_repo(repo_id)
    repo.add_to(hub)
    return repo


def _assert_failed_visibly(job: ImportJob, importer, *, error: str) -> None:
    """Failed, the reason on the job and its page with a Retry form; nothing of the version written."""
    job.refresh_from_db()
    assert job.state == JobState.FAILED and error in job.error, (job.state, job.error)
    page = importer.page(job)
    assert error in page and reverse("inventory:importjob_retry", args=[job.pk]) in page
    assert not ModelVersion.objects.filter(model__repo_id=job.repo_id).exists()
    assert not ModelFile.objects.filter(version__model__repo_id=job.repo_id).exists()


def _assert_imported_once(job: ImportJob, repo: GeneratedRepo, *, attempts: int) -> ModelVersion:
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.error == "" and job.attempts == attempts, job.error
    version = ModelVersion.objects.get(model__repo_id=repo.repo_id)
    assert job.version_id == version.pk
    served = {**repo.files, "README.md": (repo.card or "").encode()}
    recorded = dict(version.files.values_list("path", "sha256"))
    assert recorded == {path: hashlib.sha256(data).hexdigest() for path, data in served.items()}
    assert AuditEvent.objects.filter(action="version.import", target_id=str(version.pk)).count() == 1
    assert ScanRun.objects.filter(version=version).count() == 1
    return version


def test_hub_500s_then_recovery_end_imported_once_after_retry(hub_env, importer):
    repo = _repo(hub_env, "faults/h500")
    hub_env.plan_faults("/api/models/faults/h500*", "500")  # the metadata request, on the first attempt
    hub_env.plan_faults("*/faults/h500/resolve/*/config.json", "503")  # a file, on the second attempt
    job = importer.request(repo.repo_id)
    _assert_failed_visibly(job, importer, error="Hub server error 500")
    assert importer.retry(job).state == JobState.FAILED  # the Hub is still failing (on a file this time)
    _assert_failed_visibly(job, importer, error="Hub server error 503")
    importer.retry(job)  # recovered
    _assert_imported_once(job, repo, attempts=3)
    assert hub_env.faults_applied() == ["500", "503"]


def test_hub_timeout_fails_clearly_and_retry_succeeds(hub_env, importer, settings):
    settings.HF_TIMEOUT = 0.5
    repo = _repo(hub_env, "faults/slow")
    hub_env.plan_faults("/api/models/faults/slow*", "sleep:1.5")  # longer than the client waits
    job = importer.request(repo.repo_id)
    _assert_failed_visibly(job, importer, error="No answer from the Hub within 0.5s")
    importer.retry(job)
    _assert_imported_once(job, repo, attempts=2)
    assert hub_env.faults_applied() == ["sleep:1.5"]


@pytest.mark.parametrize("path", ["config.json", "README.md"])  # a downloaded file; the card (read in memory)
def test_truncated_body_is_never_stored_and_retry_succeeds(hub_env, importer, settings, path):
    repo = _repo(hub_env, f"faults/cut-{path.split('.')[0].lower()}")
    hub_env.plan_faults(f"*/{repo.repo_id}/resolve/*/{path}", "truncate")
    job = importer.request(repo.repo_id)
    _assert_failed_visibly(job, importer, error="Truncated")
    downloads = Path(settings.MODELGATE_DOWNLOAD_DIR)
    assert not list(downloads.rglob("*.part")) and not list(downloads.rglob(path))  # no partial file left
    importer.retry(job)
    _assert_imported_once(job, repo, attempts=2)
    assert hub_env.faults_applied() == ["truncate"]


def test_wrong_hash_of_a_git_file_is_refused_until_the_hub_serves_the_right_bytes(hub_env, importer):
    repo = _repo(hub_env, "faults/badhash")
    glob = "*/faults/badhash/resolve/*/config.json"
    hub_env.plan_faults(glob, then="corrupt")  # the bytes served never match the blob id the metadata claims
    job = importer.request(repo.repo_id)
    _assert_failed_visibly(job, importer, error="Git blob id mismatch for config.json")
    assert importer.retry(job).state == JobState.FAILED  # retrying does not make wrong bytes right
    _assert_failed_visibly(job, importer, error="Git blob id mismatch for config.json")
    hub_env.plan_faults(glob)  # the Hub serves the right bytes again
    importer.retry(job)
    _assert_imported_once(job, repo, attempts=3)


def test_wrong_hash_of_an_lfs_file_is_never_judged_safe(hub_env, importer):
    """LFS weights are not downloaded at import (their sha256 comes from the pinned metadata); the scan reads
    them and refuses bytes that do not match: the file is unscannable, the version not safe."""
    repo = _repo(hub_env, "faults/badlfs")
    hub_env.plan_faults("/cdn/*", then="corrupt")
    job = importer.request(repo.repo_id)
    version = _assert_imported_once(job, repo, attempts=1)
    result = ScanFileResult.objects.get(scan_run__version=version, path="model.safetensors")
    assert result.verdict == "unscannable" and "does not match its hash" in result.error
    version.refresh_from_db()
    assert version.scan_verdict == "unscannable"
    assert "corrupt" in hub_env.faults_applied("/cdn/*")
