"""Use cases of the policies app: authoring, evaluation, waivers, approvals, the gate.

Every service is keyword-only and typed; the ones that decide or edit run inside
`transaction.atomic` and write their audit event in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.choices import Band, Category
from core.permissions import has_perm, require
from core.services import record_event
from inventory.choices import ReviewStatus
from inventory.models import Application, Model, ModelFile, ModelVersion, Organization
from policies.choices import Action, Decision, ScopeKind, Stage, ViolationState, WaiverScope, WaiverState
from policies.engine.catalog import derive_category
from policies.engine.evaluator import CompiledPolicy, ConditionError, compile_policy, evaluate, normalize_value
from policies.facts import EvaluationContext, gather_facts
from policies.models import Approval, Condition, Constraint, Policy, Violation, Waiver, WaiverReason

log = logging.getLogger(__name__)

CHUNK = 2000
DEFAULT_PACK = Path(__file__).resolve().parent / "data" / "default_pack.yaml"

# ---------------------------------------------------------------------------------------------
# Authoring
# ---------------------------------------------------------------------------------------------


@dataclass
class PolicyData:
    """A policy as authored (form, API, YAML) before it is saved; `clean()` validates and normalizes."""

    name: str
    threat_level: int
    description: str = ""
    enabled: bool = True
    non_waivable: bool = False
    organization: Organization | None = None
    application: Application | None = None
    actions: dict[str, str] = field(default_factory=dict)
    constraints: list[dict[str, Any]] = field(default_factory=list)

    def clean(self) -> PolicyData:
        errors: dict[str, list[str]] = defaultdict(list)
        if not self.name.strip():
            errors["name"].append("A policy needs a name.")
        if not 0 <= int(self.threat_level) <= 10:
            errors["threat_level"].append("Threat level is 0 to 10.")
        if self.organization is not None and self.application is not None:
            errors["scope"].append("Scope a policy to an organization or an application, not both.")
        actions = {}
        for stage in Stage.values:
            action = self.actions.get(stage, Action.NONE)
            if action not in Action.values:
                errors["actions"].append(f"{stage}: {action!r} is not none/warn/fail")
            actions[stage] = action
        self.actions = actions
        constraints = []
        for i, constraint in enumerate(self.constraints, 1):
            conditions = []
            for j, cond in enumerate(constraint.get("conditions") or [], 1):
                try:
                    value = normalize_value(cond.get("fact", ""), cond.get("operator", ""), cond.get("value"))
                except ConditionError as exc:
                    errors["constraints"].append(f"Constraint {i}, condition {j}: {exc}")
                    continue
                conditions.append(
                    {
                        "fact": cond["fact"],
                        "operator": cond["operator"],
                        "value": value,
                        "negate": bool(cond.get("negate")),
                    }
                )
            if not conditions:
                errors["constraints"].append(f"Constraint {i} has no condition.")
            match = constraint.get("match") or "all"
            if match not in {"any", "all"}:
                errors["constraints"].append(f"Constraint {i}: match is any or all.")
            constraints.append(
                {"name": constraint.get("name") or f"Constraint {i}", "match": match, "conditions": conditions}
            )
        if not constraints:
            errors["constraints"].append("A policy needs at least one constraint.")
        self.constraints = constraints
        if errors:
            raise ValidationError(dict(errors))
        return self

    @property
    def category(self) -> str:
        return derive_category([c["fact"] for k in self.constraints for c in k["conditions"]])

    @classmethod
    def from_policy(cls, policy: Policy) -> PolicyData:
        return cls(
            name=policy.name,
            threat_level=policy.threat_level,
            description=policy.description,
            enabled=policy.enabled,
            non_waivable=policy.non_waivable,
            organization=policy.organization,
            application=policy.application,
            actions=policy.actions(),
            constraints=constraints_of(policy),
        )


def constraints_of(policy: Policy) -> list[dict[str, Any]]:
    return [
        {
            "name": k.name,
            "match": k.match,
            "conditions": [
                {"fact": c.fact, "operator": c.operator, "value": c.value, "negate": c.negate}
                for c in k.conditions.all()
            ],
        }
        for k in policy.constraints.all()
    ]


def policy_snapshot(policy: Policy) -> dict[str, Any]:
    """The policy as exported to YAML and recorded before/after every edit."""
    scope: Any = "root"
    if policy.application is not None:
        scope = {"application": policy.application.slug}
    elif policy.organization is not None:
        scope = {"organization": policy.organization.slug}
    return {
        "name": policy.name,
        "description": policy.description,
        "threat_level": policy.threat_level,
        "category": policy.category,
        "scope": scope,
        "enabled": policy.enabled,
        "non_waivable": policy.non_waivable,
        "actions": policy.actions(),
        "constraints": constraints_of(policy),
        "revision": policy.revision,
    }


def _write_policy(policy: Policy, data: PolicyData) -> None:
    policy.name = data.name.strip()
    policy.description = data.description
    policy.threat_level = int(data.threat_level)
    policy.enabled = data.enabled
    policy.non_waivable = data.non_waivable
    policy.organization = data.organization
    policy.application = data.application
    policy.category = data.category
    for stage, action in data.actions.items():
        setattr(policy, Stage.field_name(stage), action)
    policy.full_clean(exclude=["created_by"], validate_unique=True, validate_constraints=False)
    policy.save()
    policy.constraints.all().delete()
    for i, k in enumerate(data.constraints):
        constraint = Constraint.objects.create(policy=policy, name=k["name"], match=k["match"], position=i)
        Condition.objects.bulk_create(
            Condition(constraint=constraint, position=j, **cond) for j, cond in enumerate(k["conditions"])
        )
    Violation.objects.filter(policy=policy).sync_threat_levels()
    # Drop cached prefetches so the snapshot reads what was written.
    if hasattr(policy, "_prefetched_objects_cache"):
        policy._prefetched_objects_cache = {}


def _enqueue_evaluation(version_ids: list[int] | None = None) -> None:
    from policies import tasks

    transaction.on_commit(lambda: tasks.evaluate_versions_task.delay(version_ids=version_ids))


@transaction.atomic
def create_policy(*, user: Any, data: PolicyData, reason: str = "") -> Policy:
    require(user, "policies.add_policy")
    data.clean()
    policy = Policy(created_by=user if getattr(user, "is_authenticated", False) else None)
    _write_policy(policy, data)
    record_event(actor=user, action="policy.create", target=policy, reason=reason, after=policy_snapshot(policy))
    _enqueue_evaluation()
    return policy


@transaction.atomic
def update_policy(*, user: Any, policy: Policy, data: PolicyData, reason: str = "") -> Policy:
    require(user, "policies.change_policy")
    data.clean()
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    before = policy_snapshot(policy)
    _write_policy(policy, data)
    after = policy_snapshot(policy)
    if {k: v for k, v in before.items() if k != "revision"} == {k: v for k, v in after.items() if k != "revision"}:
        return policy
    policy.revision += 1
    policy.save(update_fields=["revision", "updated_at"])
    after["revision"] = policy.revision
    record_event(actor=user, action="policy.update", target=policy, reason=reason, before=before, after=after)
    _enqueue_evaluation()
    return policy


@transaction.atomic
def set_policy_enabled(*, user: Any, policy: Policy, enabled: bool, reason: str = "") -> Policy:
    require(user, "policies.change_policy")
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    if policy.enabled == enabled:
        return policy
    policy.enabled = enabled
    policy.revision += 1
    policy.save(update_fields=["enabled", "revision", "updated_at"])
    record_event(
        actor=user,
        action="policy.enable" if enabled else "policy.disable",
        target=policy,
        reason=reason,
        before={"enabled": not enabled},
        after={"enabled": enabled, "revision": policy.revision},
    )
    _enqueue_evaluation()
    return policy


@transaction.atomic
def delete_policy(*, user: Any, policy: Policy, reason: str = "") -> None:
    require(user, "policies.delete_policy")
    record_event(actor=user, action="policy.delete", target=policy, reason=reason, before=policy_snapshot(policy))
    policy.delete()


# --- YAML -------------------------------------------------------------------------------------


def export_policies(*, policies: Iterable[Policy]) -> str:
    items = []
    for policy in policies:
        snap = policy_snapshot(policy)
        snap.pop("category")
        snap.pop("revision")
        items.append(snap)
    return yaml.safe_dump({"policies": items}, sort_keys=False, allow_unicode=True)


def policy_data_from_dict(item: dict[str, Any]) -> PolicyData:
    scope = item.get("scope") or "root"
    organization = application = None
    try:
        if isinstance(scope, dict) and "application" in scope:
            application = Application.objects.get(slug=scope["application"])
        elif isinstance(scope, dict) and "organization" in scope:
            organization = Organization.objects.get(slug=scope["organization"])
        elif scope != "root":
            raise ValidationError({"scope": f"Unknown scope {scope!r}"})
    except (Application.DoesNotExist, Organization.DoesNotExist) as exc:
        raise ValidationError({"scope": f"{item.get('name')}: scope {scope} not found"}) from exc
    return PolicyData(
        name=str(item.get("name", "")),
        description=str(item.get("description") or ""),
        threat_level=int(item.get("threat_level", 0)),
        enabled=bool(item.get("enabled", True)),
        non_waivable=bool(item.get("non_waivable", False)),
        organization=organization,
        application=application,
        actions=dict(item.get("actions") or {}),
        constraints=list(item.get("constraints") or []),
    )


def parse_policy_yaml(text: str) -> list[PolicyData]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"Not valid YAML: {exc}") from exc
    items = doc.get("policies") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ValidationError("Expected a list of policies under `policies:`.")
    return [policy_data_from_dict(item).clean() for item in items]


@transaction.atomic
def import_policies(*, user: Any, text: str, reason: str = "import") -> list[Policy]:
    """Create or update (by name) every policy of a YAML document; each change audited."""
    result = []
    for data in parse_policy_yaml(text):
        existing = Policy.objects.filter(name=data.name.strip()).first()
        if existing is None:
            result.append(create_policy(user=user, data=data, reason=reason))
        else:
            result.append(update_policy(user=user, policy=existing, data=data, reason=reason))
    return result


@transaction.atomic
def load_default_pack(*, force: bool = False) -> list[Policy]:
    """Load the default pack as the system (first run, or `load_policy_pack`). Existing names are kept."""
    if not force and Policy.objects.exists():
        return []
    created = []
    for data in parse_policy_yaml(DEFAULT_PACK.read_text()):
        if Policy.objects.filter(name=data.name).exists():
            continue
        policy = Policy()
        _write_policy(policy, data)
        record_event(
            actor=None,
            action="policy.create",
            target=policy,
            reason="default policy pack",
            after=policy_snapshot(policy),
        )
        created.append(policy)
    for i, name in enumerate(DEFAULT_WAIVER_REASONS):
        WaiverReason.objects.get_or_create(name=name, defaults={"position": i})
    return created


@transaction.atomic
def load_policy_file(*, text: str, source: str, update: bool = False) -> list[Policy]:
    """Load policies from YAML as the system (CLI): new names are created, existing ones updated only with `update`."""
    loaded = []
    for data in parse_policy_yaml(text):
        existing = Policy.objects.filter(name=data.name).first()
        if existing is not None and not update:
            continue
        before = policy_snapshot(existing) if existing else None
        policy = existing or Policy()
        _write_policy(policy, data)
        if existing is not None:
            policy.revision += 1
            policy.save(update_fields=["revision"])
        record_event(
            actor=None, action="policy.update" if existing else "policy.create", target=policy,
            reason=f"loaded from {source}", before=before, after=policy_snapshot(policy),
        )  # fmt: skip
        loaded.append(policy)
    _enqueue_evaluation()
    return loaded


DEFAULT_WAIVER_REASONS = [
    "Risk accepted by the business owner",
    "False positive",
    "Compensating control in place",
    "Fix planned (temporary exception)",
    "Not applicable to our use",
]

# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


@dataclass
class ScopedPolicy:
    compiled: CompiledPolicy
    organization_id: int | None
    application_id: int | None
    release_action: str


@dataclass
class EvaluationResult:
    versions: int = 0
    created: int = 0
    reopened: int = 0
    resolved: int = 0
    updated: int = 0
    waived: int = 0
    unwaived: int = 0
    reviews_reopened: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class OrgTree:
    """Organizations and applications loaded once: ancestor chains without per-row queries."""

    def __init__(self) -> None:
        self.parent = dict(Organization.objects.values_list("id", "parent_id"))
        self.app_org = dict(Application.objects.values_list("id", "organization_id"))

    def chain(self, org_id: int | None) -> list[int]:
        out: list[int] = []
        while org_id is not None and org_id not in out and len(out) < 64:
            out.append(org_id)
            org_id = self.parent.get(org_id)
        return out

    def app_chain(self, app_id: int) -> list[int]:
        return self.chain(self.app_org.get(app_id))


def compile_policies(policies: Iterable[Policy], *, now: datetime) -> list[ScopedPolicy]:
    scoped = []
    for policy in policies:
        try:
            compiled = compile_policy(policy.pk, constraints_of(policy), now=now)
        except ConditionError:
            log.exception("policy %s cannot be compiled; skipped", policy.pk)
            continue
        scoped.append(ScopedPolicy(compiled, policy.organization_id, policy.application_id, policy.action_release))
    return scoped


def _applies(p: ScopedPolicy, app_id: int | None, tree: OrgTree) -> bool:
    if p.application_id is None and p.organization_id is None:
        return True
    if app_id is None:
        return False
    if p.application_id is not None:
        return p.application_id == app_id
    return p.organization_id in tree.app_chain(app_id)


Key = tuple[int, int, int | None]  # (policy, version, application)


def compute_matches(
    scoped: list[ScopedPolicy],
    version_ids: list[int],
    *,
    now: datetime,
    tree: OrgTree,
    extra_contexts: Iterable[tuple[int, int]] = (),
) -> dict[Key, dict[str, Any]]:
    """Evaluate policies over versions in the root context and in each using application's context.

    `extra_contexts` adds (version, application) pairs that are not recorded usages (the gate asking
    about an application that does not use the version yet).
    """
    from inventory.models import ApplicationModel

    results: dict[Key, dict[str, Any]] = {}
    if not scoped:
        return results
    needed = frozenset().union(*(p.compiled.facts_used for p in scoped))
    base = gather_facts(version_ids, EvaluationContext(now=now), needed=needed)
    root_policies = [p for p in scoped if p.organization_id is None and p.application_id is None]
    for vid in version_ids:
        facts = base[vid]
        for p in root_policies:
            matched = evaluate(p.compiled, facts)
            if matched is not None:
                results[(p.compiled.id, vid, None)] = matched
    by_app: dict[int, list[int]] = defaultdict(list)
    for vid, app_id in ApplicationModel.objects.filter(version_id__in=version_ids).values_list(
        "version_id", "application_id"
    ):
        by_app[app_id].append(vid)
    for vid, app_id in extra_contexts:
        if vid not in by_app[app_id]:
            by_app[app_id].append(vid)
    apps = Application.objects.in_bulk(list(by_app))
    for app_id, vids in by_app.items():
        policies = [p for p in scoped if _applies(p, app_id, tree)]
        if not policies:
            continue
        app_needed = frozenset().union(*(p.compiled.facts_used for p in policies))
        app_facts = gather_facts(
            vids, EvaluationContext(now=now, application=apps.get(app_id)), per_application=True, needed=app_needed
        )
        for vid in vids:
            facts = {**base[vid], **app_facts.get(vid, {})}
            for p in policies:
                matched = evaluate(p.compiled, facts)
                if matched is not None:
                    results[(p.compiled.id, vid, app_id)] = matched
    return results


@dataclass(frozen=True)
class WaiverRule:
    id: int
    policy_id: int
    scope: str
    version_id: int | None
    model_id: int | None
    owner: str
    organization_id: int | None
    application_id: int | None

    def covers(self, policy_id: int, version_id: int, model_id: int, app_id: int | None, tree: OrgTree) -> bool:
        if policy_id != self.policy_id:
            return False
        if self.scope == WaiverScope.VERSION and version_id != self.version_id:
            return False
        if self.scope == WaiverScope.MODEL and model_id != self.model_id:
            return False
        if self.owner == ScopeKind.APPLICATION:
            return app_id is not None and app_id == self.application_id
        if self.owner == ScopeKind.ORGANIZATION:
            return app_id is not None and self.organization_id in tree.app_chain(app_id)
        return True


def waiver_rules(*, now: datetime, policy_ids: Iterable[int] | None = None) -> dict[int, list[WaiverRule]]:
    qs = Waiver.objects.in_force(now)
    if policy_ids is not None:
        qs = qs.filter(policy_id__in=list(policy_ids))
    rules: dict[int, list[WaiverRule]] = defaultdict(list)
    for row in qs.order_by("expires_at").values(
        "id", "policy_id", "scope", "version_id", "model_id", "owner", "organization_id", "application_id"
    ):
        rules[row["policy_id"]].append(WaiverRule(**row))
    return rules


def _covering(rules: dict[int, list[WaiverRule]], key: Key, model_id: int, tree: OrgTree) -> int | None:
    policy_id, vid, app_id = key
    for rule in rules.get(policy_id, ()):
        if rule.covers(policy_id, vid, model_id, app_id, tree):
            return rule.id
    return None


def evaluate_versions(*, version_ids: Iterable[int] | None = None, chunk_size: int = CHUNK) -> EvaluationResult:
    """Create, update, reopen and resolve violations so they match the current facts and policies.

    Idempotent: running it twice changes nothing the second time. Runs in chunks (one
    transaction each) so a large re-evaluation neither holds a long lock nor needs much memory.
    """
    now = timezone.now()
    policies = list(Policy.objects.enabled().prefetch_related("constraints__conditions"))
    scoped = compile_policies(policies, now=now)
    release = {p.pk: p.action_release for p in policies}
    revisions = {p.pk: p.revision for p in policies}
    tree = OrgTree()
    rules = waiver_rules(now=now)
    if version_ids is None:
        ids = list(ModelVersion.objects.order_by("pk").values_list("pk", flat=True))
    else:
        ids = sorted(set(version_ids))
    result = EvaluationResult(versions=len(ids))
    for start in range(0, len(ids), chunk_size):
        chunk = ids[start : start + chunk_size]
        _evaluate_chunk(
            chunk, scoped=scoped, release=release, revisions=revisions, tree=tree, rules=rules, now=now, result=result
        )
    return result


@transaction.atomic
def _evaluate_chunk(
    chunk: list[int],
    *,
    scoped: list[ScopedPolicy],
    release: dict[int, str],
    revisions: dict[int, int],
    tree: OrgTree,
    rules: dict[int, list[WaiverRule]],
    now: datetime,
    result: EvaluationResult,
) -> None:
    """Diff the matches of one chunk of versions against its stored violations; write only the changes.

    Rows are read as tuples and written with executemany: at 10,000 versions this is the hot path.
    """
    matches = compute_matches(scoped, chunk, now=now, tree=tree)
    # Lock the chunk's versions: concurrent evaluations of the same versions (a scan and a license
    # conclusion landing together) diff one after the other instead of racing.
    versions = {
        vid: (model_id, status)
        for vid, model_id, status in ModelVersion.objects.select_for_update()
        .filter(id__in=chunk)
        .values_list("id", "model_id", "review_status")
    }
    existing: dict[Key, tuple[int, str, str, int | None]] = {
        (policy_id, vid, app_id): (pk, state, fp, waiver_id)
        for pk, policy_id, vid, app_id, state, fp, waiver_id in Violation.objects.filter(
            version_id__in=chunk
        ).values_list("id", "policy_id", "version_id", "application_id", "state", "fingerprint", "waiver_id")
    }
    to_create: list[tuple[Key, str, dict[str, Any], int | None]] = []
    # pk, state, matched (None: unchanged), waiver, reopen, resolve
    to_update: list[tuple[int, str, dict[str, Any] | None, int | None, bool, bool]] = []
    newly_open: set[int] = set()
    for key, matched in matches.items():
        policy_id, vid, _app_id = key
        waiver_id = _covering(rules, key, versions[vid][0], tree)
        state = ViolationState.WAIVED.value if waiver_id else ViolationState.OPEN.value
        opens = state == ViolationState.OPEN and release.get(policy_id, "none") != Action.NONE
        row = existing.get(key)
        if row is None:
            to_create.append((key, state, matched, waiver_id))
            result.created += 1
            if opens:
                newly_open.add(vid)
            continue
        pk, old_state, old_fingerprint, old_waiver = row
        if old_state == ViolationState.RESOLVED:
            to_update.append((pk, state, matched, waiver_id, True, False))
            result.reopened += 1
            if opens:
                newly_open.add(vid)
            continue
        changed_facts = old_fingerprint != fingerprint(matched)
        if old_state != state or old_waiver != waiver_id or changed_facts:
            if old_state != state:
                if state == ViolationState.OPEN:
                    result.unwaived += 1
                    if opens:
                        newly_open.add(vid)
                else:
                    result.waived += 1
            if changed_facts:
                result.updated += 1
            to_update.append((pk, state, matched if changed_facts else None, waiver_id, False, False))
    for key, (pk, old_state, _fp, old_waiver) in existing.items():
        if key not in matches and old_state != ViolationState.RESOLVED:
            to_update.append((pk, ViolationState.RESOLVED.value, None, old_waiver, False, True))
            result.resolved += 1
    _write_violations(to_create, to_update, now=now, revisions=revisions)
    for vid in sorted(newly_open):
        if versions[vid][1] == ReviewStatus.APPROVED:
            reopen_review(version_id=vid, reason="New violation on an approved version")
            result.reviews_reopened.append(vid)


def fingerprint(matched: dict[str, Any]) -> str:
    """Cheap change detection: the evaluator builds `matched` in a fixed order, so its repr is stable."""
    return hashlib.md5(repr(matched).encode(), usedforsecurity=False).hexdigest()


def _write_violations(
    to_create: list[tuple[Key, str, dict[str, Any], int | None]],
    to_update: list[tuple[int, str, dict[str, Any] | None, int | None, bool, bool]],
    *,
    now: datetime,
    revisions: dict[int, int],
) -> None:
    if not to_create and not to_update:
        return
    _write_violation_rows(to_create, to_update, now=now, revisions=revisions)
    touched = {k[0] for k, *_ in to_create}
    if touched:
        Violation.objects.filter(policy_id__in=touched).sync_threat_levels()


def _write_violation_rows(
    to_create: list[tuple[Key, str, dict[str, Any], int | None]],
    to_update: list[tuple[int, str, dict[str, Any] | None, int | None, bool, bool]],
    *,
    now: datetime,
    revisions: dict[int, int],
) -> None:
    table = connection.ops.quote_name(Violation._meta.db_table)
    matched_field = Violation._meta.get_field("matched")
    ts = connection.ops.adapt_datetimefield_value(now)

    def prep(value: dict[str, Any]) -> Any:
        return matched_field.get_db_prep_save(value, connection)

    with connection.cursor() as cursor:
        if to_create and connection.vendor == "postgresql":
            # COPY: the fastest bulk load; the chunk's versions are locked, so no concurrent duplicate.
            copy_sql = (
                f"COPY {table} (policy_id, version_id, application_id, state, matched, fingerprint, waiver_id, "
                "policy_revision, first_seen_at, opened_at, last_evaluated_at) FROM STDIN"
            )
            with cursor.cursor.copy(copy_sql) as copy:
                for k, state, m, w in to_create:
                    copy.write_row(
                        (
                            k[0],
                            k[1],
                            k[2],
                            state,
                            json.dumps(m),
                            fingerprint(m),
                            w,
                            revisions.get(k[0], 1),
                            now,
                            now,
                            now,
                        )
                    )
            to_create = []
        if to_create:
            rows = [
                (k[0], k[1], k[2], state, prep(m), fingerprint(m), w, revisions.get(k[0], 1), ts, ts, ts)
                for k, state, m, w in to_create
            ]
            # Multi-row VALUES in batches: one round trip per batch (executemany is one per row on PostgreSQL).
            width = len(rows[0])
            batch = max(1, min(500, (connection.features.max_query_params or 100_000) // width))
            placeholder = "(" + ", ".join(["%s"] * width) + ", NULL)"
            for start in range(0, len(rows), batch):
                part = rows[start : start + batch]
                cursor.execute(
                    f"INSERT INTO {table} (policy_id, version_id, application_id, state, matched, "  # noqa: S608
                    "fingerprint, waiver_id, policy_revision, first_seen_at, opened_at, last_evaluated_at, "
                    f"resolved_at) VALUES {', '.join([placeholder] * len(part))} ON CONFLICT DO NOTHING",
                    [value for row in part for value in row],
                )
        same = [u for u in to_update if u[2] is None]
        changed = [u for u in to_update if u[2] is not None]
        # Rows whose facts did not change share a few (state, waiver, resolved) outcomes: one UPDATE per
        # outcome and batch of ids (a policy disabled resolves thousands of rows in a handful of statements).
        groups: dict[tuple[str, int | None, bool], list[int]] = defaultdict(list)
        for pk, state, _m, w, _reopen, resolve in same:
            groups[(state, w, resolve)].append(pk)
        id_batch = max(1, min(1000, (connection.features.max_query_params or 100_000) - 8))
        for (state, w, resolve), pks in groups.items():
            for start in range(0, len(pks), id_batch):
                ids = pks[start : start + id_batch]
                cursor.execute(
                    f"UPDATE {table} SET state = %s, waiver_id = %s, resolved_at = %s, "  # noqa: S608
                    f"last_evaluated_at = %s WHERE id IN ({', '.join(['%s'] * len(ids))})",
                    [state, w, ts if resolve else None, ts, *ids],
                )
        if changed:
            cursor.executemany(
                f"UPDATE {table} SET state = %s, matched = %s, fingerprint = %s, waiver_id = %s, "  # noqa: S608
                "opened_at = CASE WHEN %s THEN %s ELSE opened_at END, resolved_at = NULL, last_evaluated_at = %s "
                "WHERE id = %s",
                [
                    (state, prep(m), fingerprint(m), w, reopen, ts, ts, pk)
                    for pk, state, m, w, reopen, _resolve in changed
                    if m is not None
                ],
            )


def evaluate_version(version_id: int) -> EvaluationResult:
    """Pipeline step (order 30, after scan and licenses)."""
    return evaluate_versions(version_ids=[version_id])


def request_evaluation(*, version_ids: list[int] | None = None) -> None:
    """For other apps: re-evaluate after the current transaction commits (or now, outside one)."""
    _enqueue_evaluation(version_ids)


# --- actions ----------------------------------------------------------------------------------


def action_at(
    *, version: ModelVersion, stage: str, application: Application | None = None
) -> tuple[str, list[Violation]]:
    """Strongest action at `stage` of the version's open, unwaived violations in the given context."""
    field_name = Stage.field_name(stage)
    violations = list(
        Violation.objects.filter(version=version, application=application, state=ViolationState.OPEN)
        .select_related("policy")
        .order_by("-policy__threat_level", "policy__name")
    )
    action = Action.strongest([getattr(v.policy, field_name) for v in violations])
    return action, violations


