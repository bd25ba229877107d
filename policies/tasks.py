"""Celery tasks of the policies app: thin, idempotent, named (core.tasks convention); the work is in services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from core.tasks import task
from inventory import pipeline
from inventory.models import ModelVersion
from policies import services


@task(name="policies.evaluate_versions", time_limit=1800)
def evaluate_versions_task(*, version_ids: list[int] | None = None) -> dict[str, Any]:
    return services.evaluate_versions(version_ids=version_ids).as_dict()


@task(name="policies.pipeline_evaluate", time_limit=1800)
def pipeline_evaluate(version_id: int) -> dict[str, Any]:
    """The pipeline's last step: the one evaluation of the imported version."""
    result = pipeline.run_step("policies", version_id)
    return result.as_dict() if hasattr(result, "as_dict") else {}


@task(name="policies.expire_waivers", time_limit=600)
def expire_waivers() -> list[int]:
    return services.expire_waivers()


@task(name="policies.remind_waivers", time_limit=600)
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


@task(name="policies.notify_review_reopened", time_limit=120)
def notify_review_reopened(*, version_id: int, reason: str) -> int:
    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    recipients = services.reviewer_emails()
    if not recipients:
        return 0
    url = settings.MODELGATE_SITE_URL.rstrip("/") + reverse("policies:version_review", args=[version_id])
    return send_mail(
        subject=f"[Modelgate] Review reopened: {version}",
        message=f"{version} was approved, but {reason.lower()}. Its review is open again.\n\n{url}",
        from_email=None,
        recipient_list=recipients,
    )
