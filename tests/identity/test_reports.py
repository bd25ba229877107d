"""The gate's answer as SARIF 2.1.0 (validated against the official OASIS schema) and JUnit XML, from the
API (`?format=` or Accept) and from `manage.py gate --format`; and the additive JSON keys."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET  # our own server's reports, not untrusted input
from pathlib import Path

import jsonschema
import pytest
from django.core.management import call_command
from django.test import Client

from policies import gate_reports
from policies.services import approve_version
from tests.identity.conftest import files_of, target

pytestmark = pytest.mark.django_db


def parse_xml(text: str | bytes) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - the report under test, built by our own code


SCHEMA = json.loads((Path(__file__).parent.parent / "data" / "sarif-schema-2.1.0.json").read_text())


def validate_sarif(doc: dict) -> None:
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(doc)


def test_schema_is_the_official_one():
    assert SCHEMA["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    with pytest.raises(jsonschema.ValidationError):
        validate_sarif({"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]})  # driver.name is required


def _gate(client: Client, version, folder=None, fmt="", accept="", **extra):
    body = {"repo_id": version.model.repo_id, "revision": version.commit, "stage": "build", "application": "chatbot"}
    if folder is not None:
        body["files"] = files_of(folder)
    body.update(extra)
    url = "/api/v1/gate" + (f"?format={fmt}" if fmt else "")
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    return client.post(url, body, content_type="application/json", **headers)


def test_json_answer_keeps_the_contract_and_adds_approval_stages_url(gate_world, client_for, security):
    w = gate_world
    approve_version(user=security, version=w["good"], reason="reviewed")
    r = _gate(client_for(w["admin"]), w["good"], w["good_dir"])
    body = r.json()
    assert {"action", "violations", "identity"} <= set(body)
    assert body["approval"]["state"] == "approved" and body["approval"]["by"] == "security" and body["approval"]["at"]
    assert body["url"].endswith(w["good"].get_absolute_url())
    bad = _gate(client_for(w["admin"]), w["bad"], w["bad_dir"]).json()
    assert bad["approval"] == {"state": "pending", "by": None, "at": None}
    assert bad["stages"]["build"] == "fail" and bad["stages"]["release"] == "fail"
    assert bad["stages"]["develop"] == "none"  # the policy only fails build and release
    assert set(bad["stages"]) == {"proxy", "develop", "source", "build", "stage-release", "release", "operate"}


@pytest.mark.parametrize("how", ["query", "accept"])
def test_api_sarif_is_valid_and_carries_violations_and_identity(gate_world, client_for, how):
    w = gate_world
    tampered = w["bad_dir"] / "model.safetensors"
    tampered.write_bytes(tampered.read_bytes() + b"!")
    kwargs = {"fmt": "sarif"} if how == "query" else {"accept": "application/sarif+json"}
    r = _gate(client_for(w["admin"]), w["bad"], w["bad_dir"], **kwargs)
    assert r.status_code == 200 and r["Content-Type"].startswith("application/sarif+json")
    assert r["X-Modelgate-Action"] == "fail" and r["X-Modelgate-Verified"] == "false"
    doc = json.loads(r.content)
    validate_sarif(doc)
    run = doc["runs"][0]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert "Few downloads" in rules and gate_reports.IDENTITY_RULE in rules
    by_rule = {res["ruleId"]: res for res in run["results"]}
    policy = by_rule["Few downloads"]
    assert policy["level"] == "error" and rules[policy["ruleIndex"]] == "Few downloads"
    assert "acme/bad-model@" in policy["message"]["text"]
    identity = by_rule[gate_reports.IDENTITY_RULE]
    assert identity["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "model.safetensors",
        "uriBaseId": gate_reports.MODEL_DIR_BASE,
    }
    assert run["invocations"][0]["exitCode"] == 1


def test_sarif_locates_a_violation_at_the_files_its_facts_name():
    result = {
        "action": "warn",
        "violations": [
            {"policy": "Pickle files", "threat_level": 8, "category": "security", "action": "warn",
             "constraints": ["c1"], "facts": {"scan.findings": [{"path": "pytorch_model.bin", "rule": "x"}]}},
        ],
        "identity": {"verified": True, "mismatches": []},
    }  # fmt: skip
    doc = gate_reports.to_sarif(
        result,
        target="acme/m@main",
        stage="build",
        policies=[
            {"name": "Pickle files", "description": "", "threat_level": 8, "category": "security", "action": "warn"}
        ],
        files=["pytorch_model.bin", "config.json"],
    )
    validate_sarif(doc)
    res = doc["runs"][0]["results"][0]
    assert res["level"] == "warning"
    assert [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in res["locations"]] == ["pytorch_model.bin"]
    assert doc["runs"][0]["invocations"][0]["exitCode"] == 0


def test_api_junit_has_one_case_per_policy_and_identity(gate_world, client_for):
    w = gate_world
    r = _gate(client_for(w["admin"]), w["bad"], w["bad_dir"], fmt="junit")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/xml")
    suite = parse_xml(r.content)
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["Few downloads"].find("failure") is not None
    assert cases["files are the reviewed ones"].find("failure") is None
    good = parse_xml(_gate(client_for(w["admin"]), w["good"], w["good_dir"], fmt="junit").content)
    assert good.get("failures") == "0" and {c.get("name") for c in good.iter("testcase")} == set(cases)


def test_errors_stay_json_whatever_the_format(gate_world, client_for):
    r = _gate(client_for(gate_world["admin"]), gate_world["good"], fmt="sarif", stage="nope")
    assert r.status_code == 400 and "stage" in json.loads(r.content)


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit"])
def test_cli_formats_and_exit_status(gate_world, fmt):
    w = gate_world
    out = io.StringIO()
    call_command("gate", target(w["good"]), "--stage", "build", "--application", "chatbot", "--dir",
                 str(w["good_dir"]), "--format", fmt, stdout=out)  # fmt: skip
    text = out.getvalue()
    if fmt == "json":
        assert json.loads(text)["action"] == "none"
    elif fmt == "sarif":
        validate_sarif(json.loads(text))
    else:
        assert parse_xml(text).get("failures") == "0"
    out = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("gate", target(w["bad"]), "--stage", "build", "--application", "chatbot", "--dir",
                     str(w["bad_dir"]), "--format", fmt, stdout=out)  # fmt: skip
    assert exc.value.code == 1
    if fmt == "sarif":
        doc = json.loads(out.getvalue())
        validate_sarif(doc)
        assert [r["ruleId"] for r in doc["runs"][0]["results"]] == ["Few downloads"]
