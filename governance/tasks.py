"""Celery tasks of the governance app: thin, idempotent, named (core.tasks convention); the work is in
overview/notifications."""

from __future__ import annotations

from typing import Any

from core.tasks import task
from governance import notifications, overview


@task(name="governance.take_risk_snapshot", time_limit=600)
def take_risk_snapshot() -> int:
    return overview.take_snapshot().total_risk


@task(name="governance.refresh_rollups", time_limit=300)
def refresh_rollups() -> int | None:
    """The refresh's duration in ms; None when another worker was refreshing (it holds the lease)."""
    run = overview.refresh_rollups_once()
    return run.duration_ms if run is not None else None


@task(name="governance.process_feed", time_limit=300)
def process_feed() -> dict[str, int]:
    return notifications.process_feed()


@task(name="governance.notify_expiring_waivers", time_limit=300)
def notify_expiring_waivers() -> int:
    return notifications.notify_expiring_waivers()


@task(name="governance.send_daily_digest", time_limit=600)
def send_daily_digest() -> int:
    return notifications.send_digest()


@task(name="governance.send_event_email", time_limit=120)
def send_event_email(payload: dict[str, Any]) -> int:
    return notifications.email_event(payload)


@task(name="governance.deliver_webhook", time_limit=60)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt; on failure the next attempt is scheduled with exponential backoff (bounded)."""
    wait = notifications.attempt_delivery(delivery_id)
    if wait is not None:
        deliver_webhook.apply_async((delivery_id,), countdown=wait)
        return f"retry in {wait}s"
    return "done"


@task(name="governance.retry_stalled_deliveries", time_limit=120)
def retry_stalled_deliveries() -> int:
    """Re-enqueue deliveries whose scheduled retry was lost (worker restart): older than the longest backoff."""
    ids = notifications.stalled_delivery_ids()
    for pk in ids:
        deliver_webhook.delay(pk)
    return len(ids)
