"""The findings section of the revision diff (inventory.diff): new and gone findings by rule + file."""

from __future__ import annotations

from typing import Any

from core.permissions import has_perm
from inventory.diff import DiffRow, DiffSection
from inventory.models import ModelVersion
from scanning.choices import ScanState
from scanning.models import Finding, ScanRun


def _latest_findings(user: Any, version: ModelVersion) -> tuple[ScanRun | None, dict[tuple[str, str], Finding]]:
    run = (
        ScanRun.objects.restrict(user)
        .filter(version=version, state=ScanState.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )
    if run is None:
        return None, {}
    findings: dict[tuple[str, str], Finding] = {}
    for f in Finding.objects.restrict(user).filter(scan_run=run).by_severity():
        findings.setdefault((f.rule, f.path), f)
    return run, findings


def findings_diff(user: Any, old: ModelVersion, new: ModelVersion) -> DiffSection | None:
    if not (has_perm(user, "scanning.view_scanrun") and has_perm(user, "scanning.view_finding")):
        return None
    old_run, before = _latest_findings(user, old)
    new_run, after = _latest_findings(user, new)
    section = DiffSection("findings", "Scan findings")
    missing = [v.short_commit for v, run in ((old, old_run), (new, new_run)) if run is None]
    if missing:
        section.note = f"No finished scan of {', '.join(missing)}: its findings are unknown."
    for key in sorted(after.keys() - before.keys()):
        f = after[key]
        section.rows.append(DiffRow(f"{f.rule} · {f.path}", "new", after=f"{f.severity}: {f.message}"))
    for key in sorted(before.keys() - after.keys()):
        f = before[key]
        section.rows.append(DiffRow(f"{f.rule} · {f.path}", "gone", before=f"{f.severity}: {f.message}"))
    section.unchanged = len(before.keys() & after.keys())
    return section
