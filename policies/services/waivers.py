"""Waivers: request → decide by someone else, revoke, apply to violations, expire, reminders."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.choices import Band, Category
from core.permissions import has_perm, organization_scope, require
from core.services import record_event
from inventory.models import Application, Model, ModelVersion, Organization
from policies.choices import ScopeKind, ViolationState, WaiverScope, WaiverState
from policies.models import Policy, Violation, Waiver, WaiverReason
from policies.services.evaluation import OrgTree, _covering, waiver_rules


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def max_waiver_days(policy: Policy) -> int:
    return Band.max_waiver_days(policy.band)


def decide_permission(policy: Policy) -> list[str]:
    """Permissions any one of which lets a user decide waivers of this policy.

    Security policies: security reviewers; legal policies: legal reviewers; quality and other
    policies: either reviewer role. Administrators hold every permission.
    """
    if policy.category == Category.SECURITY:
        return ["policies.decide_security_waiver"]
    if policy.category == Category.LEGAL:
        return ["policies.decide_legal_waiver"]
    return ["policies.decide_security_waiver", "policies.decide_legal_waiver"]


def can_decide_waiver(user: Any, waiver: Waiver) -> bool:
    return (
        waiver.state == WaiverState.PENDING
        and getattr(user, "pk", None) != waiver.requested_by_id
        and any(has_perm(user, p, waiver) for p in decide_permission(waiver.policy))
    )


def decidable_waivers(user: Any, qs: Any) -> Any:
    """Of `qs`, the pending waivers `user` may decide: kinds their role decides, not requested by themselves."""
    security = has_perm(user, "policies.decide_security_waiver")
    legal = has_perm(user, "policies.decide_legal_waiver")
    if not (security or legal):
        return qs.none()
    qs = qs.filter(state=WaiverState.PENDING).exclude(requested_by_id=getattr(user, "pk", None))
    if not security:
        qs = qs.exclude(policy__category=Category.SECURITY)
    if not legal:
        qs = qs.exclude(policy__category=Category.LEGAL)
    return qs


@transaction.atomic
def request_waiver(
    *,
    user: Any,
    policy: Policy,
    scope: str,
    expires_on: date,
    reason: WaiverReason,
    comment: str = "",
    version: ModelVersion | None = None,
    model: Model | None = None,
    owner: str = ScopeKind.ROOT,
    organization: Organization | None = None,
    application: Application | None = None,
    source_violation: Violation | None = None,
) -> Waiver:
    require(user, "policies.request_waiver")
    # A membership role requests waivers only for owners (and from violations) in its organizations.
    owner_obj: Application | Organization | None = {"application": application, "organization": organization}.get(owner)
    if owner_obj is not None:
        require(user, "policies.request_waiver", owner_obj)
    elif owner == ScopeKind.ROOT and organization_scope(user, "policies.request_waiver") is not None:
        raise PermissionDenied("Only a global role may request a root waiver; choose one of your organizations.")
    if source_violation is not None:
        require(user, "policies.request_waiver", source_violation)
    errors: dict[str, str] = {}
    if policy.non_waivable:
        raise ValidationError({"policy": f"{policy} is not waivable."})
    today = timezone.now().astimezone(UTC).date()
    if expires_on is None:
        errors["expires_on"] = "An expiry date is required."
    elif expires_on < today:
        errors["expires_on"] = "The expiry date is in the past."
    elif (expires_on - today).days > max_waiver_days(policy):
        errors["expires_on"] = (
            f"A {policy.band} policy can be waived for at most {max_waiver_days(policy)} days "
            f"(until {today + timedelta(days=max_waiver_days(policy))})."
        )
    if scope == WaiverScope.VERSION and version is None:
        errors["scope"] = "Waiving this revision needs a version."
    if scope == WaiverScope.MODEL:
        model = model or (version.model if version else None)
        if model is None:
            errors["scope"] = "Waiving all revisions needs a model."
    if scope not in WaiverScope.values:
        errors["scope"] = "Unknown scope."
    if owner not in ScopeKind.values:
        errors["owner"] = "Unknown owner."
    if owner == ScopeKind.APPLICATION and application is None:
        errors["owner"] = "Choose the owning application."
    if owner == ScopeKind.ORGANIZATION and organization is None:
        errors["owner"] = "Choose the owning organization."
    if not reason.active:
        errors["reason"] = "This reason is no longer offered."
    if source_violation is not None:
        # The violation the waiver answers must be of this policy and about what is waived.
        if source_violation.policy_id != policy.pk:
            errors["policy"] = f"The violation is of another policy ({source_violation.policy})."
        if scope == WaiverScope.VERSION and version is not None and version.pk != source_violation.version_id:
            errors["version"] = "The violation is about another version."
        if scope == WaiverScope.MODEL and model is not None and model.pk != source_violation.version.model_id:
            errors["model"] = "The violation is about another model."
    if errors:
        raise ValidationError(errors)
    waiver = Waiver.objects.create(
        policy=policy,
        scope=scope,
        version=version if scope == WaiverScope.VERSION else None,
        model=model if scope == WaiverScope.MODEL else None,
        owner=owner,
        organization=organization if owner == ScopeKind.ORGANIZATION else None,
        application=application if owner == ScopeKind.APPLICATION else None,
        reason=reason,
        comment=comment,
        expires_at=end_of_day(expires_on),
        requested_by=user,
        source_violation=source_violation,
    )
    record_event(actor=user, action="waiver.request", target=waiver, reason=comment, after=waiver.snapshot())
    return waiver


@transaction.atomic
def decide_waiver(*, user: Any, waiver: Waiver, approve: bool, comment: str = "") -> Waiver:
    """Approve or reject a pending waiver: someone other than the requester, with the category's role."""
    waiver = Waiver.objects.select_for_update().select_related("policy").get(pk=waiver.pk)
    if not any(has_perm(user, p, waiver) for p in decide_permission(waiver.policy)):
        raise PermissionDenied(f"Your role cannot decide waivers of {waiver.policy.category} policies.")
    if getattr(user, "pk", None) == waiver.requested_by_id:
        raise PermissionDenied("A waiver is decided by someone other than its requester.")
    if waiver.state != WaiverState.PENDING:
        raise ValidationError(f"This waiver is {waiver.get_state_display().lower()}, not pending.")
    if approve and waiver.policy.non_waivable:
        raise ValidationError(f"{waiver.policy} is not waivable.")
    if approve and waiver.expires_at <= timezone.now():
        raise ValidationError("This waiver's expiry date has passed; request a new one.")
    before = waiver.snapshot()
    waiver.state = WaiverState.APPROVED if approve else WaiverState.REJECTED
    waiver.decided_by, waiver.decided_at, waiver.decision_comment = user, timezone.now(), comment
    waiver.save(update_fields=["state", "decided_by", "decided_at", "decision_comment"])
    record_event(
        actor=user,
        action="waiver.approve" if approve else "waiver.reject",
        target=waiver,
        reason=comment,
        before=before,
        after=waiver.snapshot(),
    )
    if approve:
        apply_waivers(policy_ids=[waiver.policy_id])
    return waiver