def blocking_violations(*, version: ModelVersion) -> list[Violation]:
    """Open, unwaived violations (any context) whose policy fails at release: approval is refused."""
    return list(
        Violation.objects.filter(version=version, state=ViolationState.OPEN, policy__action_release=Action.FAIL)
        .select_related("policy", "application")
        .order_by("-policy__threat_level")
    )


# --- impact preview -----------------------------------------------------------------------------


@dataclass
class PolicyImpact:
    stage: str
    newly_fail: list[ModelVersion]
    newly_warn: list[ModelVersion]
    cleared: list[ModelVersion]
    matched_versions: int
    counts: dict[str, int]


def preview_policy_impact(
    *, data: PolicyData, policy: Policy | None = None, stage: str = Stage.RELEASE, limit: int = 100
) -> PolicyImpact:
    """What saving `data` (over `policy`, or as a new policy) would change at `stage`, per version.

    Compares each version's current action (strongest over its open, unwaived violations, all
    contexts) with the action it would have with this policy's violations replaced.
    """
    data.clean()
    now = timezone.now()
    pid = policy.pk if policy is not None else -1
    compiled = compile_policy(pid, data.constraints, now=now)
    candidate = ScopedPolicy(
        compiled,
        data.organization.pk if data.organization else None,
        data.application.pk if data.application else None,
        data.actions.get(Stage.RELEASE, Action.NONE),
    )
    new_action = data.actions.get(stage, Action.NONE) if data.enabled else Action.NONE
    field_name = Stage.field_name(stage)
    before: dict[int, str] = defaultdict(lambda: Action.NONE.value)
    after: dict[int, str] = defaultdict(lambda: Action.NONE.value)
    for vid, policy_id, action in Violation.objects.filter(state=ViolationState.OPEN).values_list(
        "version_id", "policy_id", f"policy__{field_name}"
    ):
        before[vid] = Action.strongest([before[vid], action])
        if policy_id != pid:
            after[vid] = Action.strongest([after[vid], action])
    tree = OrgTree()
    rules = waiver_rules(now=now, policy_ids=[pid]) if policy else {}
    ids = list(ModelVersion.objects.order_by("pk").values_list("pk", flat=True))
    models = dict(ModelVersion.objects.values_list("pk", "model_id"))
    matched_versions: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for key in compute_matches([candidate], chunk, now=now, tree=tree):
            vid = key[1]
            matched_versions.add(vid)
            if _covering(rules, key, models[vid], tree) is None:
                after[vid] = Action.strongest([after[vid], new_action])
    changed = set(before) | set(after)
    fail = sorted(v for v in changed if after[v] == Action.FAIL and before[v] != Action.FAIL)
    warn = sorted(v for v in changed if after[v] == Action.WARN and before[v] == Action.NONE)
    clear = sorted(v for v in changed if Action.strength(after[v]) < Action.strength(before[v]))
    shown = ModelVersion.objects.select_related("model").in_bulk([*fail[:limit], *warn[:limit], *clear[:limit]])
    return PolicyImpact(
        stage=stage,
        newly_fail=[shown[v] for v in fail[:limit]],
        newly_warn=[shown[v] for v in warn[:limit]],
        cleared=[shown[v] for v in clear[:limit]],
        matched_versions=len(matched_versions),
        counts={"fail": len(fail), "warn": len(warn), "clear": len(clear)},
    )


