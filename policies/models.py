"""Policies → constraints → conditions; violations; waivers; approvals.

Mirrors Sonatype Lifecycle's policy model (threat levels, bands, stages, waivers) with conditions
over security, legal and quality facts of a model version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from core.choices import Band, Category
from core.generation import TrackedQuerySet
from core.permissions import SHARED, Inherited, RestrictedQuerySet
from policies.choices import (
    Action,
    Decision,
    DismissReason,
    Match,
    Operator,
    ScopeKind,
    Stage,
    ViolationState,
    WaiverScope,
    WaiverState,
)


def _action_field(stage: Stage) -> models.CharField:
    return models.CharField(
        max_length=4, choices=Action.choices, default=Action.NONE, verbose_name=f"{stage.label} action"
    )


class PolicyQuerySet(RestrictedQuerySet["Policy"]):
    def enabled(self) -> PolicyQuerySet:
        return self.filter(enabled=True)

    def with_details(self) -> PolicyQuerySet:
        return self.select_related("organization", "application").prefetch_related("constraints__conditions")


class Policy(models.Model):
    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    remediation = models.TextField(blank=True, help_text="What to do about a violation (shown on its page).")
    threat_level = models.PositiveSmallIntegerField(validators=[MinValueValidator(0), MaxValueValidator(10)])
    category = models.CharField(
        max_length=10,
        choices=Category.choices,
        default=Category.OTHER,
        editable=False,
        db_index=True,
        help_text="Derived from the facts the conditions look at: security > legal > quality > other.",
    )
    organization = models.ForeignKey(
        "inventory.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="policies"
    )
    application = models.ForeignKey(
        "inventory.Application", null=True, blank=True, on_delete=models.PROTECT, related_name="policies"
    )
    enabled = models.BooleanField(default=True, db_index=True)
    non_waivable = models.BooleanField(default=False, help_text="Violations of this policy can never be waived.")
    action_proxy = _action_field(Stage.PROXY)
    action_develop = _action_field(Stage.DEVELOP)
    action_source = _action_field(Stage.SOURCE)
    action_build = _action_field(Stage.BUILD)
    action_stage_release = _action_field(Stage.STAGE_RELEASE)
    action_release = _action_field(Stage.RELEASE)
    action_operate = _action_field(Stage.OPERATE)
    revision = models.PositiveIntegerField(default=1, help_text="Incremented by every edit (audited).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    SCOPE = (
        "organization",
        "application__organization",
        Inherited("organization", root=("organization", "application")),
    )
    objects = PolicyQuerySet.as_manager()

    class Meta:
        ordering = ["-threat_level", "name"]
        verbose_name_plural = "policies"
        permissions = [("use_gate", "Can ask the gate whether a model revision may be used")]
        constraints = [
            models.CheckConstraint(
                condition=Q(organization__isnull=True) | Q(application__isnull=True), name="policy_single_scope"
            ),
            models.CheckConstraint(condition=Q(threat_level__lte=10), name="policy_threat_level_max"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("policies:policy_detail", args=[self.pk])

    def clean(self) -> None:
        if self.organization_id and self.application_id:
            raise ValidationError("A policy is scoped to an organization or an application, not both.")

    @property
    def band(self) -> str:
        return Band.of(self.threat_level).value

    @property
    def scope_kind(self) -> str:
        if self.application_id:
            return ScopeKind.APPLICATION
        if self.organization_id:
            return ScopeKind.ORGANIZATION
        return ScopeKind.ROOT

    @property
    def scope_label(self) -> str:
        if self.application_id:
            return f"application {self.application}"
        if self.organization_id:
            return f"organization {self.organization}"
        return "root"

    def action_for(self, stage: str) -> str:
        return str(getattr(self, Stage.field_name(stage)))

    def actions(self) -> dict[str, str]:
        return {stage: self.action_for(stage) for stage in Stage.values}


class Constraint(models.Model):
    """Constraints of a policy are OR-ed; a constraint is ANY / ALL over its conditions."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="constraints")
    name = models.CharField(max_length=150)
    match = models.CharField(max_length=3, choices=Match.choices, default=Match.ALL)
    position = models.PositiveSmallIntegerField(default=0)

    objects = TrackedQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class Condition(models.Model):
    # Deleted only in bulk (querysets move the data generation): no post_delete receiver, so a rescan or a
    # cascade deletes these rows in one statement instead of loading each one (core/apps.py).
    DELETED_IN_BULK = True

    constraint = models.ForeignKey(Constraint, on_delete=models.CASCADE, related_name="conditions")
    fact = models.CharField(max_length=80)
    operator = models.CharField(max_length=16, choices=Operator.choices)
    value = models.JSONField(null=True, blank=True)
    negate = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    objects = TrackedQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        text = f"{self.fact} {self.get_operator_display()} {self.value if self.value is not None else ''}".strip()
        return f"not ({text})" if self.negate else text


