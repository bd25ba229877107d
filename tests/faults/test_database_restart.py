"""The worker's PostgreSQL connection is terminated while an import step runs (`pg_terminate_backend`).

The import must end imported exactly once (one version, one scan, one audit event) or failed and
retryable — never stuck `running`, never two versions. A real worker process, real PostgreSQL, the Hub
over HTTP from the test Hub server.
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from core.models import AuditEvent
from inventory import services
from inventory.choices import JobState, Source
from inventory.models import ImportJob, Model, ModelVersion
from scanning.choices import ScanState
from scanning.models import ScanRun
from tests.faults.conftest import database_url, wait_for
from tests.hubserver.repos import tiny_bert_repo

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _terminate_other_backends(**where: str) -> list[int]:
    """Terminate this database's other backends (the worker's), optionally only those waiting on `wait_event_type`."""
    sql = (
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    params: list[str] = []
    if "wait_event_type" in where:
        sql += " AND wait_event_type = %s"
        params.append(where["wait_event_type"])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [pid for pid, done in cursor.fetchall() if done]


def _settled(job: ImportJob) -> ImportJob:
    def done() -> bool:
        job.refresh_from_db()
        return job.state in (JobState.SUCCEEDED, JobState.FAILED)

    wait_for(done, timeout=40, what=f"import job {job.pk} to end (it is {job.state}: {job.step})")
    return job


def _assert_imported_once(job: ImportJob, repo_id: str, files: int) -> None:
    assert job.state == JobState.SUCCEEDED, (job.state, job.error_kind, job.error)
    assert job.error == "" and job.attempts == 2  # the attempt the fault hit, then the task's own retry
    versions = ModelVersion.objects.filter(model__repo_id=repo_id)
    assert versions.count() == 1 and job.version_id == versions.get().pk
    assert versions.get().files.count() == files
    assert AuditEvent.objects.filter(action="version.import", target_id=str(job.version_id)).count() == 1
    wait_for(
        lambda: ScanRun.objects.filter(version_id=job.version_id, state=ScanState.SUCCEEDED).exists(),
        timeout=30,
        what="the imported version's scan",
    )
    assert ScanRun.objects.filter(version_id=job.version_id).count() == 1


def test_connection_terminated_mid_import_is_retried_to_one_import(workers, hub_env, admin_user):
    """Two cuts, one worker (its startup is the slow part): mid-step between queries, then inside the write.

    (Between tasks there is nothing to cut: Celery closes a worker's connections after every task.)"""
    idle, busy = (tiny_bert_repo(f"faults/db-{name}") for name in ("idle", "busy"))
    for repo in (idle, busy):
        repo.add_to(hub_env)
    worker = workers.start("importer")

    # 1. The import step is busy on the Hub when its (idle, pooled) connection is cut.
    hub_env.plan_faults("*/faults/db-idle/resolve/*/README.md", "sleep:1.5")
    job = services.request_import(user=admin_user, repo_id="faults/db-idle")
    wait_for(lambda: hub_env.faults_applied("*/README.md"), timeout=20, what="the worker to read the card")
    assert _terminate_other_backends()
    _assert_imported_once(_settled(job), "faults/db-idle", len(idle.files) + 1)  # + README.md (the card)

    # 2. The worker is inside its write transaction (waiting for the model row another session holds:
    # a base model placeholder) when its connection is cut.
    Model.objects.create(source=Source.HUB, repo_id="faults/db-busy", is_placeholder=True)
    with psycopg.connect(database_url()) as other, other.transaction():
        other.execute("SELECT id FROM inventory_model WHERE repo_id = %s FOR UPDATE", ["faults/db-busy"])
        job = services.request_import(user=admin_user, repo_id="faults/db-busy")
        terminated = wait_for(
            lambda: _terminate_other_backends(wait_event_type="Lock"),
            timeout=20,
            what="the worker to wait for the model row inside its import transaction",
        )
        assert len(terminated) == 1
    _assert_imported_once(_settled(job), "faults/db-busy", len(busy.files) + 1)

    assert "Traceback" not in worker.log(), worker.log()[-3000:]