# ---------------------------------------------------------------------------------------------
# Waivers
# ---------------------------------------------------------------------------------------------


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
        and any(has_perm(user, p) for p in decide_permission(waiver.policy))
    )


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
    if not any(has_perm(user, p) for p in decide_permission(waiver.policy)):
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
    if not any(has_perm(user, p) for p in decide_permission(waiver.policy)):
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


def waivers_due_for_reminder(*, now: datetime | None = None, days: int | None = None) -> list[Waiver]:
    now = now or timezone.now()
    days = days if days is not None else settings_int("MODELGATE_WAIVER_REMINDER_DAYS", 7)
    return list(
        Waiver.objects.in_force(now)
        .filter(expires_at__lte=now + timedelta(days=days), reminded_at__isnull=True)
        .select_related("policy", "requested_by", "version__model", "model")
    )


@transaction.atomic
def mark_reminded(*, waiver: Waiver, now: datetime | None = None) -> None:
    Waiver.objects.filter(pk=waiver.pk).update(reminded_at=now or timezone.now())


def settings_int(name: str, default: int) -> int:
    try:
        return int(getattr(settings, name, default))
    except (TypeError, ValueError):
        return default


def reviewer_emails(*, categories: Iterable[str] = ("security", "legal")) -> list[str]:
    """Emails of users holding a reviewer role for the categories (and administrators)."""
    from django.contrib.auth import get_user_model

    from core import roles

    names = [roles.ADMINISTRATOR]
    if "security" in categories:
        names.append(roles.SECURITY_REVIEWER)
    if "legal" in categories:
        names.append(roles.LEGAL_REVIEWER)
    users = get_user_model().objects.filter(is_active=True).filter(Q(groups__name__in=names) | Q(is_superuser=True))
    return sorted({u.email for u in users if u.email})


