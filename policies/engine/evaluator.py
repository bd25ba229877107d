"""Compile policies once, evaluate them against many versions' facts.

A policy matches when ANY of its constraints matches (constraints are OR-ed); a constraint matches
when ANY / ALL of its conditions hold; a condition can be negated. A condition on a fact that is
absent holds only for `missing` (or a negated positive operator): fail-closed behaviour is written
as policies over facts that say so explicitly (e.g. `scan.state` is "missing").
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from policies.engine.catalog import CATALOG, LIST_OPERATORS, NUMBER_OPERATORS, OPERATORS_BY_TYPE, UNARY_OPERATORS

_MISSING = object()
Test = Callable[[Any], bool]


class ConditionError(ValueError):
    """A condition that cannot be compiled (unknown fact, operator not valid for the type, bad value)."""


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.replace("\n", ",").split(",") if v.strip()]
    if isinstance(value, Iterable):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def _as_number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ConditionError(f"{value!r} is not a number") from exc


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "1", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "no", "0", "off", ""}:
        return False
    if isinstance(value, int | float):
        return bool(value)
    raise ConditionError(f"{value!r} is not true or false")


def normalize_value(fact: str, operator: str, value: Any) -> Any:
    """The stored form of a condition's value for this fact type and operator (raises ConditionError)."""
    spec = CATALOG.get(fact)
    if spec is None:
        raise ConditionError(f"Unknown fact {fact!r}")
    if operator not in OPERATORS_BY_TYPE[spec.type]:
        raise ConditionError(f"Operator {operator!r} does not apply to {fact} ({spec.type})")
    if operator in UNARY_OPERATORS:
        return None
    if operator in NUMBER_OPERATORS or (spec.type == "number" and operator in {"is", "is_not"}):
        number = _as_number(value)
        return int(number) if number.is_integer() else number
    if spec.type == "bool":
        return _as_bool(value)
    if operator in LIST_OPERATORS:
        items = _as_list(value)
        if not items:
            raise ConditionError("Give at least one value")
        _check_choices(spec.choices, items)
        return items
    if operator == "matches_regex":
        try:
            re.compile(str(value))
        except re.error as exc:
            raise ConditionError(f"Invalid regular expression: {exc}") from exc
        return str(value)
    if operator == "matches" and spec.type == "set":
        return str(value)
    text = "" if value is None else str(value).strip()
    if not text:
        raise ConditionError("Give a value")
    if spec.type == "enum":
        _check_choices(spec.choices, [text])
    return text


def _check_choices(choices: tuple[str, ...], items: list[str]) -> None:
    if choices:
        bad = [i for i in items if i not in choices]
        if bad:
            raise ConditionError(f"Not allowed: {', '.join(bad)} (choose from {', '.join(choices)})")


def _compile_test(fact: str, operator: str, value: Any, now: datetime) -> Test:
    spec = CATALOG[fact]
    kind = spec.type
    if operator == "exists":
        return lambda v: v is not _MISSING and v is not None
    if operator == "missing":
        return lambda v: v is _MISSING or v is None
    if operator in {"older_than", "within"}:
        cutoff = now - timedelta(days=float(value))
        if operator == "older_than":
            return lambda v: isinstance(v, datetime) and v < cutoff
        return lambda v: isinstance(v, datetime) and v >= cutoff
    if kind == "number":
        n = float(value)
        ops: dict[str, Callable[[float], bool]] = {
            "gt": lambda x: x > n,
            "gte": lambda x: x >= n,
            "lt": lambda x: x < n,
            "lte": lambda x: x <= n,
            "is": lambda x: x == n,
            "is_not": lambda x: x != n,
        }
        f = ops[operator]
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and f(v)
    if kind == "bool":
        b = bool(value)
        if operator == "is":
            return lambda v: isinstance(v, bool) and v is b
        return lambda v: isinstance(v, bool) and v is not b
    if kind == "set":
        wanted = {str(x).lower() for x in _as_list(value)} if operator in LIST_OPERATORS else set()
        if operator == "contains_any":
            return lambda v: isinstance(v, list | set | tuple) and any(str(x).lower() in wanted for x in v)
        if operator == "contains_all":
            return lambda v: isinstance(v, list | set | tuple) and wanted <= {str(x).lower() for x in v}
        if operator == "contains_none":
            return lambda v: isinstance(v, list | set | tuple) and not any(str(x).lower() in wanted for x in v)
        if operator == "matches":
            pattern = str(value).lower()
            return lambda v: (
                isinstance(v, list | set | tuple) and any(fnmatch.fnmatchcase(str(x).lower(), pattern) for x in v)
            )
    # enum / string
    if operator == "is":
        s = str(value).lower()
        return lambda v: isinstance(v, str) and v.lower() == s
    if operator == "is_not":
        s = str(value).lower()
        return lambda v: isinstance(v, str) and v.lower() != s
    if operator in {"in", "not_in"}:
        members = {str(x).lower() for x in _as_list(value)}
        if operator == "in":
            return lambda v: isinstance(v, str) and v.lower() in members
        return lambda v: isinstance(v, str) and v.lower() not in members
    if operator == "matches":
        pattern = str(value).lower()
        return lambda v: isinstance(v, str) and fnmatch.fnmatchcase(v.lower(), pattern)
    if operator == "matches_regex":
        rx = re.compile(str(value), re.IGNORECASE)
        return lambda v: isinstance(v, str) and rx.search(v) is not None
    if operator in {"contains_any", "contains_none"}:
        # One case-insensitive pass over the text (card text can be long), not one per term.
        terms_rx = re.compile("|".join(re.escape(str(x)) for x in _as_list(value)), re.IGNORECASE)
        if operator == "contains_any":
            return lambda v: isinstance(v, str) and terms_rx.search(v) is not None
        return lambda v: isinstance(v, str) and terms_rx.search(v) is None
    raise ConditionError(f"Operator {operator!r} does not apply to {fact} ({kind})")


