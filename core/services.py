"""Cross-cutting use cases: the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from core.models import AuditEvent


def record_event(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    reason: str = "",
    before: Any = None,
    after: Any = None,
    extra: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. Call it inside the transaction that makes the change.

    `actor` is a user or None (the system: beat tasks, pipeline). `before`/`after` are JSON-able
    snapshots of what changed.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_event must run inside the transaction that makes the change")
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=user,
        actor_repr=user.get_username() if user else "system",
        action=action,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:300] if target is not None else "",
        reason=reason,
        before=before,
        after=after,
        extra=extra or {},
    )