# ---------------------------------------------------------------------------------------------
# Approvals
# ---------------------------------------------------------------------------------------------


def pinned_files_of(version: ModelVersion) -> list[dict[str, Any]]:
    return [
        {"path": f.path, "size": f.size, "sha256": f.sha256, "blob_id": f.blob_id}
        for f in ModelFile.objects.filter(version=version).order_by("path")
    ]


@transaction.atomic
def approve_version(*, user: Any, version: ModelVersion, reason: str) -> Approval:
    require(user, "policies.approve_version")
    if not reason.strip():
        raise ValidationError({"reason": "Give a reason for the approval."})
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    blocking = blocking_violations(version=version)
    if blocking:
        names = ", ".join(sorted({str(v.policy) for v in blocking}))
        raise ValidationError(f"Approval refused: unwaived violations fail at release ({names}).")
    return _decide_version(user=user, version=version, decision=Decision.APPROVED, reason=reason)


@transaction.atomic
def reject_version(*, user: Any, version: ModelVersion, reason: str) -> Approval:
    require(user, "policies.approve_version")
    if not reason.strip():
        raise ValidationError({"reason": "Give a reason for the rejection."})
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    return _decide_version(user=user, version=version, decision=Decision.REJECTED, reason=reason)


def _decide_version(*, user: Any, version: ModelVersion, decision: str, reason: str) -> Approval:
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
        reason=reason,
        before=before,
        after={"review_status": version.review_status, "pinned_files": len(approval.pinned_files)},
    )
    return approval


