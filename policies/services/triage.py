"""Triage of a problem (a policy matching a version, all its contexts): assign, due date, comment,
dismiss, reopen. Each use case checks the role, runs in one transaction and writes its audit event.

The row's `TriageItem` is created by the first action on it (the list itself never writes). A
dismissal is a triage disposition — it takes the row out of the queues that hide dismissed rows —
and does not change what the gate answers: accepting a risk is a waiver (an expiry and a second
person's approval), so "accepted risk" is refused here with that explanation.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.models import AuditAction
from core.permissions import has_perm, require
from core.services import record_event
from inventory.models import ModelVersion
from policies.choices import DismissReason
from policies.models import Policy, TriageComment, TriageItem, Violation
from policies.services.waivers import end_of_day

ACT_PERMISSION = "policies.dismiss_triage"
MAX_COMMENT = 5000
ACCEPTED_RISK_MESSAGE = (
    "Accepted risk is not a dismissal: request a waiver instead — it records who accepted the risk, "
    "needs a second person's approval and expires, so the risk comes back for review."
)


def assignable_users() -> QuerySet[Any]:
    """Active users whose role lets them act on a triage row (reviewers, architects, administrators)."""
    app_label, codename = ACT_PERMISSION.split(".")
    perm = Q(permissions__codename=codename, permissions__content_type__app_label=app_label)
    user_model = get_user_model()
    direct = Q(user_permissions__codename=codename, user_permissions__content_type__app_label=app_label)
    from django.contrib.auth.models import Group

    groups = Group.objects.filter(perm).values("pk")
    return (
        user_model.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__in=groups) | direct)
        .distinct()
        .order_by("username")
    )


def _visible(user: Any, version: ModelVersion, policy: Policy) -> None:
    if not Violation.objects.restrict(user).filter(version=version, policy=policy).exists():
        raise PermissionDenied("No violation of this policy on this version is visible to you.")


def _item(version: ModelVersion, policy: Policy) -> TriageItem:
    item, _ = TriageItem.objects.select_for_update().get_or_create(version=version, policy=policy)
    return item


@transaction.atomic
def assign_triage(*, user: Any, version: ModelVersion, policy: Policy, assignee: Any, reason: str = "") -> TriageItem:
    """Assign the row to `assignee` (None: unassign). The assignee must be an active user who may act."""
    require(user, "policies.assign_triage")
    _visible(user, version, policy)
    if assignee is not None and not (assignee.is_active and has_perm(assignee, ACT_PERMISSION)):
        raise ValidationError({"assignee": f"{assignee} cannot act on violations (their role does not allow it)."})
    item = _item(version, policy)
    before = item.snapshot()
    if item.assignee_id == (assignee.pk if assignee else None):
        return item
    item.assignee = assignee
    item.save(update_fields=["assignee", "updated_at"])
    record_event(
        actor=user, action=AuditAction.TRIAGE_ASSIGN, target=item, reason=reason, before=before, after=item.snapshot()
    )
    return item


@transaction.atomic
def set_triage_due(
    *, user: Any, version: ModelVersion, policy: Policy, due_on: date | None, reason: str = ""
) -> TriageItem:
    """Set the due date (end of that day, UTC); None returns to the default derived from the threat band."""
    require(user, "policies.assign_triage")
    _visible(user, version, policy)
    item = _item(version, policy)
    before = item.snapshot()
    due_at = end_of_day(due_on) if due_on is not None else None
    if item.due_at == due_at:
        return item
    item.due_at = due_at
    item.save(update_fields=["due_at", "updated_at"])
    record_event(
        actor=user, action=AuditAction.TRIAGE_DUE, target=item, reason=reason, before=before, after=item.snapshot()
    )
    return item


@transaction.atomic
def comment_triage(*, user: Any, version: ModelVersion, policy: Policy, text: str) -> TriageComment:
    require(user, "policies.add_triagecomment")
    _visible(user, version, policy)
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write a comment."})
    if len(text) > MAX_COMMENT:
        raise ValidationError({"text": f"A comment is at most {MAX_COMMENT} characters."})
    item = _item(version, policy)
    comment = TriageComment.objects.create(item=item, author=user, text=text)
    record_event(
        actor=user, action=AuditAction.TRIAGE_COMMENT, target=item, after={"comment": comment.pk, "text": text[:300]}
    )
    return comment


@transaction.atomic
def dismiss_triage(*, user: Any, version: ModelVersion, policy: Policy, reason: str, note: str) -> TriageItem:
    require(user, ACT_PERMISSION)
    _visible(user, version, policy)
    if reason == DismissReason.ACCEPTED_RISK:
        raise ValidationError({"reason": ACCEPTED_RISK_MESSAGE})
    if reason not in DismissReason.values:
        raise ValidationError({"reason": "Choose a reason from the list."})
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say why (a note is required to dismiss)."})
    item = _item(version, policy)
    if item.is_dismissed:
        raise ValidationError("It is already dismissed; reopen it first.")
    before = item.snapshot()
    item.dismissed_reason, item.dismissed_note = reason, note[:MAX_COMMENT]
    item.dismissed_by, item.dismissed_at = user, timezone.now()
    item.save(update_fields=["dismissed_reason", "dismissed_note", "dismissed_by", "dismissed_at", "updated_at"])
    record_event(
        actor=user, action=AuditAction.TRIAGE_DISMISS, target=item, reason=note, before=before, after=item.snapshot()
    )
    return item


@transaction.atomic
def reopen_triage(*, user: Any, version: ModelVersion, policy: Policy, note: str = "") -> TriageItem:
    require(user, ACT_PERMISSION)
    _visible(user, version, policy)
    item = _item(version, policy)
    if not item.is_dismissed:
        raise ValidationError("It is not dismissed.")
    before = item.snapshot()
    item.dismissed_reason, item.dismissed_note, item.dismissed_by, item.dismissed_at = "", "", None, None
    item.save(update_fields=["dismissed_reason", "dismissed_note", "dismissed_by", "dismissed_at", "updated_at"])
    record_event(
        actor=user, action=AuditAction.TRIAGE_REOPEN, target=item, reason=note, before=before, after=item.snapshot()
    )
    return item
