"""Scanning tasks: thin, named, acks_late, bounded retries, time limits, enqueued on commit; the beat entry."""

from __future__ import annotations

import pytest

from governance.celery import app
from scanning import services, tasks
from scanning.choices import ScanState, ScanTrigger
from scanning.models import ScanRun
from tests.hubserver.repos import malicious_pickle_bytes, safetensors_bytes
from tests.scanning.test_services import local_version

pytestmark = pytest.mark.django_db


def test_task_options():
    task = tasks.scan_version
    assert task.name == "scanning.scan_version"
    assert task.acks_late is True
    assert task.max_retries == tasks.MAX_SCAN_RETRIES
    assert task.soft_time_limit and task.time_limit and task.time_limit > task.soft_time_limit
    assert tasks.rescan_outdated.name == "scanning.rescan_outdated"


def test_beat_schedule_has_the_rescan():
    entry = app.conf.beat_schedule["scanning-rescan-outdated"]
    assert entry["task"] == "scanning.rescan_outdated"


def test_request_enqueues_on_commit_and_the_task_runs_it(tmp_path, admin_user, django_capture_on_commit_callbacks):
    version = local_version(tmp_path, {"pytorch_model.bin": malicious_pickle_bytes()})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.request_scan(version=version, user=admin_user)
    assert ScanRun.objects.get(pk=run.pk).state == ScanState.QUEUED
    for callback in callbacks:
        callback()  # the eager task runs the scan
    run.refresh_from_db()
    assert run.state == ScanState.SUCCEEDED and run.verdict == "malicious"


def test_task_is_idempotent(tmp_path):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services.scan_version_now(version.pk)
    assert tasks.scan_version.run(run.pk) == "safe"
    assert ScanRun.objects.get(pk=run.pk).attempts == 1


def test_rescan_outdated_task(tmp_path, django_capture_on_commit_callbacks):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services.scan_version_now(version.pk)
    ScanRun.objects.filter(pk=run.pk).update(rules_version="1999.1.1")
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.rescan_outdated.run() == 1
    latest = services.latest_scan(version)
    assert latest.trigger == ScanTrigger.RULES_CHANGED and latest.state == ScanState.SUCCEEDED
    assert latest.rules_version == services.RULES_VERSION
    assert tasks.rescan_outdated.run() == 0


def test_lost_runs_are_recovered_by_the_minutely_task(tmp_path, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    long_ago = timezone.now() - services.lease_duration() - services.QUEUE_STALE_AFTER - timedelta(minutes=5)
    lost_running = local_version(tmp_path / "a", {"model.safetensors": safetensors_bytes()})
    lost_queued = local_version(tmp_path / "b", {"model.safetensors": safetensors_bytes()})
    busy = local_version(tmp_path / "c", {"model.safetensors": safetensors_bytes()})
    r1 = services._create_run(version=lost_running, user=None, trigger=ScanTrigger.IMPORT)
    r2 = services._create_run(version=lost_queued, user=None, trigger=ScanTrigger.IMPORT)
    r3 = services._create_run(version=busy, user=None, trigger=ScanTrigger.IMPORT)
    ScanRun.objects.filter(pk=r1.pk).update(state=ScanState.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
    ScanRun.objects.filter(pk=r2.pk).update(created_at=long_ago)
    # Started long ago but its worker still renews the lease: alive.
    ScanRun.objects.filter(pk=r3.pk).update(state=ScanState.RUNNING, started_at=long_ago, heartbeat_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.recover_scans.run() == 2
    assert ScanRun.objects.get(pk=r1.pk).state == ScanState.SUCCEEDED
    assert ScanRun.objects.get(pk=r2.pk).state == ScanState.SUCCEEDED
    assert ScanRun.objects.get(pk=r3.pk).state == ScanState.RUNNING  # its worker is alive: left alone
