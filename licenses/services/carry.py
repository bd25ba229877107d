"""Conclusions carry forward: a new revision whose license evidence did not change keeps the conclusion.

The *evidence key* of an analysis hashes everything the attribution rests on: the card's license
fields (`license`, `license_name`, `license_link`, the gated prompt, `license:` tags), the README
text, each license-bearing file (path + sha256/blob id of the file row, and the hash of the text
read), what the bases pass down, and the detected result (effective license, obligations,
conflicts). Two revisions with the same key were judged on the same evidence.

When an analysis finishes and its version has no installation-wide conclusion of its own,
`carry_forward()` looks for another revision of the same model with the same key whose current
installation-wide conclusion is a deciding one, and records the same conclusion on the new
revision (`carried_from` = the reviewer's original), audited as `license.carry_forward`. A reviewer
may revoke it (decisions.revoke_carried_conclusion, audited as `license.carry_revoke`): an open conclusion is
recorded on top and the version goes back to the legal queue. Any change of evidence → no carry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from core.models import AuditAction
from core.services import record_event
from inventory.models import ModelVersion
from licenses.choices import ConclusionStatus
from licenses.engine.observed import wants
from licenses.models import LicenseAnalysis, LicenseConclusion

CARD_LICENSE_KEYS = ("license", "license_name", "license_link", "extra_gated_prompt")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()


def evidence_key(
    *,
    version: ModelVersion,
    card_data: dict[str, Any],
    card_markdown: str,
    tags: list[str],
    files: dict[str, str],
    bases: list[Any],
    result: dict[str, Any],
) -> str:
    """The hash of a version's license evidence (see the module docstring)."""
    file_rows = sorted(
        (f.path, f.sha256 or f.blob_id, f.size) for f in version.files.all() if wants(f.path) and not f.is_lfs
    )
    material = {
        "card": {k: card_data.get(k) for k in CARD_LICENSE_KEYS},
        "tags": sorted(t for t in tags if str(t).lower().startswith("license:")),
        "readme": _sha(card_markdown),
        "files": file_rows,
        "texts": sorted((path, _sha(text)) for path, text in files.items()),
        "bases": sorted(
            (b.repo_id, str(b.relation), b.effective or "", b.hub_license or "", bool(b.placeholder)) for b in bases
        ),
        "result": {k: result.get(k) for k in ("declared", "observed", "inherited", "effective", "obligations")},
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def current_conclusion(version_id: int) -> LicenseConclusion | None:
    """The latest installation-wide conclusion of a version (the one that settles the queue)."""
    return (
        LicenseConclusion.objects.filter(version_id=version_id, application__isnull=True, organization__isnull=True)
        .select_related("carried_from__created_by", "carried_from__version", "created_by")
        .first()
    )


def carry_forward(analysis: LicenseAnalysis) -> LicenseConclusion | None:
    """Apply an earlier revision's conclusion when the evidence is unchanged (audited). Call inside the
    analysis' transaction, before the queue flags are computed."""
    if not analysis.evidence_key or current_conclusion(analysis.version_id) is not None:
        return None
    version = analysis.version
    sources = (
        LicenseAnalysis.objects.filter(version__model_id=version.model_id, evidence_key=analysis.evidence_key)
        .exclude(version_id=version.pk)
        .order_by("-version__imported_at", "-version_id")
        .values_list("version_id", flat=True)
    )
    for source_version_id in sources:
        source = current_conclusion(source_version_id)
        if source is None or source.status not in ConclusionStatus.deciding():
            continue
        if source.detected_effective != analysis.effective:
            continue  # concluded against another detected license (an older catalog): not the same evidence
        original = source.carried_from or source
        conclusion = LicenseConclusion.objects.create(
            version=version,
            status=source.status,
            license_expression=source.license_expression,
            detected_effective=analysis.effective,
            comment=f"Carried forward from rev {original.version.short_commit}: {original.comment}"[:5000],
            created_by=None,
            carried_from=original,
        )
        record_event(
            actor=None,
            action=AuditAction.LICENSE_CARRY_FORWARD,
            target=version,
            reason=f"License evidence unchanged from rev {original.version.short_commit}.",
            after={
                "status": conclusion.status,
                "license": conclusion.license_expression,
                "from_version": original.version_id,
                "from_conclusion": original.pk,
                "concluded_by": getattr(original.created_by, "username", None),
                "evidence_key": analysis.evidence_key,
            },
        )
        return conclusion
    return None