@transaction.atomic
def revoke_waiver(*, user: Any, waiver: Waiver, comment: str) -> Waiver:
    waiver = Waiver.objects.select_for_update().select_related("policy").get(pk=waiver.pk)
    if not any(has_perm(user, p, waiver) for p in decide_permission(waiver.policy)):
        raise PermissionDenied(f"Your role cannot decide waivers of {waiver.policy.category} policies.")
    if waiver.state not in {WaiverState.APPROVED, WaiverState.PENDING}:
        raise ValidationError("Only a pending or approved waiver can be revoked.")
    before = waiver.snapshot()
    waiver.state = WaiverState.REVOKED
    waiver.decided_by, waiver.decided_at, waiver.decision_comment = user, timezone.now(), comment
    waiver.save(update_fields=["state", "decided_by", "decided_at", "decision_comment"])
    record_event(
        actor=user, action="waiver.revoke", target=waiver, reason=comment, before=before, after=waiver.snapshot()
    )
    apply_waivers(policy_ids=[waiver.policy_id])
    return waiver


def apply_waivers(*, policy_ids: Iterable[int] | None = None, now: datetime | None = None) -> tuple[int, int]:
    """Bring active violations' waived/open state in line with the waivers in force.

    Returns (waived, reopened). Runs inside the caller's transaction.
    """
    now = now or timezone.now()
    tree = OrgTree()
    rules = waiver_rules(now=now, policy_ids=policy_ids)
    qs = Violation.objects.active()
    if policy_ids is not None:
        qs = qs.filter(policy_id__in=list(policy_ids))
    waived = reopened = 0
    changed = []
    for v in qs.select_related("version").only(
        "id", "policy_id", "version_id", "version__model_id", "application_id", "state", "waiver_id"
    ):
        waiver_id = _covering(rules, (v.policy_id, v.version_id, v.application_id), v.version.model_id, tree)
        state = ViolationState.WAIVED if waiver_id else ViolationState.OPEN
        if state != v.state or waiver_id != v.waiver_id:
            if state == ViolationState.WAIVED and v.state == ViolationState.OPEN:
                waived += 1
            elif state == ViolationState.OPEN:
                reopened += 1
                v.opened_at = now
            v.state, v.waiver_id, v.last_evaluated_at = state, waiver_id, now
            changed.append(v)
    Violation.objects.bulk_update(changed, ["state", "waiver_id", "opened_at", "last_evaluated_at"], batch_size=1000)
    return waived, reopened


