"""Scanning models: invariants (one active run per version), progress, severity ordering."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from scanning.choices import FindingSeverity, ScanState, ScanVerdict
from scanning.models import Finding, ScanRun
from tests.factories import FindingFactory, ModelVersionFactory, ScanRunFactory

pytestmark = pytest.mark.django_db


def test_one_active_run_per_version_is_enforced_by_the_database():
    version = ModelVersionFactory()
    ScanRun.objects.create(version=version, state=ScanState.QUEUED)
    with pytest.raises(IntegrityError), transaction.atomic():
        ScanRun.objects.create(version=version, state=ScanState.RUNNING)
    ScanRun.objects.create(version=version, state=ScanState.SUCCEEDED)
    ScanRun.objects.create(version=version, state=ScanState.FAILED)
    assert ScanRun.objects.filter(version=version).active().count() == 1


def test_progress_percent_and_transfer_ratio():
    run = ScanRun(version=ModelVersionFactory(), files_total=4, files_done=1, bytes_total=1000, bytes_done=250)
    assert run.percent == 25 and run.is_active
    assert ScanRun(files_total=4, files_done=2).percent == 50  # no sizes: by files
    assert ScanRun(state=ScanState.SUCCEEDED).percent == 100
    assert run.transfer_ratio is None
    remote = ScanRun(remote=True, bytes_total=1000, bytes_transferred=5)
    assert remote.transfer_ratio == pytest.approx(0.005)


def test_findings_by_severity():
    run = ScanRunFactory(verdict="suspicious")
    for sev in ("low", "critical", "info", "high", "medium"):
        FindingFactory(scan_run=run, path="a", rule=f"r.{sev}", category="process", severity=sev, verdict="suspicious")
    assert [f.severity for f in Finding.objects.by_severity()] == ["critical", "high", "medium", "low", "info"]
    assert Finding.objects.get(severity="high").severity_badge == "severe"
    assert FindingSeverity.badge("medium") == "moderate"


def test_verdict_order():
    assert ScanVerdict.worst([]) == "safe"
    assert ScanVerdict.worst(["safe", "unscannable", "suspicious"]) == "unscannable"
    assert ScanVerdict.worst(["unscannable", "malicious"]) == "malicious"


def test_str_and_urls():
    run = ScanRun.objects.create(version=ModelVersionFactory())
    assert str(run).startswith(f"scan #{run.pk}") and run.get_absolute_url().endswith(f"/runs/{run.pk}/")