class ViolationQuerySet(RestrictedQuerySet["Violation"]):
    def active(self) -> ViolationQuerySet:
        """Open or waived (not resolved)."""
        return self.exclude(state=ViolationState.RESOLVED)

    def open(self) -> ViolationQuerySet:
        return self.filter(state=ViolationState.OPEN)

    def for_list(self) -> ViolationQuerySet:
        return self.select_related("policy", "version__model", "application", "waiver")

    def sync_threat_levels(self) -> int:
        """Copy each policy's threat level onto its violations where it differs; returns rows changed."""
        stale = self.exclude(threat_level=models.F("policy__threat_level"))
        level = Policy.objects.filter(pk=models.OuterRef("policy_id")).values("threat_level")[:1]
        return stale.update(threat_level=models.Subquery(level))


class Violation(models.Model):
    """A policy matched a version (in the root context, or in an application's context)."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="violations")
    version = models.ForeignKey("inventory.ModelVersion", on_delete=models.CASCADE, related_name="violations")
    application = models.ForeignKey(
        "inventory.Application",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="violations",
        help_text="Empty for the root context.",
    )
    state = models.CharField(max_length=8, choices=ViolationState.choices, default=ViolationState.OPEN, db_index=True)
    matched = models.JSONField(default=dict, help_text="The constraints and the facts that matched.")
    fingerprint = models.CharField(max_length=32, blank=True, help_text="Hash of `matched`: cheap change detection.")
    waiver = models.ForeignKey("Waiver", null=True, blank=True, on_delete=models.SET_NULL, related_name="violations")
    policy_revision = models.PositiveIntegerField(default=1, help_text="Policy revision when first seen.")
    # Copy of policy.threat_level (kept in step by sync_threat_levels) so the triage list sorts on an index.
    threat_level = models.PositiveSmallIntegerField(default=0, db_default=0)
    first_seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    opened_at = models.DateTimeField(default=timezone.now)
    last_evaluated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    SCOPE = ("application__organization",)
    objects = ViolationQuerySet.as_manager()

    class Meta:
        ordering = ["-first_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "version"], condition=Q(application__isnull=True), name="violation_unique_root"
            ),
            models.UniqueConstraint(
                fields=["policy", "version", "application"],
                condition=Q(application__isnull=False),
                name="violation_unique_app",
            ),
        ]
        indexes = [
            models.Index(fields=["version", "state"]),
            models.Index(fields=["state", "-threat_level", "-first_seen_at", "-id"], name="violation_triage_order"),
            # The triage list's default order (one row per version × policy, worst first): policies/triage.py.
            models.Index(fields=["state", "threat_level", "version", "policy"], name="violation_pair_order"),
        ]

    def __str__(self) -> str:
        return f"{self.policy} on {self.version}" + (f" for {self.application}" if self.application_id else "")

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding and self.policy_id:
            self.threat_level = self.policy.threat_level
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("policies:violation_detail", args=[self.pk])

    def action_for(self, stage: str) -> str:
        return self.policy.action_for(stage)

    @property
    def age_days(self) -> int:
        return (timezone.now() - self.first_seen_at).days


class TriageItemQuerySet(RestrictedQuerySet["TriageItem"]):
    def for_pair(self, version_id: int, policy_id: int) -> TriageItemQuerySet:
        return self.filter(version_id=version_id, policy_id=policy_id)


class TriageItem(models.Model):
    """The triage state of one problem: a policy matching a version, whatever the contexts (root and
    each application using it) its violations live in. Created lazily by the first triage action."""

    version = models.ForeignKey("inventory.ModelVersion", on_delete=models.CASCADE, related_name="triage_items")
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="triage_items")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="triage_items"
    )
    due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set by a reviewer; empty: derived from the threat band (MODELGATE_TRIAGE_DUE_DAYS).",
    )
    dismissed_reason = models.CharField(max_length=16, choices=DismissReason.choices, blank=True)
    dismissed_note = models.TextField(blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dismissed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    SCOPE = SHARED  # one problem (version × policy) across contexts; acted on through a violation in scope
    objects = TriageItemQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["version", "policy"], name="triageitem_unique_pair")]
        indexes = [models.Index(fields=["assignee", "due_at"])]
        permissions = [
            ("assign_triage", "Can assign triage rows and set their due dates"),
            ("dismiss_triage", "Can dismiss and reopen triage rows"),
        ]

    def __str__(self) -> str:
        return f"{self.policy} on {self.version}"

    @property
    def is_dismissed(self) -> bool:
        return bool(self.dismissed_reason)

    def snapshot(self) -> dict[str, Any]:
        return {
            "assignee": self.assignee.get_username() if self.assignee else None,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "dismissed_reason": self.dismissed_reason,
            "dismissed_note": self.dismissed_note,
        }


class TriageComment(models.Model):
    """A note on a triage row (append-only, like the audit log it is recorded in)."""

    item = models.ForeignKey(TriageItem, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    SCOPE = SHARED
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment #{self.pk} on {self.item}"


class WaiverReason(models.Model):
    """The configurable list of reasons offered when requesting a waiver."""

    name = models.CharField(max_length=150, unique=True)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    SCOPE = SHARED
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class WaiverQuerySet(RestrictedQuerySet["Waiver"]):
    def in_force(self, now: datetime | None = None) -> WaiverQuerySet:
        return self.filter(state=WaiverState.APPROVED, expires_at__gt=now or timezone.now())

    def pending(self) -> WaiverQuerySet:
        return self.filter(state=WaiverState.PENDING)

    def stale(self, now: datetime | None = None) -> WaiverQuerySet:
        """In force but no longer needed: it waives no violation that is still there."""
        waived = Violation.objects.filter(state=ViolationState.WAIVED).values("waiver_id")
        return self.in_force(now).exclude(pk__in=waived)

    def for_list(self) -> WaiverQuerySet:
        return self.select_related(
            "policy", "version__model", "model", "organization", "application", "reason", "requested_by", "decided_by"
        )


class Waiver(models.Model):
    """Waives one policy for a target (revision / model / all) owned by an application, organization or root."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="waivers")
    scope = models.CharField(max_length=8, choices=WaiverScope.choices, default=WaiverScope.VERSION)
    version = models.ForeignKey(
        "inventory.ModelVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    model = models.ForeignKey("inventory.Model", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    owner = models.CharField(max_length=12, choices=ScopeKind.choices, default=ScopeKind.ROOT)
    organization = models.ForeignKey(
        "inventory.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    application = models.ForeignKey(
        "inventory.Application", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    state = models.CharField(max_length=8, choices=WaiverState.choices, default=WaiverState.PENDING, db_index=True)
    reason = models.ForeignKey(WaiverReason, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    expires_at = models.DateTimeField(db_index=True, help_text="End of the expiry day, 23:59:59 UTC.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    source_violation = models.ForeignKey(
        Violation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="waiver_requests",
        help_text="The violation the waiver was requested from.",
    )

    SCOPE = ("organization", "application__organization")
    objects = WaiverQuerySet.as_manager()

    class Meta:
        ordering = ["expires_at", "id"]
        permissions = [
            ("request_waiver", "Can request a waiver"),
            ("decide_legal_waiver", "Can approve or reject waivers of legal policies"),
            ("decide_security_waiver", "Can approve or reject waivers of security policies"),
        ]

    def __str__(self) -> str:
        return f"waiver #{self.pk} of {self.policy} for {self.target_label}"

    def get_absolute_url(self) -> str:
        return reverse("policies:waiver_detail", args=[self.pk])

    @property
    def target_label(self) -> str:
        if self.scope == WaiverScope.VERSION:
            return str(self.version)
        if self.scope == WaiverScope.MODEL:
            return f"all revisions of {self.model}"
        return "all models"

    @property
    def owner_label(self) -> str:
        if self.owner == ScopeKind.APPLICATION:
            return f"application {self.application}"
        if self.owner == ScopeKind.ORGANIZATION:
            return f"organization {self.organization}"
        return "root"

    @property
    def is_in_force(self) -> bool:
        return self.state == WaiverState.APPROVED and self.expires_at > timezone.now()

    @property
    def days_left(self) -> int:
        return (self.expires_at - timezone.now()).days

    def snapshot(self) -> dict[str, Any]:
        return {
            "policy": self.policy_id,
            "scope": self.scope,
            "version": self.version_id,
            "model": self.model_id,
            "owner": self.owner,
            "organization": self.organization_id,
            "application": self.application_id,
            "state": self.state,
            "reason": str(self.reason),
            "comment": self.comment,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


class ApprovalQuerySet(RestrictedQuerySet["Approval"]):
    def current(self) -> ApprovalQuerySet:
        return self.filter(is_current=True)


class Approval(models.Model):
    """A reviewer's decision on a version. An approval pins the file hashes the gate verifies."""

    version = models.ForeignKey("inventory.ModelVersion", on_delete=models.CASCADE, related_name="approvals")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    reason = models.TextField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)
    pinned_files = models.JSONField(default=list, blank=True, help_text="[{path, size, sha256, blob_id}] at approval.")
    is_current = models.BooleanField(default=True, db_index=True)
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopen_reason = models.TextField(blank=True)

    SCOPE = SHARED
    objects = ApprovalQuerySet.as_manager()

    class Meta:
        ordering = ["-decided_at", "-id"]
        permissions = [("approve_version", "Can approve or reject a model version")]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("policies:version_review", args=[self.version_id])
