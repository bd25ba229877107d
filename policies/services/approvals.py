"""Approvals: approve or reject a version (pinning its file hashes), reopen a review."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.permissions import has_perm, organization_scope, require
from core.services import record_event
from inventory.choices import ReviewStatus
from inventory.models import ApplicationModel, ModelFile, ModelVersion
from licenses.models import LicenseAnalysis
from policies.choices import Action, Decision, ViolationState
from policies.models import Approval, Violation


def pinned_files_of(version: ModelVersion) -> list[dict[str, Any]]:
    return [
        {"path": f.path, "size": f.size, "sha256": f.sha256, "blob_id": f.blob_id}
        for f in ModelFile.objects.filter(version=version).order_by("path")
    ]


APPROVE = "policies.approve_version"
LEGAL_OPEN_CONFIRMATION = "approve despite open legal review"


def legal_review_open(*, version: ModelVersion) -> bool:
    """The version waits in the legal queue (its license analysis needs a reviewer's conclusion)."""
    return LicenseAnalysis.objects.filter(version=version, needs_review=True).exists()


def can_decide_version(user: Any, version: ModelVersion) -> bool:
    """Whether the user may approve or reject `version`.

    An approval is one decision for every organization that uses the version (the gate of each reads
    it). A global role decides any version; a membership role only a version that applications of
    its own organizations use — and no application outside them.
    """
    if not has_perm(user, APPROVE):
        return False
    scope = organization_scope(user, APPROVE)
    if scope is None:
        return True
    used_in = set(
        ApplicationModel.objects.filter(version_id=version.pk).values_list("application__organization_id", flat=True)
    )
    return bool(used_in) and used_in <= scope.ids


def _require_decide(user: Any, version: ModelVersion) -> None:
    require(user, APPROVE)
    if not can_decide_version(user, version):
        raise PermissionDenied("This version is used outside your organizations: a global reviewer decides it.")


@transaction.atomic
def approve_version(
    *, user: Any, version: ModelVersion, reason: str, despite_open_legal_review: bool = False
) -> Approval:
    """Approve (pin the file hashes). While the legal review is open the approver must confirm explicitly
    (`despite_open_legal_review`); the confirmation is part of the audited reason."""
    _require_decide(user, version)
    if not reason.strip():
        raise ValidationError({"reason": "Give a reason for the approval."})
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    blocking = blocking_violations(version=version)
    if blocking:
        names = ", ".join(sorted({str(v.policy) for v in blocking}))
        raise ValidationError(f"Approval refused: unwaived violations fail at release ({names}).")
    legal_open = legal_review_open(version=version)
    if legal_open and not despite_open_legal_review:
        raise ValidationError(
            {
                "despite_open_legal_review": "The legal review of this version is open (it is in the legal queue). "
                f"Tick “{LEGAL_OPEN_CONFIRMATION}” to approve anyway, or wait for the legal reviewer."
            }
        )
    audit_reason = f"{reason.strip()} [{LEGAL_OPEN_CONFIRMATION}]" if legal_open else reason
    return _decide_version(
        user=user,
        version=version,
        decision=Decision.APPROVED,
        reason=reason,
        audit_reason=audit_reason,
        extra={"despite_open_legal_review": True} if legal_open else None,
    )


@transaction.atomic
def reject_version(*, user: Any, version: ModelVersion, reason: str) -> Approval:
    _require_decide(user, version)
    if not reason.strip():
        raise ValidationError({"reason": "Give a reason for the rejection."})
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    return _decide_version(user=user, version=version, decision=Decision.REJECTED, reason=reason)


def _decide_version(
    *,
    user: Any,
    version: ModelVersion,
    decision: str,
    reason: str,
    audit_reason: str = "",
    extra: dict[str, Any] | None = None,
) -> Approval:
    before = {"review_status": version.review_status}
    Approval.objects.filter(version=version, is_current=True).update(is_current=False)
    approval = Approval.objects.create(
        version=version,
        decision=decision,
        reason=reason,
        decided_by=user,
        pinned_files=pinned_files_of(version) if decision == Decision.APPROVED else [],
    )
    version.review_status = ReviewStatus.APPROVED if decision == Decision.APPROVED else ReviewStatus.REJECTED
    version.save(update_fields=["review_status"])
    record_event(
        actor=user,
        action=f"version.{'approve' if decision == Decision.APPROVED else 'reject'}",
        target=version,
        reason=audit_reason or reason,
        before=before,
        after={"review_status": version.review_status, "pinned_files": len(approval.pinned_files), **(extra or {})},
    )
    return approval


@transaction.atomic
def reopen_review(*, version_id: int, reason: str) -> None:
    """A later finding on an approved version: back to review, audited by the system. The audit event is
    what governance.notifications announces (`version.reopen`); nothing is mailed from here."""
    version = ModelVersion.objects.select_for_update().get(pk=version_id)
    if version.review_status != ReviewStatus.APPROVED:
        return
    version.review_status = ReviewStatus.IN_REVIEW
    version.save(update_fields=["review_status"])
    Approval.objects.filter(version=version, is_current=True).update(reopened_at=timezone.now(), reopen_reason=reason)
    record_event(
        actor=None,
        action="version.reopen",
        target=version,
        reason=reason,
        before={"review_status": ReviewStatus.APPROVED},
        after={"review_status": ReviewStatus.IN_REVIEW},
    )


def blocking_violations(*, version: ModelVersion) -> list[Violation]:
    """Open, unwaived violations (any context) whose policy fails at release: approval is refused."""
    return list(
        Violation.objects.filter(version=version, state=ViolationState.OPEN, policy__action_release=Action.FAIL)
        .select_related("policy", "application")
        .order_by("-policy__threat_level")
    )
