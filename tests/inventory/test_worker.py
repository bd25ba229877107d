"""A real Celery worker consumes the import through the configured broker (Redis in CI)."""

from __future__ import annotations

import threading
import time

import pytest
from celery.contrib.testing.worker import start_worker

from governance.celery import app
from inventory import pipeline, services
from inventory.choices import JobState
from inventory.models import ImportJob
from tests.hubserver.repos import tiny_bert_repo

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def real_worker(settings):
    """Celery without eager mode: tasks go through the broker named by CELERY_BROKER_URL."""
    previous = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = settings.CELERY_BROKER_URL
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager, app.conf.broker_url = previous


def test_import_job_runs_on_a_worker(hub_env, admin_user, real_worker, monkeypatch):
    ran = threading.Event()
    seen: list[int] = []
    # The pipeline task is chained through the broker too; a recording step shows it ran.
    monkeypatch.setattr(pipeline, "_STEPS", {})
    pipeline.register("probe", order=1, run=lambda version_id: (seen.append(version_id), ran.set()))
    repo = tiny_bert_repo("worker/tiny")
    commit = repo.add_to(hub_env)
    job = services.request_import(user=admin_user, repo_id="worker/tiny", revision="main")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.state in (JobState.SUCCEEDED, JobState.FAILED):
            break
        time.sleep(0.2)
    assert job.state == JobState.SUCCEEDED, job.error
    assert job.version.commit == commit
    assert ImportJob.objects.filter(state=JobState.SUCCEEDED).count() == 1
    assert ran.wait(30) and seen == [job.version_id]
