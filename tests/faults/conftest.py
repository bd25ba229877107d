"""The fault suite's machinery: real Celery worker processes on Redis, sharing the test's PostgreSQL database.

`fault_broker` points this process's Celery app at Redis (not eager) with a queue of its own;
`workers.start()` launches `celery -A governance worker` subprocesses (prefork, like production) on that
queue and database, with the Hub environment of `hub_env`; a worker can be killed (SIGKILL), frozen
(SIGSTOP) and thawed, and every worker still running is stopped when the test ends.

These tests need what CI runs on: PostgreSQL (`DATABASE_URL`) and Redis (`MODELGATE_FAULTS_BROKER`,
default redis://127.0.0.1:6379/9). Without them they fail with a message saying so, never skip.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from governance.celery import app
from tests.hubserver.server import TEST_TOKEN, HubServer

ROOT = Path(__file__).resolve().parents[2]
BROKER_URL = os.environ.get("MODELGATE_FAULTS_BROKER", "redis://127.0.0.1:6379/9")
LEASE_SECONDS = 4  # MODELGATE_SCAN_LEASE_SECONDS of the workers (production: 120)


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1) -> object:
    """Poll `condition` until it returns something truthy; fail the test naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database), for the workers."""
    s = connection.settings_dict
    auth = quote(s.get("USER") or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def fault_services(transactional_db) -> None:
    if connection.vendor != "postgresql":
        pytest.fail(
            "the fault suite runs real worker processes on a shared database: "
            "set DATABASE_URL=postgres://… (CI does; e.g. postgres://postgres@127.0.0.1:5432/modelgate_faults)"
        )
    if not _redis_reachable(BROKER_URL):
        pytest.fail(f"the fault suite needs Redis at {BROKER_URL} (MODELGATE_FAULTS_BROKER)")


def _reset_producer_pool() -> None:
    """Forget what the app cached for the previous broker URL and default queue (pools, queues, router)."""
    app._pool = None
    app.__dict__.pop("amqp", None)


@pytest.fixture
def fault_broker(fault_services, monkeypatch) -> Iterator[str]:
    """This process sends tasks to Redis, on a queue of this test's own (returned).

    Celery reads the CELERY_BROKER_URL environment variable before `conf.broker_url` (CI sets it for
    the rest of the suite), so the variable is pointed at the fault broker too."""
    queue = f"faults-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("CELERY_BROKER_URL", BROKER_URL)
    previous = (app.conf.task_always_eager, app.conf.broker_url, app.conf.task_default_queue)
    app.conf.task_always_eager = False
    app.conf.broker_url = BROKER_URL
    app.conf.task_default_queue = queue
    _reset_producer_pool()
    try:
        yield queue
    finally:
        import redis

        client = redis.Redis.from_url(BROKER_URL)
        client.delete(queue)  # messages of workers that died: nobody else consumes this queue
        app.conf.task_always_eager, app.conf.broker_url, app.conf.task_default_queue = previous
        _reset_producer_pool()


class WorkerProcess:
    """One `celery worker` process group (its main process and prefork children)."""

    def __init__(self, name: str, nodename: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.nodename = nodename
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"worker {self.name} exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            return " ready." in self.log()

        wait_for(ready, timeout=timeout, what=f"worker {self.name} to be ready")

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the whole worker (main process and pool children), like an OOM killer or a freeze."""
        os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def kill_all(self) -> None:
        """End of test: the whole group goes (pool children would outlive a main process killed alone)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()


class Workers:
    def __init__(self, queue: str, hub: HubServer, tmp: Path) -> None:
        self.queue, self.hub, self.tmp = queue, hub, tmp
        self.started: list[WorkerProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "PYTEST_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="tests.faults.worker_settings",
            DATABASE_URL=database_url(),
            CELERY_BROKER_URL=BROKER_URL,
            MODELGATE_FAULTS_QUEUE=self.queue,
            SECRET_KEY="fault-suite-secret-key-not-for-production",
            DEBUG="1",
            LOG_LEVEL="INFO",
            HF_ENDPOINT=self.hub.endpoint,
            HF_TOKEN=TEST_TOKEN,
            HF_TIMEOUT="5",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            MODELGATE_DOWNLOAD_DIR=str(self.tmp / "downloads"),
            MODELGATE_SCAN_LEASE_SECONDS=str(LEASE_SECONDS),
            MODELGATE_SCAN_WORKERS="1",
            MODELGATE_LICENSE_HUB_LOOKUP="0",
            C_FORCE_ROOT="1",
        )
        env.update(extra)
        return env

    def start(
        self,
        name: str,
        *,
        concurrency: int = 1,
        beat_every: float | None = None,
        standby: bool = False,
        wait: bool = True,
        **env: str,
    ) -> WorkerProcess:
        """Start a worker (and wait until it consumes); `beat_every` also runs scan recovery that often.

        A `standby` worker starts on a queue nobody sends to (startup costs seconds: start it early) and
        joins the test's queue with `join()`; it still sends to the test's queue.
        """
        nodename = f"{name}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
        queue = f"{self.queue}-standby" if standby else self.queue
        command = [sys.executable, "-m", "celery", "-A", "governance", "worker", "--pool=prefork"]
        command += [f"--concurrency={concurrency}", "-Q", queue, "-n", nodename, "--loglevel=INFO"]
        command += ["--without-mingle", "--without-gossip"]
        if beat_every is not None:
            command += ["--beat", f"--schedule={self.tmp / f'beat-{name}'}"]
            env["MODELGATE_FAULTS_RECOVER_EVERY"] = str(beat_every)
        worker = WorkerProcess(name, nodename, command, self.env(**env), self.tmp / f"worker-{name}.log")
        self.started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def join(self, worker: WorkerProcess) -> None:
        """A standby worker starts consuming the test's queue."""
        replies = app.control.add_consumer(self.queue, destination=[worker.nodename], reply=True, timeout=10)
        assert replies, f"worker {worker.name} did not answer add_consumer"

    def stop_all(self) -> None:
        for worker in self.started:
            worker.kill_all()


@pytest.fixture
def workers(fault_broker: str, hub_env: HubServer, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(fault_broker, hub_env, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
