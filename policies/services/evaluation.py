"""Evaluation: policies × versions → violations (chunked, idempotent), actions per stage, impact preview."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core import generation
from inventory.choices import ReviewStatus
from inventory.models import Application, ApplicationModel, ModelVersion, Organization
from policies.choices import Action, ScopeKind, Stage, ViolationState, WaiverScope
from policies.engine.evaluator import CompiledPolicy, ConditionError, compile_policy, evaluate
from policies.facts import EvaluationContext, gather_facts
from policies.models import Policy, Violation, Waiver
from policies.services.approvals import reopen_review

log = logging.getLogger(__name__)


CHUNK = 2000


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
    only_applications: Collection[int] | None = None,
) -> dict[Key, dict[str, Any]]:
    """Evaluate policies over versions in the root context and in each using application's context.

    `extra_contexts` adds (version, application) pairs that are not recorded usages (the gate asking
    about an application that does not use the version yet). `only_applications` limits the application
    contexts to those ids (the gate answers for one application: facts are gathered per application, so
    evaluating every user of a popular version would cost queries per application).
    """

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
    usages = ApplicationModel.objects.filter(version_id__in=version_ids)
    if only_applications is not None:
        usages = usages.filter(application_id__in=list(only_applications))
    for vid, app_id in usages.values_list("version_id", "application_id"):
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

    if to_create or to_update:
        generation.changed()  # raw SQL below: no queryset or signal sees these writes
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


def _enqueue_evaluation(version_ids: list[int] | None = None) -> None:
    from policies import tasks

    tasks.evaluate_versions_task.delay_on_commit(version_ids=version_ids)


def request_evaluation(*, version_ids: list[int] | None = None) -> None:
    """Re-evaluate after the current transaction commits (or now, outside one)."""
    _enqueue_evaluation(version_ids)


def request_evaluation_of(version_ids: list[int]) -> None:
    """The facts-changed listener: versions whose facts changed outside a pipeline are re-evaluated."""
    _enqueue_evaluation(list(version_ids))


def violation_summary(version: ModelVersion) -> list[dict[str, Any]]:
    """The `violations` part of `import_model --wait`: open root-context violations, worst first."""
    return [
        {"policy": v.policy.name, "threat_level": v.policy.threat_level, "action": v.policy.action_release}
        for v in Violation.objects.open()
        .filter(version=version, application__isnull=True)
        .select_related("policy")
        .order_by("-policy__threat_level")
    ]


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
