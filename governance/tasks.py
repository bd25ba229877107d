"""Celery tasks of the governance app: thin, idempotent, named; the work is in overview/notifications."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.schedules import crontab

from governance import notifications
from governance.celery import app

app.conf.beat_schedule.update(
    {
        "governance-refresh-rollups": {"task": "governance.refresh_rollups", "schedule": crontab(minute="*")},
        "governance-risk-snapshot": {"task": "governance.take_risk_snapshot", "schedule": crontab(hour=23, minute=55)},
        "governance-notification-feed": {"task": "governance.process_feed", "schedule": crontab(minute="*")},
        "governance-waivers-expiring": {
            "task": "governance.notify_expiring_waivers",
            "schedule": crontab(hour=6, minute=30),
        },
        "governance-daily-digest": {"task": "governance.send_daily_digest", "schedule": crontab(hour=7, minute=0)},
        "governance-retry-deliveries": {
            "task": "governance.retry_stalled_deliveries",
            "schedule": crontab(minute="*/10"),
        },
    }
)


@shared_task(name="governance.take_risk_snapshot", acks_late=True, time_limit=600, soft_time_limit=540)
def take_risk_snapshot() -> int:
    from governance.overview import take_snapshot

    return take_snapshot().total_risk


@shared_task(name="governance.refresh_rollups", acks_late=True, time_limit=300, soft_time_limit=270)
def refresh_rollups() -> int:
    from governance.overview import refresh_rollups as refresh

    return refresh().duration_ms


@shared_task(name="governance.process_feed", acks_late=True, time_limit=300, soft_time_limit=270)
def process_feed() -> dict[str, int]:
    return notifications.process_feed()


@shared_task(name="governance.notify_expiring_waivers", acks_late=True, time_limit=300, soft_time_limit=270)
def notify_expiring_waivers() -> int:
    return notifications.notify_expiring_waivers()


@shared_task(name="governance.send_daily_digest", acks_late=True, time_limit=600, soft_time_limit=540)
def send_daily_digest() -> int:
    return notifications.send_digest()


@shared_task(name="governance.send_event_email", acks_late=True, time_limit=120, soft_time_limit=100)
def send_event_email(payload: dict[str, Any]) -> int:
    return notifications.email_event(payload)


@shared_task(name="governance.deliver_webhook", acks_late=True, time_limit=60, soft_time_limit=50)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt; on failure the next attempt is scheduled with exponential backoff (bounded)."""
    wait = notifications.attempt_delivery(delivery_id)
    if wait is not None:
        deliver_webhook.apply_async((delivery_id,), countdown=wait)
        return f"retry in {wait}s"
    return "done"


@shared_task(name="governance.retry_stalled_deliveries", acks_late=True, time_limit=120, soft_time_limit=100)
def retry_stalled_deliveries() -> int:
    """Re-enqueue deliveries whose scheduled retry was lost (worker restart): older than the longest backoff."""
    from datetime import timedelta

    from django.utils import timezone

    from governance.models import DeliveryState, WebhookDelivery

    cutoff = timezone.now() - timedelta(seconds=notifications.BACKOFF_CAP + 300)
    ids = list(
        WebhookDelivery.objects.filter(state__in=[DeliveryState.PENDING, DeliveryState.RETRYING])
        .filter(created_at__lt=cutoff)
        .exclude(last_attempt_at__gte=cutoff)
        .values_list("pk", flat=True)[:500]
    )
    for pk in ids:
        deliver_webhook.delay(pk)
    return len(ids)