@transaction.atomic
def reopen_review(*, version_id: int, reason: str) -> None:
    """A later finding on an approved version: back to review (audited by the system) and notify."""
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
    from policies import tasks

    transaction.on_commit(lambda: tasks.notify_review_reopened.delay(version_id=version_id, reason=reason))


# ---------------------------------------------------------------------------------------------
# Gate
# ---------------------------------------------------------------------------------------------

SKIP_DIRS = {".git", ".cache", "__pycache__"}


def hash_directory(directory: str | Path) -> list[dict[str, str]]:
    """sha256 of every file under `directory` (symlinks followed, as in a Hugging Face cache snapshot)."""
    root = Path(directory)
    if not root.is_dir():
        raise ValidationError({"directory": f"{directory} is not a directory"})
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            out.append({"path": full.relative_to(root).as_posix(), "sha256": _sha256_file(full)})
    return out


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_identity(*, version: ModelVersion, supplied: list[dict[str, str]] | None) -> dict[str, Any]:
    """Compare supplied hashes with the approval's pinned hashes (or, not yet approved, the recorded ones).

    Every supplied file must be one of the expected files with the same sha256; expected files not
    supplied are fine (a pipeline may fetch only some files). Nothing supplied does not verify.
    """
    approval = Approval.objects.current().filter(version=version, decision=Decision.APPROVED).first()
    if approval is not None:
        expected = {p["path"]: p.get("sha256", "") for p in approval.pinned_files}
    else:
        expected = dict(ModelFile.objects.filter(version=version).values_list("path", "sha256"))
    if not supplied:
        return {"verified": False, "mismatches": [{"path": None, "reason": "no files or directory supplied"}]}
    mismatches = []
    for item in supplied:
        path, sha = str(item.get("path", "")), str(item.get("sha256", "")).lower()
        if path not in expected:
            mismatches.append({"path": path, "reason": "unexpected file", "expected": None, "actual": sha})
        elif not expected[path]:
            mismatches.append({"path": path, "reason": "no recorded hash", "expected": None, "actual": sha})
        elif expected[path] != sha:
            mismatches.append({"path": path, "reason": "hash differs", "expected": expected[path], "actual": sha})
    return {"verified": not mismatches, "mismatches": mismatches}


