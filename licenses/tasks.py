"""Celery tasks: thin, idempotent, named; the work is in services."""

from __future__ import annotations

from celery import shared_task

from licenses import services


@shared_task(
    name="licenses.analyse_version",
    acks_late=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=600,
    time_limit=660,
)
def analyse_version(version_id: int) -> None:
    services.analyse_version(version_id=version_id)


@shared_task(name="licenses.reanalyse_all", acks_late=True, soft_time_limit=3000, time_limit=3300)
def reanalyse_all() -> int:
    """After a catalog edit: every analysed version again (the catalog is rebuilt once)."""
    return services.reanalyse_all_versions()
