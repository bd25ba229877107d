"""Existing installs: the built-in "Revision not pinned" policy moves to the new rule.

Until this release the default pack's rule was `revision.pinned is false` (the import asked for a branch
or tag), which fired on every web import. The pack now says `usage.follows_branch is true` (an
application follows a branch instead of pinning the commit). A fresh install loads the new pack; an
existing one still has the old rule, so this migration rewrites it — only when the policy is still the
unmodified built-in one (revision 1, the old description, one constraint with the one old condition).
An edited policy is the architect's and is left alone.

The rewrite is audited (policy.update by the system, before/after) and bumps the policy revision. The
new fact is per application, so open violations of this policy in the inventory-wide context (no
application) cannot hold any more and are resolved; application contexts are re-judged by the next
evaluation of their versions.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.utils import timezone

NAME = "Revision not pinned"
OLD_DESCRIPTION = "The revision was asked for by branch or tag, not by commit."
OLD_CONSTRAINT = "Not pinned"
OLD_CONDITION = {"fact": "revision.pinned", "operator": "is", "value": False, "negate": False}
NEW_DESCRIPTION = (
    "An application uses this model by following a branch or tag (e.g. main) instead of pinning the "
    "commit, so what it runs can change under it. Importing by branch is fine; depending on the branch is the risk."
)
NEW_CONSTRAINT = "Application follows a branch"
NEW_CONDITION = {"fact": "usage.follows_branch", "operator": "is", "value": True, "negate": False}
REASON = "migration: the built-in “Revision not pinned” now means an application follows a branch"


def _rule(policy: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": c.name,
            "match": c.match,
            "conditions": [
                {"fact": d.fact, "operator": d.operator, "value": d.value, "negate": d.negate}
                for d in c.conditions.order_by("position", "id")
            ],
        }
        for c in policy.constraints.order_by("position", "id")
    ]


def is_unmodified_builtin(policy: Any) -> bool:
    return (
        policy.revision == 1
        and policy.description == OLD_DESCRIPTION
        and policy.organization_id is None
        and policy.application_id is None
        and _rule(policy) == [{"name": OLD_CONSTRAINT, "match": "all", "conditions": [OLD_CONDITION]}]
    )


def update_revision_not_pinned(apps: Any, schema_editor: Any) -> None:
    """Forward: rewrite the unmodified built-in policy to the new rule (audited)."""
    Policy = apps.get_model("policies", "Policy")
    Violation = apps.get_model("policies", "Violation")
    AuditEvent = apps.get_model("core", "AuditEvent")
    ContentType = apps.get_model("contenttypes", "ContentType")
    policy = Policy.objects.filter(name=NAME).first()
    if policy is None or not is_unmodified_builtin(policy):
        return
    before = {"description": policy.description, "constraints": _rule(policy), "revision": policy.revision}
    constraint = policy.constraints.get()
    constraint.name = NEW_CONSTRAINT
    constraint.save(update_fields=["name"])
    condition = constraint.conditions.get()
    condition.fact = NEW_CONDITION["fact"]
    condition.value = NEW_CONDITION["value"]
    condition.save(update_fields=["fact", "value"])
    policy.description = NEW_DESCRIPTION
    policy.revision += 1
    policy.save(update_fields=["description", "revision"])
    now = timezone.now()
    resolved = Violation.objects.filter(policy=policy, application__isnull=True, state="open").update(
        state="resolved", resolved_at=now, last_evaluated_at=now
    )
    content_type, _ = ContentType.objects.get_or_create(app_label="policies", model="policy")
    AuditEvent.objects.create(
        actor=None,
        actor_repr="system",
        action="policy.update",
        target_type=content_type,
        target_id=str(policy.pk),
        target_repr=policy.name[:300],
        reason=REASON,
        before=before,
        after={
            "description": policy.description,
            "constraints": _rule(policy),
            "revision": policy.revision,
            "resolved_without_application": resolved,
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0004_policy_remediation"),
        ("core", "0005_membership_triage_user_actions"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(update_revision_not_pinned, migrations.RunPython.noop)]
