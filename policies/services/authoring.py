"""Authoring policies: create, update, enable, delete, YAML export/import, the default pack."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from core.models import AuditEvent
from core.permissions import organization_scope, require
from core.services import record_event
from inventory.models import Application, Organization
from policies.choices import Action, Stage
from policies.engine.catalog import derive_category
from policies.engine.evaluator import ConditionError, normalize_value
from policies.models import Condition, Constraint, Policy, Violation, WaiverReason
from policies.services.evaluation import _enqueue_evaluation, constraints_of

DEFAULT_PACK = Path(__file__).resolve().parent.parent / "data" / "default_pack.yaml"


@dataclass
class PolicyData:
    """A policy as authored (form, API, YAML) before it is saved; `clean()` validates and normalizes."""

    name: str
    threat_level: int
    description: str = ""
    remediation: str = ""
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
            remediation=policy.remediation,
            enabled=policy.enabled,
            non_waivable=policy.non_waivable,
            organization=policy.organization,
            application=policy.application,
            actions=policy.actions(),
            constraints=constraints_of(policy),
        )


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
        "remediation": policy.remediation,
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
    policy.remediation = data.remediation
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


def _require_owner(user: Any, perm: str, data: PolicyData) -> None:
    """A policy is authored where the permission holds: a root policy needs it from a global role; an
    organization's or application's policy needs it in that organization (a membership's subtree)."""
    owner = data.application or data.organization
    if owner is not None:
        require(user, perm, owner)
    elif organization_scope(user, perm) is not None:
        raise PermissionDenied("Only a global role may author root policies; choose one of your organizations.")


@transaction.atomic
def create_policy(*, user: Any, data: PolicyData, reason: str = "") -> Policy:
    require(user, "policies.add_policy")
    _require_owner(user, "policies.add_policy", data)
    data.clean()
    policy = Policy(created_by=user if getattr(user, "is_authenticated", False) else None)
    _write_policy(policy, data)
    record_event(actor=user, action="policy.create", target=policy, reason=reason, after=policy_snapshot(policy))
    _enqueue_evaluation()
    return policy


@transaction.atomic
def update_policy(*, user: Any, policy: Policy, data: PolicyData, reason: str = "") -> Policy:
    require(user, "policies.change_policy", policy)
    _require_owner(user, "policies.change_policy", data)
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
    require(user, "policies.change_policy", policy)
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
    require(user, "policies.delete_policy", policy)
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
        remediation=str(item.get("remediation") or ""),
        threat_level=int(item.get("threat_level", 0)),
        enabled=bool(item.get("enabled", True)),
        non_waivable=bool(item.get("non_waivable", False)),
        organization=organization,
        application=application,
        actions=dict(item.get("actions") or {}),
        constraints=list(item.get("constraints") or []),
    )


MAX_POLICY_YAML_BYTES = 1_000_000
MAX_YAML_ALIASES = 64  # the default pack uses a couple of dozen (`actions: *critical`)
MAX_YAML_NODES = 100_000  # scalars, lists and mappings after aliases are expanded


class _AliasBudgetExceeded(yaml.YAMLError):
    pass


class _PolicyYamlLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents with more than MAX_YAML_ALIASES aliases ("billion laughs")."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _AliasBudgetExceeded(f"more than {MAX_YAML_ALIASES} aliases (*name)")
        return super().compose_node(parent, index)


def _expanded_size_within(doc: Any, budget: int) -> bool:
    """Walk the loaded document as a consumer would see it (shared nodes counted each time), up to `budget`."""
    stack, seen = [doc], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > budget:
            return False
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


def load_policy_yaml(text: str) -> Any:
    """Parse policy YAML safely: bounded input size, alias count and expanded size (no alias bombs)."""
    if len(text) > MAX_POLICY_YAML_BYTES:
        raise ValidationError(f"Policy YAML is limited to {MAX_POLICY_YAML_BYTES // 1000} kB.")
    try:
        doc = yaml.load(text, Loader=_PolicyYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except _AliasBudgetExceeded as exc:
        raise ValidationError(f"Refused: the YAML uses {exc}.") from exc
    except yaml.YAMLError as exc:
        raise ValidationError(f"Not valid YAML: {exc}") from exc
    if not _expanded_size_within(doc, MAX_YAML_NODES):
        raise ValidationError(f"Refused: the YAML expands to more than {MAX_YAML_NODES} values (alias bomb?).")
    return doc


def parse_policy_yaml(text: str) -> list[PolicyData]:
    doc = load_policy_yaml(text)
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


def load_default_pack_once(*, using: str = "default") -> list[Policy]:
    """First run: load the default policy pack when there are no policies and it was never loaded."""
    if Policy.objects.using(using).exists() or AuditEvent.objects.filter(reason="default policy pack").exists():
        return []
    return load_default_pack()
