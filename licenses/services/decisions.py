"""Decisions (audited): conclusions and the per-application obligation checklist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from core.models import AuditAction
from core.permissions import require, require_global
from core.services import record_event
from inventory import pipeline
from inventory.models import Application, ApplicationModel, ModelVersion, Organization
from licenses.choices import ChecklistStatus, ConclusionStatus
from licenses.engine.declared import parse_expression, render
from licenses.models import (
    LicenseAnalysis,
    LicenseConclusion,
    Obligation,
    ObligationStatus,
)
from licenses.services.analysis import refresh_use_fit
from licenses.services.carry import current_conclusion
from licenses.services.catalog import engine_catalog
from licenses.services.facts import _app_facts, _ids


# --- decisions (audited) -------------------------------------------------------------------------
class ConclusionError(ValueError):
    pass


class CarryForwardError(ValueError):
    pass


def conclude_license(
    *,
    actor: Any,
    version: ModelVersion,
    status: str,
    comment: str,
    license_expression: str = "",
    application: Application | None = None,
    organization: Organization | None = None,
) -> LicenseConclusion:
    """Record a reviewer's conclusion about the effective license of a version (audited)."""
    require(actor, "licenses.conclude_license")
    if application is not None and organization is not None:
        raise ConclusionError("A conclusion is scoped to an application or an organization, not both.")
    # A membership role concludes for its own applications/organizations; "everywhere" is a global role's.
    owner = application or organization
    if owner is not None:
        require(actor, "licenses.conclude_license", owner)
    else:
        require_global(actor, "licenses.conclude_license")
    if status not in ConclusionStatus.values:
        raise ConclusionError(f"Unknown status {status!r}.")
    if not comment.strip():
        raise ConclusionError("A comment is required.")
    catalog = engine_catalog()
    analysis = LicenseAnalysis.objects.filter(version=version).first()
    detected = analysis.effective if analysis else "unknown"
    expression = ""
    if license_expression.strip():
        unknown: list[str] = []
        tree = parse_expression(catalog, license_expression, unknown)
        if unknown:
            raise ConclusionError(f"Not in the catalog: {', '.join(unknown)}.")
        expression = render(tree) or ""
    if status == ConclusionStatus.CONFIRMED:
        expression = expression or detected
    if status in (ConclusionStatus.SELECTED, ConclusionStatus.OVERRIDDEN) and not expression:
        raise ConclusionError("Selected and overridden conclusions need a license expression.")
    if status == ConclusionStatus.SELECTED and analysis is not None:
        candidates = set(analysis.effective_ids) | {o["license"] for o in (analysis.summary or {}).get("observed", [])}
        candidates |= set(_ids(catalog, analysis.declared))
        chosen = set(_ids(catalog, expression))
        if not chosen <= candidates:
            raise ConclusionError(
                "“Selected” picks among the detected licenses; use “overridden” for "
                + ", ".join(sorted(chosen - candidates))
            )
    with transaction.atomic():
        previous = LicenseConclusion.objects.filter(
            version=version, application=application, organization=organization
        ).first()
        conclusion = LicenseConclusion.objects.create(
            version=version,
            application=application,
            organization=organization,
            status=status,
            license_expression=expression,
            detected_effective=detected,
            comment=comment.strip(),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        record_event(
            actor=actor,
            action="license.conclude",
            target=version,
            reason=comment.strip(),
            before={"status": previous.status, "license": previous.license_expression} if previous else None,
            after={"status": status, "license": expression, "scope": conclusion.scope_label, "detected": detected},
        )
        refresh_use_fit([version.pk])  # queue flags: settled by the conclusion, unfit applications recomputed
        pipeline.facts_changed([version.pk])
    return conclusion


def revoke_carried_conclusion(*, actor: Any, version: ModelVersion, reason: str) -> LicenseConclusion:
    """Withdraw a carried-forward conclusion: an open conclusion on top, back to the legal queue (audited)."""
    require_global(actor, "licenses.conclude_license")  # the installation-wide conclusion: a global role's
    if not reason.strip():
        raise CarryForwardError("Say why the carried-forward conclusion does not hold.")
    with transaction.atomic():
        current = current_conclusion(version.pk)
        if current is None or current.carried_from_id is None or current.status not in ConclusionStatus.deciding():
            raise CarryForwardError("This revision has no carried-forward conclusion to revoke.")
        analysis = LicenseAnalysis.objects.filter(version=version).first()
        reopened = LicenseConclusion.objects.create(
            version=version,
            status=ConclusionStatus.OPEN,
            detected_effective=analysis.effective if analysis else "unknown",
            comment=f"Carried-forward conclusion revoked: {reason.strip()}",
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            carried_from=current,  # an open conclusion pointing at a carried one: the revocation
        )
        record_event(
            actor=actor,
            action=AuditAction.LICENSE_CARRY_REVOKE,
            target=version,
            reason=reason.strip(),
            before={
                "status": current.status,
                "license": current.license_expression,
                "from_conclusion": current.carried_from_id,
            },
            after={"status": ConclusionStatus.OPEN},
        )
        refresh_use_fit([version.pk])  # a revocation keeps the version in the queue (analysis._score)
        pipeline.facts_changed([version.pk])
    return reopened


def set_obligation_status(
    *,
    actor: Any,
    application: Application,
    version: ModelVersion,
    term: str,
    status: str,
    owner: Any = None,
    note: str = "",
) -> ObligationStatus:
    """Tick one obligation of an application's checklist (audited)."""
    require(actor, "licenses.change_obligationstatus", application)
    if status not in ChecklistStatus.values:
        raise ValueError(f"Unknown checklist status {status!r}.")
    with transaction.atomic():
        obligation, _ = Obligation.objects.get_or_create(term=term)
        row, created = ObligationStatus.objects.get_or_create(
            application=application, version=version, obligation=obligation
        )
        before = None if created else {"status": row.status, "owner": row.owner_id, "note": row.note}
        row.status = status
        row.owner = owner
        row.note = note[:500]
        row.updated_by = actor if getattr(actor, "is_authenticated", False) else None
        row.save()
        record_event(
            actor=actor,
            action="license.obligation_status",
            target=application,
            reason=note,
            before=before,
            after={"version": version.pk, "obligation": term, "status": status, "owner": getattr(owner, "pk", None)},
        )
    return row


@dataclass
class ChecklistRow:
    version: ModelVersion
    term: str
    meaning: str
    licenses: list[str]
    status: str
    owner: Any
    note: str
    row_id: int | None


def obligation_checklist(application: Application) -> list[ChecklistRow]:
    """Every obligation of every version the application uses, with its checklist state."""
    usages = list(ApplicationModel.objects.filter(application=application).select_related("version__model"))
    vids = [u.version_id for u in usages]
    facts_by_version = _app_facts(application, vids)
    statuses = {
        (s.version_id, s.obligation.term): s
        for s in ObligationStatus.objects.filter(application=application).select_related("obligation", "owner")
    }
    meanings = {o.term: o.meaning for o in Obligation.objects.all()}
    catalog = engine_catalog()
    rows: list[ChecklistRow] = []
    for u in usages:
        facts = facts_by_version[u.version_id]
        for term in facts["obligations"]:
            st = statuses.get((u.version_id, term))
            rows.append(
                ChecklistRow(
                    version=u.version,
                    term=term,
                    meaning=meanings.get(term) or meanings.get(term.split(":", 1)[0], ""),
                    licenses=[i for i in facts["effective_ids"] if term in catalog.terms(i)],
                    status=st.status if st else ChecklistStatus.OPEN,
                    owner=st.owner if st else None,
                    note=st.note if st else "",
                    row_id=st.pk if st else None,
                )
            )
    return rows
