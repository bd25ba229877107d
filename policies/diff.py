"""The violations section of the revision diff (inventory.diff): per policy, new / resolved / still open."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from core.permissions import has_perm
from inventory.diff import DiffRow, DiffSection
from inventory.models import ModelVersion
from policies.choices import ViolationState
from policies.models import Policy, Violation


def _open_by_policy(user: Any, version: ModelVersion) -> dict[int, int]:
    """Policy id → number of open, unwaived violations (every context) of the version."""
    out: dict[int, int] = {}
    for pid in (
        Violation.objects.restrict(user)
        .filter(version=version, state=ViolationState.OPEN)
        .values_list("policy_id", flat=True)
    ):
        out[pid] = out.get(pid, 0) + 1
    return out


def violations_diff(user: Any, old: ModelVersion, new: ModelVersion) -> DiffSection | None:
    if not has_perm(user, "policies.view_violation"):
        return None
    before, after = _open_by_policy(user, old), _open_by_policy(user, new)
    policies = {p.pk: p for p in Policy.objects.filter(pk__in=before.keys() | after.keys())}
    section = DiffSection("violations", "Violations (open, per policy)")
    review = reverse("policies:version_review", args=[new.pk])

    def label(pid: int) -> str:
        p = policies[pid]
        return f"{p.name} (threat {p.threat_level})"

    ordered = sorted(before.keys() | after.keys(), key=lambda pid: (-policies[pid].threat_level, policies[pid].name))
    for pid in ordered:
        b, a = before.get(pid, 0), after.get(pid, 0)
        if a and not b:
            section.rows.append(DiffRow(label(pid), "new", after=f"{a} context{'s' if a > 1 else ''}", url=review))
        elif b and not a:
            section.rows.append(DiffRow(label(pid), "resolved", before=f"{b} context{'s' if b > 1 else ''}"))
        else:
            section.rows.append(DiffRow(label(pid), "still open", f"{b}", f"{a}", url=review))
    return section
