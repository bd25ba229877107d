"""Data migration policies 0005: the unmodified built-in "Revision not pinned" moves to
`usage.follows_branch`; an edited one is left alone. Called with the app registry (the migration
function only uses fields present in the current models)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from core.models import AuditEvent
from policies.models import Policy, Violation
from policies.services.authoring import _write_policy, parse_policy_yaml
from tests import factories as f

pytestmark = pytest.mark.django_db

migration = importlib.import_module("policies.migrations.0005_revision_not_pinned_follows_branch")

OLD_YAML = """
- name: Revision not pinned
  description: The revision was asked for by branch or tag, not by commit.
  threat_level: 1
  actions: {proxy: none, develop: none, source: none, build: none, stage-release: none, release: warn, operate: none}
  constraints:
  - name: Not pinned
    match: all
    conditions:
    - {fact: revision.pinned, operator: is, value: false}
"""


def _old_builtin() -> Policy:
    Policy.objects.filter(name=migration.NAME).delete()
    (data,) = parse_policy_yaml(OLD_YAML)
    policy = Policy()
    _write_policy(policy, data)
    return policy


def _conditions(policy: Policy) -> list[tuple[str, str, object]]:
    return [(d.fact, d.operator, d.value) for c in policy.constraints.all() for d in c.conditions.all()]


def test_unmodified_builtin_is_rewritten_and_audited():
    policy = _old_builtin()
    root = f.ViolationFactory(policy=policy)
    app_context = f.ViolationFactory(policy=policy, application=f.ApplicationFactory())
    migration.update_revision_not_pinned(apps, None)
    policy.refresh_from_db()
    assert _conditions(policy) == [("usage.follows_branch", "is", True)]
    assert policy.constraints.get().name == "Application follows a branch"
    assert policy.description == migration.NEW_DESCRIPTION
    assert policy.revision == 2
    event = AuditEvent.objects.get(action="policy.update", target_id=str(policy.pk))
    assert event.actor is None and event.reason == migration.REASON
    assert event.before["constraints"][0]["conditions"][0]["fact"] == "revision.pinned"
    assert event.after["resolved_without_application"] == 1
    assert Violation.objects.get(pk=root.pk).state == "resolved"
    assert Violation.objects.get(pk=app_context.pk).state == "open"  # re-judged by the next evaluation
    # The rewritten rule equals the one the current default pack ships.
    shipped = {p.name: p for p in parse_policy_yaml(migration_pack_text())}[migration.NAME]
    assert shipped.description == policy.description
    migration.update_revision_not_pinned(apps, None)  # idempotent: revision 2 is no longer "unmodified"
    policy.refresh_from_db()
    assert policy.revision == 2


def migration_pack_text() -> str:
    from policies.services.authoring import DEFAULT_PACK

    return DEFAULT_PACK.read_text()


@pytest.mark.parametrize("edit", ["threat", "condition", "description", "revision"])
def test_edited_policy_is_left_alone(edit):
    policy = _old_builtin()
    if edit == "condition":
        cond = policy.constraints.get().conditions.get()
        cond.negate = True
        cond.save()
    elif edit == "description":
        Policy.objects.filter(pk=policy.pk).update(description="Ours: pin everything.")
    elif edit == "revision":
        Policy.objects.filter(pk=policy.pk).update(revision=3)
    elif edit == "threat":
        # an architect's edit bumps the revision; the rule itself may be unchanged
        Policy.objects.filter(pk=policy.pk).update(threat_level=4, revision=2)
    before = _conditions(policy)
    migration.update_revision_not_pinned(apps, None)
    policy.refresh_from_db()
    assert _conditions(policy) == before
    assert not AuditEvent.objects.filter(reason=migration.REASON).exists()


def test_no_policy_of_that_name_is_fine():
    Policy.objects.filter(name=migration.NAME).delete()
    migration.update_revision_not_pinned(apps, None)
    assert not AuditEvent.objects.filter(reason=migration.REASON).exists()
