"""Inventory tasks: thin, idempotent, ids only (STYLE.md §9)."""

from __future__ import annotations

import logging

from celery import shared_task

from inventory import pipeline, services
from inventory.models import ImportJob, Watch

log = logging.getLogger(__name__)

MAX_IMPORT_RETRIES = 3


@shared_task(
    name="inventory.run_import",
    bind=True,
    acks_late=True,
    max_retries=MAX_IMPORT_RETRIES,
    soft_time_limit=1800,
    time_limit=1900,
)
def run_import(self, job_id: int) -> int | None:  # type: ignore[no-untyped-def]
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.state == "succeeded":
        return job.version_id if job else None
    try:
        version = services.execute_import_job(job_id=job_id)
    except services.ImportFailed as exc:
        if exc.transient and self.request.retries < MAX_IMPORT_RETRIES and not self.request.is_eager:
            ImportJob.objects.filter(pk=job_id).update(state="queued", step=f"retrying after: {exc}")
            raise self.retry(countdown=min(300, 15 * 2**self.request.retries)) from exc
        return None
    run_pipeline.delay(version.pk)
    return version.pk


@shared_task(name="inventory.run_pipeline", acks_late=True, soft_time_limit=3600, time_limit=3700)
def run_pipeline(version_id: int) -> dict[str, str]:
    """Scan, attribute licenses and evaluate policies for one version (each step records its own row)."""
    return pipeline.run_all(version_id)


@shared_task(name="inventory.poll_watches", acks_late=True, soft_time_limit=600, time_limit=660)
def poll_watches() -> int:
    started = 0
    for watch in Watch.objects.filter(enabled=True).select_related("model", "application", "created_by"):
        if services.poll_watch(watch=watch) is not None:
            started += 1
    return started
