"""Scanning services: request (one active run per version), execute (local folder), pipeline step, rescans."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.models import AuditEvent
from inventory import pipeline
from inventory.choices import Source
from inventory.models import ModelVersion
from scanning import services
from scanning.choices import ScanState, ScanTrigger, ScanVerdict
from scanning.models import Finding, ScanFileResult, ScanRun
from scanning.scanners import base
from tests.factories import ModelFactory, ModelFileFactory, ModelVersionFactory
from tests.hubserver.repos import malicious_pickle_bytes, safetensors_bytes

pytestmark = pytest.mark.django_db


def local_version(folder: Path, files: dict[str, bytes], *, record: dict[str, str] | None = None) -> ModelVersion:
    """A version imported from `folder` with `files` written there (sha256 recorded unless overridden)."""
    model = ModelFactory(source=Source.LOCAL)
    version = ModelVersionFactory(model=model, local_path=str(folder), total_size=sum(map(len, files.values())))
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        sha = (record or {}).get(rel, hashlib.sha256(data).hexdigest())
        ModelFileFactory(version=version, path=rel, size=len(data), sha256=sha, is_lfs=False, format="")
    return version


def test_request_scan_queues_once_and_audits(admin_user, django_capture_on_commit_callbacks, tmp_path):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    with django_capture_on_commit_callbacks() as callbacks:
        run = services.request_scan(version=version, user=admin_user)
    assert run.state == ScanState.QUEUED and run.trigger == ScanTrigger.MANUAL
    assert run.files_total == 1 and run.bytes_total == version.total_size
    assert run.rules_version == base.RULES_VERSION and run.requested_by == admin_user
    assert len(callbacks) == 1  # enqueued on commit, not before
    assert AuditEvent.objects.filter(action="scan.request", target_id=str(version.pk)).count() == 1
    with pytest.raises(services.ScanAlreadyActive):
        services.request_scan(version=version, user=admin_user)
    assert ScanRun.objects.filter(version=version).count() == 1


def test_execute_scan_local_records_results_progress_and_verdict(
    admin_user, tmp_path, django_capture_on_commit_callbacks
):
    version = local_version(
        tmp_path,
        {
            "model.safetensors": safetensors_bytes(),
            "sub/pytorch_model.bin": malicious_pickle_bytes("true"),
            "config.json": b'{"model_type": "bert"}',
        },
    )
    seen: list[list[int]] = []
    pipeline.on_facts_changed(seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = services.request_scan(version=version, user=admin_user)
    finally:
        pipeline._FACT_LISTENERS.remove(seen.append)
    run.refresh_from_db()
    assert run.state == ScanState.SUCCEEDED
    assert run.verdict == ScanVerdict.MALICIOUS
    assert run.files_done == run.files_total == 3
    assert run.bytes_done == run.bytes_total == version.total_size
    assert run.bytes_read > 0 and not run.remote and run.bytes_transferred == 0
    assert run.started_at and run.finished_at and run.duration is not None
    assert run.finding_count == Finding.objects.filter(scan_run=run).count() >= 1
    bad = Finding.objects.get(scan_run=run, path="sub/pytorch_model.bin", rule="pickle.global.denied")
    assert bad.category == "process" and bad.severity == "critical" and bad.verdict == "malicious"
    assert "os.system" in bad.evidence and bad.file.path == "sub/pytorch_model.bin"
    results = {r.path: r for r in ScanFileResult.objects.filter(scan_run=run)}
    assert results["model.safetensors"].verdict == "safe" and results["model.safetensors"].format == "safetensors"
    assert results["model.safetensors"].sha256 == hashlib.sha256(safetensors_bytes()).hexdigest()
    version.refresh_from_db()
    assert version.scan_verdict == "malicious"
    formats = dict(version.files.values_list("path", "format"))
    assert formats["model.safetensors"] == "safetensors" and formats["sub/pytorch_model.bin"] == "pickle"
    assert [version.pk] in seen  # the policy engine hears about the new findings


def test_identity_mismatch_is_a_finding(tmp_path):
    data = safetensors_bytes()
    version = local_version(tmp_path, {"model.safetensors": data}, record={"model.safetensors": "0" * 64})
    run = services.scan_version_now(version.pk)
    assert run.state == ScanState.SUCCEEDED and run.verdict == ScanVerdict.UNSCANNABLE
    finding = Finding.objects.get(scan_run=run, rule="identity.mismatch")
    assert "0" * 64 in finding.evidence and hashlib.sha256(data).hexdigest() in finding.evidence


def test_missing_and_unsafe_files_are_unscannable_not_crashes(tmp_path):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    ModelFileFactory(version=version, path="gone.bin", size=10, sha256="")
    ModelFileFactory(version=version, path="../escape.bin", size=10, sha256="")
    run = services.scan_version_now(version.pk)
    assert run.state == ScanState.SUCCEEDED and run.files_done == 3
    rules = dict(Finding.objects.filter(scan_run=run).values_list("path", "rule"))
    assert rules == {"gone.bin": "file.missing", "../escape.bin": "file.path"}
    assert run.verdict == ScanVerdict.UNSCANNABLE


def test_scanner_crash_is_an_unscannable_finding(tmp_path, monkeypatch):
    version = local_version(tmp_path, {"a.bin": b"x" * 10, "b.safetensors": safetensors_bytes()})
    from scanning import scanners

    real = scanners.scan_file

    def flaky(path, *, limits=None):
        if path.endswith("a.bin"):
            raise RuntimeError("boom")
        return real(path, limits=limits)

    monkeypatch.setattr(scanners, "scan_file", flaky)
    run = services.scan_version_now(version.pk)
    assert run.state == ScanState.SUCCEEDED and run.verdict == ScanVerdict.UNSCANNABLE
    result = ScanFileResult.objects.get(scan_run=run, path="a.bin")
    assert result.error == "boom" and result.verdict == "unscannable"
    assert ScanFileResult.objects.get(scan_run=run, path="b.safetensors").verdict == "safe"


def test_unexpected_error_fails_the_run_visibly(tmp_path, monkeypatch):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services._create_run(version=version, user=None, trigger=ScanTrigger.IMPORT)

    def broken(*args, **kwargs):
        raise ValueError("database went away")

    monkeypatch.setattr(services, "_record_file", broken)
    with pytest.raises(services.ScanFailed) as info:
        services.execute_scan(scan_run_id=run.pk)
    assert not info.value.transient
    run.refresh_from_db()
    assert run.state == ScanState.FAILED and "database went away" in run.error and run.error_kind == "internal"
    assert run.finished_at is not None
    # A failed run does not block a new request (the "retry" button).
    again = services.request_scan(version=version, user=None)
    assert again.pk != run.pk and again.state == ScanState.QUEUED


def test_execute_scan_is_idempotent(tmp_path):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services.scan_version_now(version.pk)
    finished_at = run.finished_at
    again = services.execute_scan(scan_run_id=run.pk)
    assert again.finished_at == finished_at and again.attempts == 1
    # The pipeline step does not rescan a version whose scan is current.
    assert services.scan_version_now(version.pk).pk == run.pk
    assert ScanRun.objects.filter(version=version).count() == 1


def test_redelivered_running_run_starts_over(tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services._create_run(version=version, user=None, trigger=ScanTrigger.IMPORT)
    ScanRun.objects.filter(pk=run.pk).update(
        state=ScanState.RUNNING,
        files_done=1,
        started_at=timezone.now() - timedelta(hours=5),
        heartbeat_at=timezone.now() - timedelta(seconds=5),
        lease_owner="other-worker",
    )
    assert services.execute_scan(scan_run_id=run.pk).state == ScanState.RUNNING  # another worker owns it
    stale = timezone.now() - services.lease_duration() - timedelta(seconds=1)
    ScanRun.objects.filter(pk=run.pk).update(heartbeat_at=stale)
    done = services.execute_scan(scan_run_id=run.pk)
    assert done.state == ScanState.SUCCEEDED and done.files_done == 1
    assert ScanFileResult.objects.filter(scan_run=run).count() == 1


def test_pipeline_step_and_summary_are_registered(tmp_path):
    version = local_version(tmp_path, {"evil.pkl": malicious_pickle_bytes()})
    outcome = pipeline.run_all(version.pk, only={"scan"})
    assert outcome == {"scan": "ok"}
    summary = pipeline.summaries(version)["scan"]
    assert summary["verdict"] == "malicious" and summary["findings"] >= 1


def test_scan_summary_without_scan():
    version = ModelVersionFactory()
    assert services.scan_summary(version) == {"verdict": None, "findings": 0, "state": "missing"}


def test_rescan_outdated_requeues_old_rules_only(tmp_path, django_capture_on_commit_callbacks):
    old = local_version(tmp_path / "old", {"model.safetensors": safetensors_bytes()})
    current = local_version(tmp_path / "cur", {"model.safetensors": safetensors_bytes()})
    never = local_version(tmp_path / "never", {"model.safetensors": safetensors_bytes()})
    stale = services.scan_version_now(old.pk)
    ScanRun.objects.filter(pk=stale.pk).update(rules_version="2000.1.1")
    services.scan_version_now(current.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        runs = services.rescan_outdated()
    assert [r.version_id for r in runs] == [old.pk]
    assert runs[0].trigger == ScanTrigger.RULES_CHANGED and len(callbacks) == 1
    # Already queued: not queued twice.
    assert services.rescan_outdated() == []
    assert [r.version_id for r in services.rescan_outdated(include_unscanned=True)] == [never.pk]


def test_latest_scan_prefers_newest(tmp_path):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    first = services.scan_version_now(version.pk)
    second = services.request_scan(version=version, user=None)
    assert services.latest_scan(version) == second
    assert services.latest_scan(version, succeeded=True) == first


def test_choices_match_the_scanner_contract():
    from scanning.choices import FindingCategory, FindingSeverity

    assert set(FindingCategory.values) == {str(c) for c in base.Category}
    assert set(FindingSeverity.values) == {str(s) for s in base.Severity}
    assert set(ScanVerdict.values) == {v.label for v in base.Verdict}
    assert sorted(ScanVerdict.values, key=ScanVerdict.rank) == [v.label for v in sorted(base.Verdict)]


def test_findings_per_file_are_bounded_but_the_verdict_counts_all(tmp_path, monkeypatch):
    version = local_version(tmp_path, {"many.bin": b"x" * 10})
    from scanning import scanners

    def flood(path, *, limits=None):
        many = [
            base.Finding("r.low", base.Category.OBFUSCATION, base.Severity.LOW, base.Verdict.SUSPICIOUS, "low")
            for _ in range(services.MAX_FINDINGS_PER_FILE + 50)
        ]
        worst = base.Finding(
            "r.bad", base.Category.PROCESS, base.Severity.CRITICAL, base.Verdict.MALICIOUS, "bad", "x" * 10_000
        )
        findings = [*many, worst]
        return base.ScanResult(
            path, "pickle", base.verdict_of(findings), hashlib.sha256(b"x" * 10).hexdigest(), 10, findings
        )

    monkeypatch.setattr(scanners, "scan_file", flood)
    run = services.scan_version_now(version.pk)
    stored = Finding.objects.filter(scan_run=run)
    assert stored.count() == services.MAX_FINDINGS_PER_FILE == run.finding_count
    assert run.verdict == ScanVerdict.MALICIOUS
    bad = stored.get(rule="r.bad")  # the worst finding is kept
    assert len(bad.evidence) == services.MAX_TEXT
    note = stored.get(rule="scan.findings_truncated")
    assert note.verdict == "suspicious" and "52 more findings" in note.message  # 551 found, 499 kept + this note
