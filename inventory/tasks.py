"""Inventory tasks: thin, idempotent, ids only (core.tasks convention)."""

from __future__ import annotations

import logging

from core.tasks import backoff, database_backoff, task
from inventory import pipeline, services
from inventory.choices import JobState
from inventory.models import ImportJob, Watch

log = logging.getLogger(__name__)

MAX_IMPORT_RETRIES = 3


@task(name="inventory.run_import", bind=True, time_limit=1900, max_retries=MAX_IMPORT_RETRIES)
def run_import(self, job_id: int) -> int | None:  # type: ignore[no-untyped-def]
    """Import one job's version, then start its pipeline (scan → licenses → policies)."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.state == JobState.SUCCEEDED:
        return job.version_id if job else None
    can_retry = self.request.retries < MAX_IMPORT_RETRIES and not self.request.is_eager
    try:
        version = services.execute_import_job(job_id=job_id, retry_transient=can_retry)
    except services.ImportFailed as exc:
        if exc.transient and can_retry:  # the job is queued again, its error shown, until this retry runs
            retries = self.request.retries
            wait = database_backoff(retries) if exc.kind == services.DATABASE_ERROR_KIND else backoff(retries)
            raise self.retry(countdown=wait) from exc
        return None
    pipeline.start(version.pk)
    return version.pk


@task(name="inventory.run_step", time_limit=3700)
def run_step(step_name: str, version_id: int) -> str:
    """A pipeline step that has no task of its own."""
    pipeline.run_step(step_name, version_id)
    return "ok"


@task(name="inventory.pipeline_failed", time_limit=120)
def pipeline_failed(version_id: int) -> None:
    """A step's task died (time limit, lost worker): announce the version so it is still evaluated."""
    log.error("pipeline of version %s stopped at a failed step; evaluating what is known", version_id)
    pipeline.announce([version_id])


@task(name="inventory.poll_watches", time_limit=660)
def poll_watches() -> int:
    started = 0
    for watch in Watch.objects.filter(enabled=True).select_related("model", "application", "created_by"):
        if services.poll_watch(watch=watch) is not None:
            started += 1
    return started
