"""Scanning tasks: thin, idempotent, ids only (core.tasks convention). The services do the work."""

from __future__ import annotations

import logging

from core.tasks import backoff, task
from inventory import pipeline
from scanning import services

log = logging.getLogger(__name__)

MAX_SCAN_RETRIES = 4
SCAN_TIME_LIMIT = 2 * 3600 + 300


@task(name="scanning.scan_version", bind=True, time_limit=SCAN_TIME_LIMIT, max_retries=MAX_SCAN_RETRIES)
def scan_version(self, scan_run_id: int) -> str | None:  # type: ignore[no-untyped-def]
    """Execute one queued `ScanRun`; transient Hub errors are retried with backoff."""
    try:
        run = services.execute_scan(scan_run_id=scan_run_id)
    except services.ScanFailed as exc:
        if exc.transient and self.request.retries < MAX_SCAN_RETRIES and not self.request.is_eager:
            services.requeue_scan(scan_run_id=scan_run_id, reason=str(exc))
            raise self.retry(countdown=backoff(self.request.retries)) from exc
        return None
    return run.verdict or None


@task(name="scanning.pipeline_scan", bind=True, time_limit=SCAN_TIME_LIMIT, max_retries=MAX_SCAN_RETRIES)
def pipeline_scan(self, version_id: int) -> str | None:  # type: ignore[no-untyped-def]
    """The pipeline's scan step: the scan task's own limits and retries, facts held for the last step."""
    try:
        run = pipeline.run_step("scan", version_id)
    except services.ScanFailed as exc:
        if exc.transient and self.request.retries < MAX_SCAN_RETRIES and not self.request.is_eager:
            services.requeue_version_scan(version_id=version_id, reason=str(exc))
            raise self.retry(countdown=backoff(self.request.retries)) from exc
        return None  # recorded on the run; the chain goes on (policies fail closed on a failed scan)
    return getattr(run, "verdict", None) or None


@task(name="scanning.recover_scans", time_limit=120)
def recover_scans() -> int:
    """Every minute: take over runs whose worker died (lease expired) or whose message was lost."""
    recovered = services.recover_stale_scans()
    if recovered:
        log.warning("re-queued %d lost scan runs: %s", len(recovered), recovered)
    return len(recovered)


@task(name="scanning.rescan_outdated", time_limit=660)
def rescan_outdated(limit: int = 200) -> int:
    """Hourly: rescan versions scanned with older rules."""
    return len(services.rescan_outdated(limit=limit))
