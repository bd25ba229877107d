"""Impact preview: what a policy (new or edited) would newly fail, warn and clear, before it is saved."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.utils import timezone

from inventory.models import ModelVersion
from policies.choices import Action, Stage, ViolationState
from policies.engine.evaluator import compile_policy
from policies.models import Policy, Violation
from policies.services.authoring import PolicyData
from policies.services.evaluation import CHUNK, OrgTree, ScopedPolicy, _covering, compute_matches, waiver_rules

MATCHED_SHOWN = 20  # matching versions listed by the preview (the count covers all)


@dataclass
class PolicyImpact:
    stage: str
    newly_fail: list[ModelVersion]
    newly_warn: list[ModelVersion]
    cleared: list[ModelVersion]
    matched_versions: int
    counts: dict[str, int]
    matched: list[ModelVersion] = field(default_factory=list)  # the first MATCHED_SHOWN matching versions


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
    first_matched = sorted(matched_versions)[: min(limit, MATCHED_SHOWN)]
    shown = ModelVersion.objects.select_related("model").in_bulk(
        [*fail[:limit], *warn[:limit], *clear[:limit], *first_matched]
    )
    return PolicyImpact(
        stage=stage,
        newly_fail=[shown[v] for v in fail[:limit]],
        newly_warn=[shown[v] for v in warn[:limit]],
        cleared=[shown[v] for v in clear[:limit]],
        matched_versions=len(matched_versions),
        counts={"fail": len(fail), "warn": len(warn), "clear": len(clear)},
        matched=[shown[v] for v in first_matched],
    )
