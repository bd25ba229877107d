"""Scanning tasks: thin, idempotent, ids only (STYLE.md §9). The services do the work."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.schedules import crontab

from governance.celery import app
from scanning import services

log = logging.getLogger(__name__)

MAX_SCAN_RETRIES = 4

app.conf.beat_schedule.update(
    {"scanning-rescan-outdated": {"task": "scanning.rescan_outdated", "schedule": crontab(minute="7", hour="*")}}
)


@shared_task(
    name="scanning.scan_version",
    bind=True,
    acks_late=True,
    max_retries=MAX_SCAN_RETRIES,
    soft_time_limit=2 * 3600,
    time_limit=2 * 3600 + 300,
)
def scan_version(self, scan_run_id: int) -> str | None:  # type: ignore[no-untyped-def]
    """Execute one queued `ScanRun`; transient Hub errors are retried with backoff."""
    try:
        run = services.execute_scan(scan_run_id=scan_run_id)
    except services.ScanFailed as exc:
        if exc.transient and self.request.retries < MAX_SCAN_RETRIES and not self.request.is_eager:
            services.requeue_scan(scan_run_id=scan_run_id, reason=str(exc))
            raise self.retry(countdown=min(600, 15 * 2**self.request.retries)) from exc
        return None
    return run.verdict or None


@shared_task(name="scanning.rescan_outdated", acks_late=True, soft_time_limit=600, time_limit=660)
def rescan_outdated(limit: int = 200) -> int:
    """Hourly: re-enqueue runs whose attempt was lost, then rescan versions scanned with older rules."""
    recovered = services.recover_stale_scans()
    if recovered:
        log.warning("re-queued %d lost scan runs: %s", len(recovered), recovered)
    return len(services.rescan_outdated(limit=limit))
