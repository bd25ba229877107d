"""The gate's answer as a CI report: SARIF 2.1.0 (GitHub code scanning) or JUnit XML (other CI systems).

`evaluated_policies()` reads which policies the gate applied; the renderers are pure functions of the
gate result (the JSON contract) and that list, shared by `manage.py gate --format` and the API
(`?format=sarif|junit` or the Accept header).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Q

from inventory.models import Application
from policies.models import Policy

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_MEDIA_TYPE = "application/sarif+json"
JUNIT_MEDIA_TYPE = "application/xml"
TOOL_NAME = "Modelgate"
TOOL_URI = "https://github.com/modelgate/modelgate"
IDENTITY_RULE = "modelgate/file-identity"
MODEL_DIR_BASE = "MODELDIR"  # uriBaseId of model file paths; the client maps it to its --dir
LEVELS = {"fail": "error", "warn": "warning", "none": "note"}
FORMATS = ("json", "sarif", "junit")


def evaluated_policies(*, application: Application | None, stage: str) -> list[dict[str, Any]]:
    """Every enabled policy the gate applies in this context (root; the application's organizations; itself)."""
    scope = Q(organization__isnull=True, application__isnull=True)
    if application is not None:
        chain = [application.organization_id, *(o.pk for o in application.organization.ancestors())]
        scope |= Q(organization_id__in=chain) | Q(application=application)
    return [
        {
            "name": p.name,
            "description": p.description,
            "threat_level": p.threat_level,
            "category": p.category,
            "action": p.action_for(stage),
        }
        for p in Policy.objects.enabled().filter(scope).order_by("-threat_level", "name")
    ]


def _rules(result: dict[str, Any], policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluated policies, plus any policy a violation names that is not among them (e.g. unknown-model)."""
    known = {p["name"] for p in policies}
    extra = [
        {k: v.get(k, "") for k in ("threat_level", "category", "action")} | {"name": v["policy"], "description": ""}
        for v in result.get("violations", [])
        if v["policy"] not in known
    ]
    return [*policies, *extra]


def _paths_in(value: Any, known: set[str]) -> Iterator[str]:
    """File paths of the version that a violation's facts mention (strings, or objects with a `path`)."""
    if isinstance(value, str):
        if value in known:
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _paths_in(v, known)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _paths_in(v, known)


def _location(path: str) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": {"uri": path, "uriBaseId": MODEL_DIR_BASE}}}


def to_sarif(
    result: dict[str, Any],
    *,
    target: str,
    stage: str,
    policies: list[dict[str, Any]],
    files: Iterable[str] = (),
) -> dict[str, Any]:
    """One run; one result per violation (ruleId = policy) and per identity mismatch.

    `files` are the model's file paths known to the caller (hashed or supplied); a violation is located
    at those its facts mention, otherwise only at the model (a logical location).
    """
    rules = _rules(result, policies)
    sarif_rules = [
        {
            "id": p["name"],
            "name": p["name"],
            "shortDescription": {"text": p["name"]},
            "fullDescription": {"text": p.get("description") or p["name"]},
            "defaultConfiguration": {"level": LEVELS.get(str(p.get("action")), "note")},
            "properties": {"threat_level": p.get("threat_level"), "category": p.get("category"), "tags": ["modelgate"]},
        }
        for p in rules
    ]
    sarif_rules.append(
        {
            "id": IDENTITY_RULE,
            "name": "FileIdentity",
            "shortDescription": {"text": "Files are the ones that were reviewed"},
            "fullDescription": {"text": "Every file must have the sha256 the approval pinned (or that was recorded)."},
            "defaultConfiguration": {"level": "error"},
        }
    )
    index = {r["id"]: i for i, r in enumerate(sarif_rules)}
    known = set(files) | {m["path"] for m in result.get("identity", {}).get("mismatches", []) if m.get("path")}
    model = {"logicalLocations": [{"name": target, "kind": "module"}]}
    results: list[dict[str, Any]] = []
    for v in result.get("violations", []):
        paths = sorted(set(_paths_in(v.get("facts", {}), known)))
        action = str(v.get("action", "none"))
        results.append(
            {
                "ruleId": v["policy"],
                "ruleIndex": index[v["policy"]],
                "level": LEVELS.get(action, "note"),
                "message": {
                    "text": f"{target} violates policy “{v['policy']}” (threat level {v.get('threat_level')}, "
                    f"{v.get('category')}): action {action} at stage {stage}."
                },
                "locations": [_location(p) for p in paths] or [model],
                "properties": {"facts": v.get("facts", {}), "constraints": v.get("constraints", [])},
            }
        )
    for m in result.get("identity", {}).get("mismatches", []):
        results.append(
            {
                "ruleId": IDENTITY_RULE,
                "ruleIndex": index[IDENTITY_RULE],
                "level": "error",
                "message": {"text": f"{m.get('path') or target}: {m.get('reason')}."},
                "locations": [_location(m["path"]) if m.get("path") else model],
                "properties": {k: m[k] for k in ("expected", "actual") if k in m},
            }
        )
    failed = result.get("action") == "fail" or not result.get("identity", {}).get("verified", False)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": TOOL_NAME, "informationUri": TOOL_URI, "rules": sarif_rules}},
        "automationDetails": {"id": f"modelgate/{stage}/{target}"},
        "invocations": [
            {
                "executionSuccessful": True,
                "exitCode": 1 if failed else 0,
                "properties": {"action": result.get("action"), "verified": result.get("identity", {}).get("verified")},
            }
        ],
        "results": results,
        "properties": {k: result[k] for k in ("approval", "stages", "url") if k in result},
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def to_junit(result: dict[str, Any], *, target: str, stage: str, policies: list[dict[str, Any]]) -> str:
    """One testsuite; a testcase per evaluated policy (failure when its violation fails the stage) and one
    for the file identity. A warning is reported in the testcase's output, not as a failure."""
    violations = {v["policy"]: v for v in result.get("violations", [])}
    suite = ET.Element("testsuite", name=f"modelgate {target} at {stage}")
    props = ET.SubElement(suite, "properties")
    for key in ("action", "url"):
        if result.get(key):
            ET.SubElement(props, "property", name=key, value=str(result[key]))
    if isinstance(result.get("approval"), dict):
        ET.SubElement(props, "property", name="approval", value=str(result["approval"].get("state")))
    failures = 0
    rules = _rules(result, policies)
    for p in rules:
        case = ET.SubElement(suite, "testcase", classname=f"modelgate.{p.get('category') or 'other'}", name=p["name"])
        v = violations.get(p["name"])
        if v is None:
            continue
        action = str(v.get("action", "none"))
        text = f"threat level {v.get('threat_level')}; facts: {v.get('facts', {})}"
        if action == "fail":
            failures += 1
            ET.SubElement(case, "failure", message=f"fails stage {stage}", type="policy-violation").text = text
        else:
            ET.SubElement(case, "system-out").text = f"{action} at stage {stage}: {text}"
    identity = result.get("identity", {})
    case = ET.SubElement(suite, "testcase", classname="modelgate.identity", name="files are the reviewed ones")
    if not identity.get("verified", False):
        failures += 1
        lines = [f"{m.get('path') or target}: {m.get('reason')}" for m in identity.get("mismatches", [])]
        ET.SubElement(case, "failure", message="file identity not verified", type="identity").text = "\n".join(lines)
    suite.set("tests", str(len(rules) + 1))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def render(
    result: dict[str, Any],
    *,
    fmt: str,
    target: str,
    stage: str,
    policies: list[dict[str, Any]],
    files: Iterable[str] = (),
) -> tuple[str, str]:
    """(body, media type) of the result in `fmt` (json, sarif or junit)."""
    if fmt == "sarif":
        sarif = to_sarif(result, target=target, stage=stage, policies=policies, files=files)
        return json.dumps(sarif), SARIF_MEDIA_TYPE
    if fmt == "junit":
        return to_junit(result, target=target, stage=stage, policies=policies), JUNIT_MEDIA_TYPE
    return json.dumps(result, default=str), "application/json"
