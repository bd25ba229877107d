"""Celery tasks of the policies app: thin, idempotent, named; the work is in services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.schedules import crontab
from django.conf import settings
from django.core.mail import send_mail

from governance.celery import app
from policies import services

app.conf.beat_schedule.update(
    {
        "policies-expire-waivers": {"task": "policies.expire_waivers", "schedule": crontab(minute=5)},
        "policies-waiver-reminders": {"task": "policies.remind_waivers", "schedule": crontab(hour=7, minute=0)},
    }
)


@shared_task(name="policies.evaluate_versions", acks_late=True, time_limit=1800, soft_time_limit=1700)
def evaluate_versions_task(*, version_ids: list[int] | None = None) -> dict[str, Any]:
    return services.evaluate_versions(version_ids=version_ids).as_dict()


@shared_task(name="policies.expire_waivers", acks_late=True, time_limit=600, soft_time_limit=540)
def expire_waivers() -> list[int]:
    return services.expire_waivers()


@shared_task(name="policies.remind_waivers", acks_late=True, time_limit=600, soft_time_limit=540)
def remind_waivers() -> int:
    sent = 0
    for waiver in services.waivers_due_for_reminder():
        recipients = {waiver.requested_by.email} if waiver.requested_by and waiver.requested_by.email else set()
        recipients |= set(services.reviewer_emails(categories=[waiver.policy.category, "security", "legal"]))
        if recipients:
            send_mail(
                subject=f"[Modelgate] Waiver expires {waiver.expires_at:%Y-%m-%d}: {waiver.policy}",
                message=(
                    f"The waiver of {waiver.policy} for {waiver.target_label} ({waiver.owner_label}) expires on "
                    f"{waiver.expires_at:%Y-%m-%d %H:%M} UTC. Its violations reopen then.\n\n"
                    f"{settings.MODELGATE_SITE_URL.rstrip('/')}{waiver.get_absolute_url()}"
                ),
                from_email=None,
                recipient_list=sorted(recipients),
            )
        services.mark_reminded(waiver=waiver)
        sent += 1
    return sent


@shared_task(name="policies.notify_review_reopened", acks_late=True, time_limit=120, soft_time_limit=100)
def notify_review_reopened(*, version_id: int, reason: str) -> int:
    from inventory.models import ModelVersion

    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    recipients = services.reviewer_emails()
    if not recipients:
        return 0
    from django.urls import reverse

    url = settings.MODELGATE_SITE_URL.rstrip("/") + reverse("policies:version_review", args=[version_id])
    return send_mail(
        subject=f"[Modelgate] Review reopened: {version}",
        message=f"{version} was approved, but {reason.lower()}. Its review is open again.\n\n{url}",
        from_email=None,
        recipient_list=recipients,
    )