def _find_version(repo_id: str, revision: str) -> ModelVersion | None:
    qs = ModelVersion.objects.filter(model__repo_id=repo_id).select_related("model")
    return qs.filter(commit=revision).first() or qs.filter(ref=revision).order_by("-imported_at").first()


def check_gate(
    *,
    user: Any,
    repo_id: str,
    revision: str,
    stage: str,
    application: Application | None = None,
    files: list[dict[str, str]] | None = None,
    directory: str | None = None,
) -> dict[str, Any]:
    """The gate contract: `{"action", "violations", "identity": {"verified", "mismatches"}}`.

    Unknown models get the proxy-stage treatment: imported and evaluated now
    (MODELGATE_GATE_UNKNOWN="import"), or failed closed ("fail").
    """
    require(user, "policies.use_gate")
    if stage not in Stage.values:
        raise ValidationError({"stage": f"Unknown stage {stage!r}; one of {', '.join(Stage.values)}"})
    supplied = hash_directory(directory) if directory else files
    version = _find_version(repo_id, revision)
    if version is None:
        if getattr(settings, "MODELGATE_GATE_UNKNOWN", "import") != "import":
            return _unknown(repo_id, revision, "unknown model; the gate is configured to fail closed")
        from inventory import pipeline
        from inventory.services import ImportFailed, import_from_hub

        try:
            version, created = import_from_hub(repo_id=repo_id, revision=revision, user=user, application=application)
        except ImportFailed as exc:
            return _unknown(repo_id, revision, f"unknown model and the import failed: {exc}")
        if created:
            pipeline.run_all(version.pk)
    evaluate_versions(version_ids=[version.pk])
    if application is not None and not version.usages.filter(application=application).exists():
        found = _unstored_context(version=version, application=application, stage=stage)
    else:
        _action, stored = action_at(version=version, stage=stage, application=application)
        found = [(v.policy, v.matched) for v in stored]
    return {
        "action": Action.strongest([p.action_for(stage) for p, _m in found]),
        "violations": [
            {
                "policy": p.name,
                "threat_level": p.threat_level,
                "category": p.category,
                "action": p.action_for(stage),
                "constraints": matched.get("constraints", []),
                "facts": matched.get("facts", {}),
            }
            for p, matched in found
        ],
        "identity": verify_identity(version=version, supplied=supplied),
    }


