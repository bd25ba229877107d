"""A killed worker's scan is taken over within the lease, exactly once, and its late writes are refused."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from scanning import services
from scanning.choices import ScanState, ScanTrigger
from scanning.models import Finding, ScanFileResult, ScanRun
from tests.hubserver.repos import safetensors_bytes
from tests.scanning.test_services import local_version

pytestmark = pytest.mark.django_db


def _running(run: ScanRun, *, owner: str, beat_ago: timedelta) -> None:
    ScanRun.objects.filter(pk=run.pk).update(
        state=ScanState.RUNNING,
        lease_owner=owner,
        started_at=timezone.now() - timedelta(hours=1),
        heartbeat_at=timezone.now() - beat_ago,
    )


def test_a_fresh_lease_is_respected_and_an_expired_one_taken_over(tmp_path):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services._create_run(version=version, user=None, trigger=ScanTrigger.IMPORT)
    _running(run, owner="worker-a", beat_ago=timedelta(seconds=10))
    assert services._claim(run.pk) is None
    _running(run, owner="worker-a", beat_ago=services.lease_duration() + timedelta(seconds=1))
    taken = services._claim(run.pk)
    assert taken is not None and taken.lease_owner not in ("", "worker-a") and taken.attempts == 1
    assert services._claim(run.pk) is None  # the new owner's lease is fresh


def test_the_dead_owner_cannot_record_after_the_take_over(tmp_path):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services._create_run(version=version, user=None, trigger=ScanTrigger.IMPORT)
    old = services._claim(run.pk)
    assert old is not None
    ScanRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - services.lease_duration() * 2)
    new = services.execute_scan(scan_run_id=run.pk)  # the take-over runs to the end
    assert new.state == ScanState.SUCCEEDED and new.files_done == 1
    mf = version.files.get()
    outcome = services._scan_local(version, mf, services.scan_limits())
    with pytest.raises(services.ScanLeaseLost):
        services._record_file(old, mf, outcome, "")
    with pytest.raises(services.ScanLeaseLost):
        services._finish(old, [mf], ["safe"], {})
    services._fail(old, "late failure of a dead worker", "internal")
    run.refresh_from_db()
    assert run.state == ScanState.SUCCEEDED and run.files_done == 1 and run.error == ""
    assert ScanFileResult.objects.filter(scan_run=run).count() == 1
    assert Finding.objects.filter(scan_run=run).count() == new.finding_count


@pytest.mark.django_db(transaction=True)
def test_two_attempts_claiming_at_once_one_wins(tmp_path):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services._create_run(version=version, user=None, trigger=ScanTrigger.IMPORT)
    _running(run, owner="dead", beat_ago=services.lease_duration() * 2)
    barrier = threading.Barrier(4)
    won: list[bool] = []

    def attempt() -> None:
        barrier.wait()
        try:
            won.append(services._claim(run.pk) is not None)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [False, False, False, True]