@dataclass(frozen=True)
class CompiledCondition:
    fact: str
    operator: str
    value: Any
    negate: bool
    test: Test

    def holds(self, facts: Mapping[str, Any]) -> bool:
        result = self.test(facts.get(self.fact, _MISSING))
        return not result if self.negate else result


@dataclass(frozen=True)
class CompiledConstraint:
    name: str
    match: str  # any / all
    conditions: tuple[CompiledCondition, ...]
    # (fact, test, negate) triples: the hot loop reads these instead of calling methods.
    checks: tuple[tuple[str, Test, bool], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple((c.fact, c.test, c.negate) for c in self.conditions))

    def matches(self, facts: Mapping[str, Any]) -> bool:
        if not self.checks:
            return False
        get = facts.get
        # Explicit loops (not all()/any() over generators): this is the evaluation hot path.
        if self.match == "all":
            for fact, test, negate in self.checks:  # noqa: SIM110
                if bool(test(get(fact, _MISSING))) == negate:
                    return False
            return True
        for fact, test, negate in self.checks:  # noqa: SIM110
            if bool(test(get(fact, _MISSING))) != negate:
                return True
        return False


@dataclass(frozen=True)
class CompiledPolicy:
    id: int
    constraints: tuple[CompiledConstraint, ...]
    facts_used: frozenset[str] = field(default_factory=frozenset)
    per_application: bool = False


def compile_policy(policy_id: int, constraints: list[dict[str, Any]], *, now: datetime) -> CompiledPolicy:
    """`constraints`: [{"name", "match", "conditions": [{"fact", "operator", "value", "negate"}]}]."""
    compiled = []
    used: set[str] = set()
    for constraint in constraints:
        conditions = []
        for cond in constraint.get("conditions", []):
            fact, operator = cond["fact"], cond["operator"]
            value = normalize_value(fact, operator, cond.get("value"))
            conditions.append(
                CompiledCondition(
                    fact, operator, value, bool(cond.get("negate")), _compile_test(fact, operator, value, now)
                )
            )
            used.add(fact)
        compiled.append(
            CompiledConstraint(constraint.get("name", ""), constraint.get("match", "any"), tuple(conditions))
        )
    per_app = any(CATALOG[f].per_application for f in used if f in CATALOG)
    return CompiledPolicy(policy_id, tuple(compiled), frozenset(used), per_app)


def evaluate(policy: CompiledPolicy, facts: Mapping[str, Any]) -> dict[str, Any] | None:
    """None when the policy does not match; else what matched, to store on the violation.

    `{"constraints": [names that matched], "facts": {fact: value of every fact those constraints test}}`
    """
    matched = [c for c in policy.constraints if c.matches(facts)]
    if not matched:
        return None
    shown: dict[str, Any] = {}
    for constraint in matched:
        for cond in constraint.conditions:
            value = facts.get(cond.fact, None)
            shown[cond.fact] = _jsonable(value)
    return {"constraints": [c.name for c in matched], "facts": shown}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(str(v) for v in value)
    if isinstance(value, str) and len(value) > 300:
        return value[:300] + "…"
    return value
