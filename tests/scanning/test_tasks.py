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
