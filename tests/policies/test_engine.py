from datetime import UTC, datetime, timedelta

import pytest

from policies.engine.catalog import derive_category, operators_for
from policies.engine.evaluator import ConditionError, compile_policy, evaluate, normalize_value

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def policy(*conditions, match="all"):
    return compile_policy(1, [{"name": "k", "match": match, "conditions": list(conditions)}], now=NOW)


def cond(fact, operator, value=None, negate=False):
    return {"fact": fact, "operator": operator, "value": value, "negate": negate}


@pytest.mark.parametrize(
    ("condition", "facts", "expected"),
    [
        (cond("scan.verdict", "is", "malicious"), {"scan.verdict": "malicious"}, True),
        (cond("scan.verdict", "is_not", "safe"), {"scan.verdict": "safe"}, False),
        (cond("scan.verdict", "in", ["malicious", "suspicious"]), {"scan.verdict": "suspicious"}, True),
        (cond("scan.verdict", "not_in", ["safe"]), {"scan.verdict": "safe"}, False),
        (cond("scan.categories", "contains_any", ["process", "network"]), {"scan.categories": ["network"]}, True),
        (cond("scan.categories", "contains_all", ["process", "network"]), {"scan.categories": ["network"]}, False),
        (cond("scan.categories", "contains_none", ["process"]), {"scan.categories": ["network"]}, True),
        (cond("scan.rules", "matches", "pickle.*"), {"scan.rules": ["pickle.global.os"]}, True),
        (cond("model.repo_id", "matches", "meta-llama/*"), {"model.repo_id": "meta-llama/Llama-3.1-8B"}, True),
        (cond("model.repo_id", "matches_regex", r"^evil/"), {"model.repo_id": "good/model"}, False),
        (cond("content.text", "contains_any", ["uncensored"]), {"content.text": "An UNCENSORED model"}, True),
        (cond("model.downloads", "lt", 100), {"model.downloads": 99}, True),
        (cond("model.downloads", "gte", 100), {"model.downloads": 99}, False),
        (cond("lineage.depth", "gt", 1), {"lineage.depth": 2}, True),
        (cond("security.trust_remote_code", "is", True), {"security.trust_remote_code": True}, True),
        (cond("model.last_modified", "older_than", 365), {"model.last_modified": NOW - timedelta(days=400)}, True),
        (cond("model.last_modified", "within", 30), {"model.last_modified": NOW - timedelta(days=400)}, False),
        (cond("license.declared", "missing"), {}, True),
        (cond("license.declared", "exists"), {"license.declared": "mit"}, True),
        (cond("scan.state", "is", "succeeded", negate=True), {"scan.state": "missing"}, True),
        (cond("scan.state", "is", "succeeded", negate=True), {"scan.state": "succeeded"}, False),
        # a positive test on a missing fact does not hold
        (cond("scan.verdict", "is", "malicious"), {}, False),
    ],
)
def test_operators(condition, facts, expected):
    assert (evaluate(policy(condition), facts) is not None) is expected


def test_any_and_all_and_or_of_constraints():
    p = compile_policy(
        1,
        [
            {
                "name": "a",
                "match": "all",
                "conditions": [cond("model.downloads", "lt", 10), cond("model.likes", "lt", 1)],
            },
            {"name": "b", "match": "any", "conditions": [cond("scan.verdict", "is", "malicious")]},
        ],
        now=NOW,
    )
    assert evaluate(p, {"model.downloads": 5, "model.likes": 3}) is None
    matched = evaluate(p, {"model.downloads": 5, "model.likes": 0})
    assert matched == {"constraints": ["a"], "facts": {"model.downloads": 5, "model.likes": 0}}
    assert evaluate(p, {"scan.verdict": "malicious"})["constraints"] == ["b"]


def test_matched_facts_explain_the_violation():
    matched = evaluate(
        policy(cond("scan.categories", "contains_any", ["process"])), {"scan.categories": ["process", "network"]}
    )
    assert matched["facts"] == {"scan.categories": ["process", "network"]}


@pytest.mark.parametrize(
    ("fact", "operator", "value"),
    [
        ("no.such.fact", "is", "x"),
        ("model.downloads", "matches", "x"),
        ("model.downloads", "lt", "many"),
        ("scan.verdict", "is", "purple"),
        ("model.repo_id", "matches_regex", "("),
        ("scan.categories", "contains_any", []),
    ],
)
def test_invalid_conditions_are_refused(fact, operator, value):
    with pytest.raises(ConditionError):
        normalize_value(fact, operator, value)


def test_values_are_normalized():
    assert normalize_value("scan.categories", "contains_any", "process, network") == ["process", "network"]
    assert normalize_value("model.downloads", "lt", "100") == 100
    assert normalize_value("security.trust_remote_code", "is", "true") is True
    assert normalize_value("scan.state", "missing", "whatever") is None


def test_operators_by_type_and_category():
    assert "contains_any" in operators_for("scan.categories")
    assert "lt" in operators_for("model.downloads")
    assert "lt" not in operators_for("scan.verdict")
    assert derive_category(["model.downloads", "license.conflict"]) == "legal"
    assert derive_category(["model.downloads", "license.conflict", "scan.verdict"]) == "security"
    assert derive_category(["model.downloads"]) == "quality"
    assert derive_category(["review.status"]) == "other"