@transaction.atomic
def expire_waivers(*, now: datetime | None = None) -> list[int]:
    """Expire approved waivers past their end date and reopen their violations (audited, by the system)."""
    now = now or timezone.now()
    expired = list(Waiver.objects.select_for_update().filter(state=WaiverState.APPROVED, expires_at__lte=now))
    if not expired:
        return []
    for waiver in expired:
        before = waiver.snapshot()
        waiver.state = WaiverState.EXPIRED
        waiver.save(update_fields=["state"])
        reopened = list(waiver.violations.filter(state=ViolationState.WAIVED).values_list("pk", flat=True))
        record_event(
            actor=None,
            action="waiver.expire",
            target=waiver,
            reason="Waiver expired; its violations are open again.",
            before=before,
            after=waiver.snapshot(),
            extra={"violations": reopened},
        )
    apply_waivers(policy_ids={w.policy_id for w in expired}, now=now)
    return [w.pk for w in expired]


def reminder_due_since(waiver: Waiver, *, now: datetime, days: Iterable[int]) -> datetime | None:
    """The latest reminder threshold (`expires_at - d days`) the waiver has passed, or None if none yet."""
    passed = [waiver.expires_at - timedelta(days=d) for d in days if waiver.expires_at - timedelta(days=d) <= now]
    return max(passed, default=None)


def waivers_due_for_reminder(*, now: datetime | None = None, days: Iterable[int] | None = None) -> list[Waiver]:
    """Waivers in force that passed a reminder threshold (`MODELGATE_WAIVER_REMINDER_DAYS` before their
    expiry) since their last reminder, and were not reminded today (UTC): one reminder per threshold, at
    most one a day, and a missed day is caught up once."""
    now = now or timezone.now()
    thresholds = sorted(set(days if days is not None else settings.MODELGATE_WAIVER_REMINDER_DAYS))
    if not thresholds:
        return []
    today = now.astimezone(UTC).date()
    due = []
    for waiver in (
        Waiver.objects.in_force(now)
        .filter(expires_at__lte=now + timedelta(days=thresholds[-1]))
        .select_related("policy", "requested_by", "version__model", "model")
        .order_by("expires_at", "id")
    ):
        since = reminder_due_since(waiver, now=now, days=thresholds)
        last = waiver.reminded_at
        if since is not None and (last is None or (last < since and last.astimezone(UTC).date() < today)):
            due.append(waiver)
    return due


def mark_reminded(*, waiver: Waiver, now: datetime | None = None) -> bool:
    """Record that `waiver` was reminded (the fact notifications act on). Compare-and-set on the previous
    `reminded_at`: False when another run recorded it first, so two runs never remind twice."""
    claimed = Waiver.objects.filter(pk=waiver.pk, reminded_at=waiver.reminded_at).update(
        reminded_at=now or timezone.now()
    )
    return claimed == 1