def _unstored_context(
    *, version: ModelVersion, application: Application, stage: str
) -> list[tuple[Policy, dict[str, Any]]]:
    """Open, unwaived violations the version would have in an application that does not use it (yet)."""
    now = timezone.now()
    policies = {p.pk: p for p in Policy.objects.enabled().prefetch_related("constraints__conditions")}
    tree = OrgTree()
    scoped = compile_policies(policies.values(), now=now)
    rules = waiver_rules(now=now)
    matches = compute_matches(scoped, [version.pk], now=now, tree=tree, extra_contexts=[(version.pk, application.pk)])
    found = [
        (policies[key[0]], matched)
        for key, matched in matches.items()
        if key[2] == application.pk and _covering(rules, key, version.model_id, tree) is None
    ]
    return sorted(found, key=lambda pm: (-pm[0].threat_level, pm[0].name))


def _unknown(repo_id: str, revision: str, message: str) -> dict[str, Any]:
    return {
        "action": Action.FAIL.value,
        "violations": [
            {
                "policy": "unknown-model",
                "threat_level": 10,
                "category": "security",
                "action": "fail",
                "constraints": [],
                "facts": {"repo_id": repo_id, "revision": revision, "message": message},
            }
        ],
        "identity": {"verified": False, "mismatches": [{"path": None, "reason": message}]},
    }
