"""Every task (core.tasks) retries a lost database connection itself, soon and a bounded number of times.

The fault suite cuts a real worker's PostgreSQL connection (test_database_restart.py); where that cut lands
between the queries a service handles itself, the task sees `OperationalError`. Here a task meets it on
its first run, on a real (in-process) worker: the connection is dropped and the task runs again ~2 s later.
"""

from __future__ import annotations

import threading

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import OperationalError

from core.tasks import database_backoff, task
from governance.celery import app
from tests.faults.conftest import _reset_producer_pool

RUNS: list[int] = []
DONE = threading.Event()


@task(name="tests.faults.loses_its_connection_once", max_retries=2)
def loses_its_connection_once() -> int:
    RUNS.append(len(RUNS) + 1)
    if len(RUNS) == 1:
        raise OperationalError("terminating connection due to administrator command")
    DONE.set()
    return len(RUNS)


@pytest.fixture
def memory_worker():
    previous = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"
    _reset_producer_pool()
    try:
        with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager, app.conf.broker_url = previous
        _reset_producer_pool()


def test_a_task_that_lost_its_database_connection_is_retried(memory_worker):
    RUNS.clear()
    DONE.clear()
    loses_its_connection_once.delay()
    assert DONE.wait(database_backoff(0) + 15), f"not retried: runs {RUNS}"
    assert RUNS == [1, 2]


@pytest.mark.django_db  # the task closes the database connections that broke (drop_broken_connections)
def test_eager_and_direct_calls_raise_instead():
    RUNS.clear()
    with pytest.raises(OperationalError):
        loses_its_connection_once()
    assert RUNS == [1]
