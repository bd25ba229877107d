"""The kernel's one model: the append-only audit log, with the typed vocabulary of its actions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from core.permissions import GLOBAL_ONLY, RestrictedQuerySet


class AuditAction(models.TextChoices):
    """Every action an audit event can record (`<object>.<verb>`); services pass one of these."""

    APPLICATION_CREATE = "application.create", "Application created"
    APPLICATION_UPDATE = "application.update", "Application changed"
    CITOKEN_CREATE = "citoken.create", "CI token created"
    CITOKEN_REVOKE = "citoken.revoke", "CI token revoked"
    DATASET_FLAG = "dataset.flag", "Dataset flagged"
    IMPORT_REQUEST = "import.request", "Import requested"
    IMPORT_RETRY = "import.retry", "Import retried"
    LICENSE_CONCLUDE = "license.conclude", "License concluded"
    LICENSE_CARRY_FORWARD = "license.carry_forward", "License conclusion carried forward"
    LICENSE_CARRY_REVOKE = "license.carry_revoke", "Carried-forward conclusion revoked"
    LICENSE_OBLIGATION = "license.obligation", "Obligation of a license changed"
    LICENSE_OBLIGATION_STATUS = "license.obligation_status", "Obligation status changed"
    LICENSE_UPDATE = "license.update", "License changed"
    MEMBERSHIP_GRANT = "membership.grant", "Organization role granted"
    MEMBERSHIP_REVOKE = "membership.revoke", "Organization role revoked"
    OBLIGATION_UPDATE = "obligation.update", "Obligation changed"
    ORGANIZATION_CREATE = "organization.create", "Organization created"
    ORGANIZATION_UPDATE = "organization.update", "Organization changed"
    POLICY_CREATE = "policy.create", "Policy created"
    POLICY_DELETE = "policy.delete", "Policy deleted"
    POLICY_ENABLE = "policy.enable", "Policy enabled or disabled"
    POLICY_UPDATE = "policy.update", "Policy changed"
    SCAN_REQUEST = "scan.request", "Scan requested"
    SCAN_FAILED = "scan.failed", "Scan failed"
    TEAM_CREATE = "team.create", "Team created"
    TEAM_MEMBERS = "team.members", "Members of a team changed"
    TRIAGE_ASSIGN = "triage.assign", "Violation assigned"
    TRIAGE_COMMENT = "triage.comment", "Violation commented"
    TRIAGE_DUE = "triage.due", "Violation due date changed"
    TRIAGE_DISMISS = "triage.dismiss", "Violation dismissed"
    TRIAGE_REOPEN = "triage.reopen", "Violation reopened"
    USAGE_ADD = "usage.add", "Model added to an application"
    USAGE_REMOVE = "usage.remove", "Model removed from an application"
    USER_CREATE = "user.create", "User created"
    USER_INVITE = "user.invite", "User invited"
    USER_UPDATE = "user.update", "User changed"
    USER_ROLES = "user.roles", "Global roles of a user changed"
    USER_DEACTIVATE = "user.deactivate", "User deactivated"
    USER_ACTIVATE = "user.activate", "User reactivated"
    USER_SSO_LOGIN = "user.sso_login", "User signed in through single sign-on"
    VERSION_IMPORT = "version.import", "Version imported"
    VERSION_APPROVE = "version.approve", "Version approved"
    VERSION_REJECT = "version.reject", "Version rejected"
    VERSION_REOPEN = "version.reopen", "Version review reopened"
    WAIVER_REQUEST = "waiver.request", "Waiver requested"
    WAIVER_APPROVE = "waiver.approve", "Waiver approved"
    WAIVER_REJECT = "waiver.reject", "Waiver rejected"
    WAIVER_REVOKE = "waiver.revoke", "Waiver revoked"
    WAIVER_EXPIRE = "waiver.expire", "Waiver expired"
    WATCH_ADD = "watch.add", "Watch added"
    WATCH_REMOVE = "watch.remove", "Watch removed"
    WEBHOOK_CREATE = "webhook.create", "Webhook created"
    WEBHOOK_UPDATE = "webhook.update", "Webhook changed"
    WEBHOOK_DELETE = "webhook.delete", "Webhook deleted"
    WEBHOOK_PING = "webhook.ping", "Webhook pinged"


class AuditEventQuerySet(RestrictedQuerySet["AuditEvent"]):
    def for_object(self, obj: models.Model) -> AuditEventQuerySet:
        return self.filter(target_type=ContentType.objects.get_for_model(obj), target_id=str(obj.pk))


class AuditEvent(models.Model):
    """One decision or change, written in the same transaction as the change itself.

    Append-only: rows are never updated or deleted by the application. The table keeps the name
    it had when the model lived in the governance app (moved state-only; see core/migrations/0001).
    """

    CHANGES_TRACKED = False  # no cached page or gate answer reads it (core/generation.py)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_repr = models.CharField(max_length=150, blank=True, help_text="Username at the time, or 'system'.")
    action = models.CharField(
        max_length=80, db_index=True, choices=AuditAction.choices, help_text="Dotted verb, e.g. policy.update."
    )
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    target = GenericForeignKey("target_type", "target_id")
    target_repr = models.CharField(max_length=300, blank=True)
    reason = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    SCOPE = GLOBAL_ONLY
    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = "governance_auditevent"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-created_at"], name="governance__target__9e6caf_idx")
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_repr} {self.action} {self.target_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.pop("_allow_update", False):
            raise ValueError("Audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("Audit events are append-only")


class DataGeneration(models.Model):
    """The data generation's one row where there is no sequence (SQLite); see core/generation.py.

    On PostgreSQL the number lives in the `modelgate_generation` sequence and this table stays empty.
    """

    value = models.BigIntegerField(default=0)

    SCOPE = GLOBAL_ONLY
    CHANGES_TRACKED = False

    def __str__(self) -> str:
        return str(self.value)
