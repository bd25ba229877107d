"""The dashboard's models: risk snapshots and rollups, notification preferences, webhooks."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.generation import TrackedQuerySet
from core.permissions import GLOBAL_ONLY, OwnedBy, RestrictedQuerySet


class RiskSnapshot(models.Model):
    """The org-wide risk figures of one UTC day, taken by a beat task; the overview's trend reads these.

    Per-organization and per-application totals are kept as `{id: risk}` maps so the trend can follow
    the overview's filters without a row per (day, scope).
    """

    day = models.DateField(unique=True)
    total_risk = models.PositiveBigIntegerField(default=0, help_text="Σ threat level of open, unwaived violations.")
    open_count = models.PositiveIntegerField(default=0)
    waived_count = models.PositiveIntegerField(default=0)
    by_band = models.JSONField(default=dict, blank=True, help_text="{band: {count, risk}}")
    by_category = models.JSONField(default=dict, blank=True, help_text="{category: {count, risk}}")
    by_organization = models.JSONField(default=dict, blank=True, help_text="{organization id: risk} (own apps only)")
    by_application = models.JSONField(default=dict, blank=True, help_text="{application id or 'root': risk}")
    taken_at = models.DateTimeField(auto_now=True)

    SCOPE = GLOBAL_ONLY
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-day"]
        permissions = [("view_overview", "Can view the organization-wide risk overview")]

    def __str__(self) -> str:
        return f"risk {self.day}: {self.total_risk}"


class NotificationEvent(models.TextChoices):
    """What a user can subscribe to; also the `event` of webhook payloads."""

    VIOLATION_FAIL = "violation.fail", "New violation of a policy that fails a stage"
    WAIVER_REQUEST = "waiver.request", "Waiver requested"
    WAIVER_DECISION = "waiver.decision", "Waiver approved, rejected or revoked"
    WAIVER_EXPIRING = "waiver.expiring", "Waiver expiring soon or expired"
    VERSION_DECISION = "version.decision", "Version approved or rejected"
    SCAN_FAILED = "scan.failed", "Scan failed"


class NotificationPreference(models.Model):
    """What one user receives by email. No row means the defaults (the daily digest only)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_pref")
    email_events = models.JSONField(default=list, blank=True, help_text="NotificationEvent values sent at once.")
    daily_digest = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    SCOPE = (OwnedBy("user"),)
    objects = RestrictedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"notifications of {self.user}"


class Webhook(models.Model):
    """An endpoint that receives HMAC-SHA256-signed JSON for the chosen events (all when none chosen)."""

    name = models.CharField(max_length=150)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128, help_text="Shared secret of the X-Modelgate-Signature HMAC.")
    events = models.JSONField(default=list, blank=True, help_text="NotificationEvent values; empty means all.")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    SCOPE = GLOBAL_ONLY
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event: str) -> bool:
        return self.active and (not self.events or event in self.events)


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one webhook: the row the delivery task advances."""

    CHANGES_TRACKED = False  # no cached page or gate answer reads it (core/generation.py)

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, db_index=True)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    SCOPE = GLOBAL_ONLY
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook} ({self.state})"


class NotificationCursor(models.Model):
    """Watermarks of the notification feed (last audit event id, last violation id processed)."""

    CHANGES_TRACKED = False  # no cached page or gate answer reads it (core/generation.py)

    name = models.CharField(max_length=40, unique=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"


class RollupRun(models.Model):
    """One refresh of the overview's rollups (RiskRollup, ModelRiskRollup); the newest is the one in use."""

    refreshed_at = models.DateTimeField(db_index=True)
    duration_ms = models.PositiveIntegerField(default=0)
    violations = models.PositiveIntegerField(default=0, help_text="Violations aggregated.")
    figures = models.JSONField(
        default=dict,
        blank=True,
        help_text="Unscoped figures: {licenses: {group: versions}, top_models}.",
    )

    objects = TrackedQuerySet.as_manager()

    class Meta:
        ordering = ["-refreshed_at", "-id"]

    def __str__(self) -> str:
        return f"rollup {self.refreshed_at:%Y-%m-%d %H:%M:%S}"


class RollupLease(models.Model):
    """The one row that lets a single worker refresh the rollups at a time (claimed by a conditional
    UPDATE, which every database runs atomically; it lapses at `expires_at` if its worker died)."""

    CHANGES_TRACKED = False  # no cached page or gate answer reads it (core/generation.py)

    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"rollup lease {self.holder or '-'} until {self.expires_at:%H:%M:%S}"


class RiskRollup(models.Model):
    """Violations counted per context × threat level × category × state (a cache; ids, no foreign keys)."""

    CHANGES_TRACKED = False  # no cached page or gate answer reads it (core/generation.py)

    application_id = models.BigIntegerField(null=True, blank=True, db_index=True, help_text="Empty: root context.")
    organization_id = models.BigIntegerField(null=True, blank=True)
    threat_level = models.PositiveSmallIntegerField()
    category = models.CharField(max_length=10)
    state = models.CharField(max_length=8)
    count = models.PositiveIntegerField()
    resolve_seconds = models.FloatField(default=0.0, help_text="Σ (resolved_at − opened_at) of resolved ones.")

    def __str__(self) -> str:
        return f"{self.application_id or 'root'} {self.threat_level} {self.category} {self.state}: {self.count}"


class ModelRiskRollup(models.Model):
    """Open risk per model and context (a cache; ids, no foreign keys)."""

    CHANGES_TRACKED = False  # no cached page or gate answer reads it (core/generation.py)

    model_id = models.BigIntegerField()
    repo_id = models.CharField(max_length=200)
    application_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    risk = models.PositiveIntegerField()
    count = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.repo_id} in {self.application_id or 'root'}: {self.risk}"


class PairRollup(models.Model):
    """Problems — distinct (version, policy) pairs, the rows of the triage list — per threat level ×
    category × state (the pair's state: open if any of its violations is open, else waived, else
    resolved). `organization_id` empty: every context; set: the applications of that organization and
    its descendants (a pair used by two of its applications counts once). A cache; ids, no foreign keys."""

    CHANGES_TRACKED = False  # no cached page or gate answer reads it (core/generation.py)

    organization_id = models.BigIntegerField(null=True, blank=True, db_index=True, help_text="Empty: everything.")
    threat_level = models.PositiveSmallIntegerField()
    category = models.CharField(max_length=10)
    state = models.CharField(max_length=8)
    count = models.PositiveIntegerField()
    resolve_seconds = models.FloatField(
        default=0.0, help_text="Σ (last resolved_at − first opened_at) of the resolved pairs."
    )

    def __str__(self) -> str:
        return f"{self.organization_id or 'all'} {self.threat_level} {self.category} {self.state}: {self.count}"
