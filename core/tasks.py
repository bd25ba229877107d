"""The house convention for Celery tasks (STYLE.md §9), in one place.

    from core.tasks import task

    @task(name="scanning.scan_version", time_limit=2 * 3600, retry_on=(HubUnavailable,))
    def scan_version(scan_run_id: int) -> str: ...

Every task is named explicitly, takes ids only, acknowledges late and is re-queued when its
worker dies (`acks_late` + `reject_on_worker_lost`), has a hard time limit with a soft limit a
little before it (so the task can record its failure), and retries only the exceptions it names,
with exponential backoff and jitter, a bounded number of times.

A task whose database connection is lost (a PostgreSQL restart or failover, a terminated backend:
`OperationalError`/`InterfaceError` out of the task) closes the broken connection and is retried like
a transient error, sooner (`DATABASE_RETRY_BASE`), within the same bound — so a connection cut never
fails a task for good while its row says queued or running. Tasks are idempotent, so a re-run is safe.

Enqueue with `some_task.delay_on_commit(...)` from services (the row the task reads is committed
first); `apply_async` only where a countdown or a chain is needed. The beat schedule lives in
settings (`CELERY_BEAT_SCHEDULE`), never in a tasks module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.db import InterfaceError, OperationalError, connections

log = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT = 300
MAX_BACKOFF = 600
DATABASE_RETRY_BASE = 2  # seconds before the first retry after a lost database connection (then 4, 8, …)
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


def drop_broken_connections() -> None:
    """Close database connections that saw an error and no longer answer (the next query reconnects).

    Like `close_old_connections()`, but never one inside a transaction block (its owner rolls it back).
    """
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


class ModelgateTask(DjangoTask):  # type: ignore[misc]  # celery is untyped; DjangoTask: delay_on_commit()
    """The base of every task: a lost database connection is closed and the task retried (bounded)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except DATABASE_ERRORS as exc:
            drop_broken_connections()
            request = self.request
            if request.is_eager or request.called_directly or request.retries >= (self.max_retries or 0):
                raise
            log.warning("task %s lost its database connection (%s); retrying", self.name, exc)
            raise self.retry(exc=exc, countdown=database_backoff(request.retries)) from exc


def soft_limit(time_limit: int) -> int:
    """The soft limit a task gets for a hard limit: 5% (at least 10 s) earlier."""
    return time_limit - max(10, time_limit // 20)


def task(
    *,
    name: str,
    time_limit: int = DEFAULT_TIME_LIMIT,
    retry_on: tuple[type[BaseException], ...] = (),
    max_retries: int = 3,
    bind: bool = False,
    **options: Any,
) -> Callable[[Callable[..., Any]], Any]:
    """A named, late-acknowledged, time-limited Celery task that retries only `retry_on`."""
    settings: dict[str, Any] = {
        "name": name,
        "bind": bind,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "time_limit": time_limit,
        "soft_time_limit": soft_limit(time_limit),
        "max_retries": max_retries,
        "base": ModelgateTask,
    }
    if retry_on:
        settings.update(autoretry_for=retry_on, retry_backoff=15, retry_backoff_max=MAX_BACKOFF, retry_jitter=True)
    settings.update(options)
    return shared_task(**settings)  # type: ignore[no-any-return]  # a celery Task (untyped)


def backoff(retries: int, *, base: int = 15, cap: int = MAX_BACKOFF) -> int:
    """Countdown of a manual retry: base·2ⁿ seconds, capped (for tasks that decide themselves to retry)."""
    return int(min(cap, base * 2**retries))


def database_backoff(retries: int) -> int:
    """Countdown of a retry after a lost database connection: a reconnect usually works within seconds."""
    return backoff(retries, base=DATABASE_RETRY_BASE, cap=60)
