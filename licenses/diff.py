"""The licenses section of the revision diff (inventory.diff): declared, effective, obligations, conflicts."""

from __future__ import annotations

from typing import Any

from core.permissions import has_perm
from inventory.diff import DiffRow, DiffSection
from inventory.models import ModelVersion
from licenses.services import license_facts


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def licenses_diff(user: Any, old: ModelVersion, new: ModelVersion) -> DiffSection | None:
    if not has_perm(user, "licenses.view_licenseanalysis"):
        return None
    facts = license_facts([old.pk, new.pk])
    a, b = facts[old.pk], facts[new.pk]
    section = DiffSection("licenses", "Licenses")
    if not (a["analysed"] and b["analysed"]):
        section.note = "Not every revision has a finished license analysis."
    fields = [
        ("Declared", "declared"),
        ("Observed", "observed_ids"),
        ("Inherited", "inherited_ids"),
        ("Effective (after conclusions)", "effective"),
        ("Legal review", "review_status"),
        ("Conflicts", "conflicts"),
    ]
    for label, key in fields:
        before, after = _text(a.get(key)), _text(b.get(key))
        if before != after:
            section.rows.append(DiffRow(label, "changed", before, after))
        else:
            section.unchanged += 1
    old_terms, new_terms = set(a.get("obligations") or []), set(b.get("obligations") or [])
    for term in sorted(new_terms - old_terms):
        section.rows.append(DiffRow(f"Obligation {term}", "added", after=term))
    for term in sorted(old_terms - new_terms):
        section.rows.append(DiffRow(f"Obligation {term}", "removed", before=term))
    section.unchanged += len(old_terms & new_terms)
    return section
