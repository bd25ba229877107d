"""The leak matrix: organization A's members never see or touch organization B's objects.

Every named route of the project is classified below (a new route fails `test_every_route_is_covered`
until it is): pages and API reads are fetched as each of A's four membership roles and searched for
B's marker and B's object URLs; B's detail pages answer 404 (403 where the role lacks the permission
altogether); every action on B's objects, tried by the A role that would be allowed to do it in A,
is refused and changes nothing — not even the audit log. The global manager sees both sides, and A's
roles see A's objects (positive controls, so the matrix can fail).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from core.models import AuditEvent
from governance.overview import refresh_rollups
from identity.models import CIToken
from inventory.models import Application, ApplicationModel, Dataset, ImportJob, ModelVersion, Organization, Watch
from licenses.models import License, LicenseConclusion, LicenseEvidence, LicenseObligation, Obligation, ObligationStatus
from policies.models import Approval, Policy, TriageComment, TriageItem, Waiver
from tests import factories as f
from tests.identity.scope_world import ALPHA_MARK, BRAVO_MARK, ORG_ROLES, World, build_world

A_USERS = [f"a_{k}" for k in ORG_ROLES]

# B's objects whose pages must never be linked from A's responses.
B_KEYS = ["org_b", "app_b", "policy_b", "policy_b_app", "v_b", "v_b_own", "v_b_app", "v_root", "waiver_b",
          "waiver_b_org", "waiver_root", "job_b"]  # fmt: skip


@pytest.fixture
def world(db) -> World:
    w = build_world()
    analysis = f.LicenseAnalysisFactory(version=w["version"])
    w.objs["evidence"] = LicenseEvidence.objects.create(
        analysis=analysis, path="LICENSE", license_key="apache-2.0", match="exact", score=1.0
    )
    prior = LicenseConclusion.objects.create(
        version=w["version2"], status="confirmed", license_expression="apache-2.0", comment="prior revision"
    )
    LicenseConclusion.objects.create(
        version=w["version"], status="confirmed", license_expression="apache-2.0", comment="carried", carried_from=prior
    )
    w.objs["scanrun"] = f.ScanRunFactory(version=w["version"])
    w.objs["finding"] = f.FindingFactory(scan_run=w["scanrun"])
    refresh_rollups()
    return w


def _client(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _url_of(w: World, key: str) -> str:
    return str(w[key].get_absolute_url())


def assert_no_leak(w: World, body: bytes | str, where: str) -> None:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    assert BRAVO_MARK not in text, f"{where}: shows an object of organization B"
    for key in B_KEYS:
        assert _url_of(w, key) not in text, f"{where}: links {key} ({_url_of(w, key)})"


# --- the route catalogue ------------------------------------------------------------------------------

# Routes that show or change no organization data.
NOT_DATA = {
    "login", "logout", "password_change", "password_change_done", "password_reset", "password_reset_done",
    "password_reset_confirm", "password_reset_complete", "schema", "docs", "governance-api:token",
    "oidc_authentication_init", "oidc_authentication_callback",
    "policies:condition_row",
}  # fmt: skip

# HTML and API pages read without arguments (lists, forms, exports, the overview).
PAGES = {
    "governance:home", "governance:work", "governance:overview", "governance:audit_list", "governance:notification_preferences",
    "governance:webhook_list", "governance:violation_export", "governance:waiver_export",
    "inventory:model_list", "inventory:import", "inventory:importjob_list", "inventory:organization_list",
    "inventory:organization_add", "inventory:application_list", "inventory:application_add",
    "inventory:dataset_list", "scanning:scanrun_list", "licenses:queue", "licenses:license_list",
    "licenses:license_create", "licenses:obligation_list", "policies:policy_list", "policies:policy_create",
    "policies:policy_export", "policies:policy_import", "policies:violation_list", "policies:waiver_list",
    "identity:citoken_list",
    "inventory-api:organization-list", "inventory-api:application-list", "inventory-api:model-list",
    "inventory-api:modelversion-list", "inventory-api:modelfile-list", "inventory-api:dataset-list",
    "inventory-api:applicationmodel-list", "inventory-api:importjob-list", "inventory-api:watch-list",
    "scanning-api:scanrun-list", "scanning-api:finding-list", "licenses-api:license-list",
    "licenses-api:obligation-list", "licenses-api:licenseanalysis-list", "licenses-api:licenseconclusion-list",
    "policies-api:policy-list", "policies-api:policy-export", "policies-api:violation-list",
    "policies-api:waiver-list", "policies-api:approval-list", "governance-api:auditevent-list",
    "governance-api:overview", "governance-api:risksnapshot-list", "governance-api:violation-export",
    "governance-api:waiver-export", "governance-api:notification-prefs", "governance-api:webhook-list",
    "governance-api:webhookdelivery-list",
}  # fmt: skip

# Detail pages of one organization's objects: route → (url kwarg, B's objects, A's object).
DETAILS: dict[str, tuple[str, list[str], str]] = {
    "inventory:organization_detail": ("pk", ["org_b"], "org_a"),
    "inventory:organization_edit": ("pk", ["org_b"], "org_a"),
    "inventory:application_detail": ("pk", ["app_b"], "app_a"),
    "inventory:application_edit": ("pk", ["app_b"], "app_a"),
    "inventory:importjob_detail": ("pk", ["job_b"], "job_a"),
    "licenses:checklist": ("app_id", ["app_b"], "app_a"),
    "licenses:attribution": ("app_id", ["app_b"], "app_a"),
    "licenses:attribution_notice": ("app_id", ["app_b"], "app_a"),
    "policies:policy_detail": ("pk", ["policy_b", "policy_b_app"], "policy_a"),
    "policies:policy_edit": ("pk", ["policy_b", "root_policy"], "policy_a"),
    "policies:violation_detail": ("pk", ["v_b", "v_b_own", "v_root"], "v_a"),
    "policies:violation_row": ("pk", ["v_b", "v_root"], "v_a"),
    "policies:waiver_request": ("pk", ["v_b_own"], "v_a_own"),
    "policies:waiver_detail": ("pk", ["waiver_b", "waiver_b_org", "waiver_root"], "waiver_a"),
    "identity:application_gate": ("pk", ["app_b"], "app_a"),
    "governance:application_bom": ("pk", ["app_b"], "app_a"),
    "inventory-api:organization-detail": ("pk", ["org_b"], "org_a"),
    "inventory-api:application-detail": ("pk", ["app_b"], "app_a"),
    "inventory-api:applicationmodel-detail": ("pk", ["usage_b"], "usage_a"),
    "inventory-api:importjob-detail": ("pk", ["job_b"], "job_a"),
    "inventory-api:watch-detail": ("pk", ["watch_b"], ""),
    "licenses-api:licenseconclusion-detail": ("pk", ["conclusion_b"], ""),
    "policies-api:policy-detail": ("pk", ["policy_b", "policy_b_app"], "policy_a"),
    "policies-api:violation-detail": ("pk", ["v_b", "v_root"], "v_a"),
    "policies-api:waiver-detail": ("pk", ["waiver_b", "waiver_root"], "waiver_a"),
    "governance-api:application-bom": ("pk", ["app_b"], "app_a"),
}

# Pages of what every organization shares (the inventory, scans, the license catalog): readable by
# all, and still without B's applications, violations or conclusions on them.
SHARED_PAGES: dict[str, tuple[str, str]] = {
    "inventory:model_detail": ("pk", "model"),
    "inventory:model_diff": ("pk", "model"),
    "inventory:version_detail": ("pk", "version"),
    "inventory:dataset_detail": ("pk", "dataset"),
    "scanning:scanrun_detail": ("pk", "scanrun"),
    "scanning:version_panel": ("pk", "version"),
    "licenses:review": ("version_id", "version"),
    "licenses:evidence": ("pk", "evidence"),
    "licenses:license_detail": ("pk", "license"),
    "licenses:license_edit": ("pk", "license"),
    "policies:policy_detail#root": ("pk", "root_policy"),
    "policies:version_review": ("pk", "version"),
    "governance:version_bom": ("pk", "version"),
    "inventory-api:model-detail": ("pk", "model"),
    "inventory-api:modelversion-detail": ("pk", "version"),
    "inventory-api:modelfile-detail": ("pk", "modelfile"),
    "inventory-api:dataset-detail": ("pk", "dataset"),
    "scanning-api:scanrun-detail": ("pk", "scanrun"),
    "licenses-api:license-detail": ("key", "license"),
    "licenses-api:obligation-detail": ("pk", "obligation"),
    "licenses-api:licenseanalysis-detail": ("version", "version"),
    "licenses-api:licenseanalysis-use-fit": ("version", "version"),
    "policies-api:approval-detail": ("pk", "approval"),
    "governance-api:version-bom": ("pk", "version"),
}

# Installation-wide (global administrators only): no membership role reaches them.
GLOBAL_ONLY: dict[str, tuple[str, str]] = {
    "governance-api:webhook-detail": ("pk", "webhook"),
    "governance-api:webhook-deliveries": ("pk", "webhook"),
    "governance-api:webhook-ping": ("pk", "webhook"),
    "governance-api:webhookdelivery-detail": ("pk", "delivery"),
}

# User, role and team management (identity/account_views.py): administrators only, never a membership
# role — pages and actions alike (url kwargs from the world: a user of B, its membership, a team).
USER_ADMIN: dict[str, Callable[[World], dict[str, Any]]] = {
    "identity:user_list": lambda w: {},
    "identity:user_add": lambda w: {},
    "identity:team_list": lambda w: {},
    "identity:team_add": lambda w: {},
    "identity:user_detail": lambda w: {"pk": w["b_legal"].pk},
    "identity:user_profile": lambda w: {"pk": w["b_legal"].pk},
    "identity:user_roles": lambda w: {"pk": w["b_legal"].pk},
    "identity:user_membership_add": lambda w: {"pk": w["b_legal"].pk},
    "identity:user_membership_remove": lambda w: {"pk": w["b_legal"].pk, "membership_pk": w["b_legal_membership"].pk},
    "identity:user_deactivate": lambda w: {"pk": w["b_legal"].pk},
    "identity:user_activate": lambda w: {"pk": w["b_legal"].pk},
    "identity:user_invite": lambda w: {"pk": w["b_legal"].pk},
    "identity:team_detail": lambda w: {"pk": w["team"].pk},
    "identity:team_member_add": lambda w: {"pk": w["team"].pk},
    "identity:team_member_remove": lambda w: {"pk": w["team"].pk, "user_pk": w["a_legal"].pk},
    "identity:team_membership_add": lambda w: {"pk": w["team"].pk},
    "identity:team_membership_remove": lambda w: {"pk": w["team"].pk, "membership_pk": w["b_legal_membership"].pk},
}

# Actions on what is shared (not one organization's): a membership role may run them.
SHARED_ACTIONS = {
    "inventory:watch_add": "watch a shared model (the watch is the user's own)",
    "scanning:version_scan": "rescan a shared version",
    "scanning-api:version-scan": "rescan a shared version",
    "licenses:analyse": "re-analyse a shared version's licenses",
    "licenses-api:licenseanalysis-analyse": "re-analyse a shared version's licenses",
    "policies:policy_preview": "preview a policy's impact on shared versions (writes nothing)",
    "policies-api:policy-impact": "preview a policy's impact on shared versions (writes nothing)",
}

Attempt = tuple[str, str, str, dict[str, Any]]  # (A user, method, url, data)


def _soon() -> str:
    return (timezone.now() + timedelta(days=7)).date().isoformat()


def _app_form(app: Any, **extra: Any) -> dict[str, Any]:
    data = {"name": app.name, "slug": app.slug, "organization": app.organization_id, "description": "",
            "monthly_active_users": 0, "annual_revenue_band": app.annual_revenue_band}  # fmt: skip
    return {**data, **extra}


def _policy_form(w: World, **extra: Any) -> dict[str, Any]:
    stages = ("proxy", "develop", "source", "build", "stage_release", "release", "operate")
    return {
        "name": "Sneaky policy", "threat_level": "9", "scope": "organization", "enabled": "on",
        **{f"action_{s}": "fail" for s in stages},
        "k-0-name": "c", "k-0-match": "all", "k-0-c-0-fact": "model.downloads", "k-0-c-0-operator": "lt",
        "k-0-c-0-value": "5", **extra,
    }  # fmt: skip


CONSTRAINTS = [{"name": "c", "match": "all", "conditions": [{"fact": "model.downloads", "operator": "lt", "value": 5}]}]


def _license_form(**extra: Any) -> dict[str, Any]:
    return {"threat_group": "permissive", "is_active": "on", "text": "", **extra}


def _yaml(name: str, scope: str) -> str:
    return (
        f"policies:\n- name: {name}\n  threat_level: 9\n  scope: {scope}\n  constraints:\n  - name: c\n"
        "    match: all\n    conditions:\n    - {fact: model.downloads, operator: lt, value: 5}\n"
    )


# Actions on B's objects (or placing something in B / at the root): route → attempts by A's roles.
ACTIONS: dict[str, Callable[[World], list[Attempt]]] = {
    "inventory:watch_remove": lambda w: [("a_architect", "post", _r("inventory:watch_remove", w["watch_b"]), {})],
    "inventory:usage_add": lambda w: [
        ("a_architect", "post", _r("inventory:usage_add", w["version2"]), {"application": w["app_b"].pk})
    ],
    "inventory:usage_remove": lambda w: [("a_architect", "post", _r("inventory:usage_remove", w["usage_b"]), {})],
    "inventory:importjob_retry": lambda w: [("a_architect", "post", _r("inventory:importjob_retry", w["job_b"]), {})],
    "inventory:organization_add#post": lambda w: [
        (
            "a_architect",
            "post",
            reverse("inventory:organization_add"),
            {"name": "Sneaky", "slug": "sneaky", "parent": w["org_b"].pk},
        ),
        ("a_architect", "post", reverse("inventory:organization_add"), {"name": "Top", "slug": "top"}),
    ],
    "inventory:organization_edit#post": lambda w: [
        ("a_architect", "post", _r("inventory:organization_edit", w["org_b"]), {"name": "Renamed", "slug": "bravo"}),
        (
            "a_architect",
            "post",
            _r("inventory:organization_edit", w["org_a"]),
            {"name": w["org_a"].name, "slug": "alpha", "parent": w["org_b"].pk},
        ),
    ],
    "inventory:application_add#post": lambda w: [
        (
            "a_architect",
            "post",
            reverse("inventory:application_add"),
            _app_form(w["app_a"], name="Sneaky", slug="sneaky", organization=w["org_b"].pk),
        ),
    ],
    "inventory:application_edit#post": lambda w: [
        ("a_architect", "post", _r("inventory:application_edit", w["app_b"]), _app_form(w["app_b"], name="Renamed")),
        (
            "a_architect",
            "post",
            _r("inventory:application_edit", w["app_a"]),
            _app_form(w["app_a"], organization=w["org_b"].pk),
        ),
    ],
    "inventory:import#post": lambda w: [
        (
            "a_architect",
            "post",
            reverse("inventory:import"),
            {"repo_id": "x/y", "revision": "main", "application": w["app_b"].pk},
        ),
    ],
    "licenses:conclude": lambda w: [
        (
            "a_legal",
            "post",
            _r("licenses:conclude", w["version"]),
            {"status": "confirmed", "comment": "mine", "application": w["app_b"].pk},
        ),
        ("a_legal", "post", _r("licenses:conclude", w["version"]), {"status": "confirmed", "comment": "everywhere"}),
    ],
    "licenses:carry_revoke": lambda w: [
        ("a_legal", "post", _r("licenses:carry_revoke", w["version"]), {"reason": "does not hold"}),
    ],
    "licenses:checklist#post": lambda w: [
        (
            "a_legal",
            "post",
            _r("licenses:checklist", w["app_b"]),
            {"version": w["version"].pk, "term": "attribution", "status": "fulfilled"},
        ),
    ],
    "licenses:license_create#post": lambda w: [
        ("a_legal", "post", reverse("licenses:license_create"), _license_form(key="sneaky-1.0", name="Sneaky"))
    ],
    "licenses:license_edit#post": lambda w: [
        (
            "a_legal",
            "post",
            _r("licenses:license_edit", w["license"]),
            _license_form(key=w["license"].key, name="Renamed"),
        )
    ],
    "licenses:license_obligation": lambda w: [
        ("a_legal", "post", _r("licenses:license_obligation", w["license"]), {"term": "attribution", "clause": "x"})
    ],
    "licenses:obligation_list#post": lambda w: [
        ("a_legal", "post", reverse("licenses:obligation_list"), {"term": "sneaky-term", "meaning": "x"})
    ],
    "policies:policy_create#post": lambda w: [
        ("a_architect", "post", reverse("policies:policy_create"), _policy_form(w, organization=w["org_b"].pk)),
        ("a_architect", "post", reverse("policies:policy_create"), _policy_form(w, scope="root")),
    ],
    "policies:policy_edit#post": lambda w: [
        ("a_architect", "post", _r("policies:policy_edit", w["policy_b"]), _policy_form(w, organization=w["org_b"].pk)),
        ("a_architect", "post", _r("policies:policy_edit", w["root_policy"]), _policy_form(w, scope="root")),
        (
            "a_architect",
            "post",
            _r("policies:policy_edit", w["policy_a"]),
            _policy_form(w, name=w["policy_a"].name, organization=w["org_b"].pk),
        ),
    ],
    "policies:policy_import#post": lambda w: [
        (
            "a_architect",
            "post",
            reverse("policies:policy_import"),
            {"text": _yaml("Sneaky root", "root")},
        ),
        (
            "a_architect",
            "post",
            reverse("policies:policy_import"),
            {"text": _yaml(w["policy_b"].name, "{organization: bravo}")},
        ),
    ],
    "policies:policy_toggle": lambda w: [
        ("a_architect", "post", _r("policies:policy_toggle", w[k]), {}) for k in ("policy_b", "root_policy")
    ],
    "policies:policy_delete": lambda w: [
        ("a_architect", "post", _r("policies:policy_delete", w[k]), {}) for k in ("policy_b", "root_policy")
    ],
    "policies:violation_bulk_triage": lambda w: [],  # test_triage_of_b_is_out_of_reach
    "policies:violation_bulk_waive": lambda w: [
        (
            "a_legal",
            "post",
            reverse("policies:violation_bulk_waive"),
            {
                "ids": [w["v_b"].pk, w["v_b_own"].pk, w["v_root"].pk],
                "scope": "version",
                "owner": "root",
                "reason": w["waiver_b"].reason_id,
                "expires_on": _soon(),
            },
        ),
        (
            "a_legal",
            "post",
            reverse("policies:violation_bulk_waive"),
            {
                "ids": [w["v_a"].pk],
                "scope": "version",
                "owner": "organization",
                "organization": w["org_b"].pk,
                "reason": w["waiver_b"].reason_id,
                "expires_on": _soon(),
            },
        ),
    ],
    "policies:waiver_request#post": lambda w: [
        (
            "a_legal",
            "post",
            _r("policies:waiver_request", w["v_b_own"]),
            {
                "scope": "version",
                "owner": "application",
                "application": w["app_a"].pk,
                "reason": w["waiver_b"].reason_id,
                "expires_on": _soon(),
            },
        ),
        (
            "a_legal",
            "post",
            _r("policies:waiver_request", w["v_a"]),
            {"scope": "version", "owner": "root", "reason": w["waiver_b"].reason_id, "expires_on": _soon()},
        ),
    ],
    "policies:waiver_decide": lambda w: [
        (u, "post", _r("policies:waiver_decide", w[k]), {"decision": d, "comment": "x"})
        for u in ("a_legal", "a_security")
        for k in ("waiver_b", "waiver_b_org", "waiver_root")
        for d in ("approve", "revoke")
    ],
    "policies:version_decide": lambda w: [
        ("a_security", "post", _r("policies:version_decide", w["version"]), {"decision": "reject", "reason": "x"})
    ],
    "identity:citoken_add": lambda w: [
        (
            "a_architect",
            "post",
            reverse("identity:citoken_add"),
            {"name": "sneaky", "capability": "gate", "application": w["app_b"].pk, "expires_on": _soon()},
        ),
        (
            "a_architect",
            "post",
            reverse("identity:citoken_add"),
            {"name": "sneaky", "capability": "read", "organization": w["org_b"].pk, "expires_on": _soon()},
        ),
    ],
    "identity:citoken_revoke": lambda w: [
        ("a_architect", "post", _r("identity:citoken_revoke", w[k]), {}) for k in ("token_b", "token_b_org")
    ],
    "governance:webhook_list#post": lambda w: [
        (u, "post", reverse("governance:webhook_list"), {"name": "x", "url": "https://example.com/"}) for u in A_USERS
    ],
    # --- API ---
    "inventory-api:organization-list#post": lambda w: [
        (
            "a_architect",
            "post",
            reverse("inventory-api:organization-list"),
            {"name": "Sneaky", "slug": "sneaky", "parent": w["org_b"].pk},
        ),
    ],
    "inventory-api:organization-detail#patch": lambda w: [
        ("a_architect", "patch", _api("inventory-api:organization-detail", w["org_b"]), {"name": "Renamed"}),
        ("a_architect", "patch", _api("inventory-api:organization-detail", w["org_a"]), {"parent": w["org_b"].pk}),
    ],
    "inventory-api:application-list#post": lambda w: [
        (
            "a_architect",
            "post",
            reverse("inventory-api:application-list"),
            {"name": "Sneaky", "slug": "sneaky", "organization": w["org_b"].pk},
        ),
    ],
    "inventory-api:application-detail#patch": lambda w: [
        ("a_architect", "patch", _api("inventory-api:application-detail", w["app_b"]), {"name": "Renamed"}),
        ("a_architect", "patch", _api("inventory-api:application-detail", w["app_a"]), {"organization": w["org_b"].pk}),
    ],
    "inventory-api:applicationmodel-list#post": lambda w: [
        (
            "a_architect",
            "post",
            reverse("inventory-api:applicationmodel-list"),
            {"application": w["app_b"].pk, "version": w["version2"].pk},
        ),
    ],
    "inventory-api:applicationmodel-detail#delete": lambda w: [
        ("a_architect", "delete", _api("inventory-api:applicationmodel-detail", w["usage_b"]), {})
    ],
    "inventory-api:model-import": lambda w: [
        ("a_architect", "post", reverse("inventory-api:model-import"), {"repo_id": "x/y", "application": w["app_b"].pk})
    ],
    "inventory-api:importjob-retry": lambda w: [
        ("a_architect", "post", _api("inventory-api:importjob-retry", w["job_b"]), {})
    ],
    "inventory-api:watch-list#post": lambda w: [
        (
            "a_architect",
            "post",
            reverse("inventory-api:watch-list"),
            {"model": w["model"].pk, "ref": "dev", "application": w["app_b"].pk},
        ),
    ],
    "inventory-api:watch-detail#delete": lambda w: [
        ("a_architect", "delete", _api("inventory-api:watch-detail", w["watch_b"]), {})
    ],
    "inventory-api:dataset-detail#patch": lambda w: [
        (u, "patch", _api("inventory-api:dataset-detail", w["dataset"]), {"flags": ["nsfw"]})
        for u in ("a_legal", "a_security")
    ],
    "licenses-api:license-list#post": lambda w: [
        ("a_legal", "post", reverse("licenses-api:license-list"), {"id": "sneaky-1.0", "name": "Sneaky"})
    ],
    "licenses-api:license-detail#patch": lambda w: [
        ("a_legal", "patch", reverse("licenses-api:license-detail", kwargs={"key": w["license"].key}), {"name": "X"})
    ],
    "licenses-api:obligation-list#post": lambda w: [
        ("a_legal", "post", reverse("licenses-api:obligation-list"), {"term": "sneaky-term", "meaning": "x"})
    ],
    "licenses-api:licenseconclusion-list#post": lambda w: [
        (
            "a_legal",
            "post",
            reverse("licenses-api:licenseconclusion-list"),
            {"version": w["version"].pk, "application": w["app_b"].pk, "status": "confirmed", "comment": "x"},
        ),
        (
            "a_legal",
            "post",
            reverse("licenses-api:licenseconclusion-list"),
            {"version": w["version"].pk, "status": "confirmed", "comment": "everywhere"},
        ),
    ],
    "policies-api:policy-list#post": lambda w: [
        (
            "a_architect",
            "post",
            reverse("policies-api:policy-list"),
            {"name": "Sneaky", "threat_level": 9, "organization": w["org_b"].pk, "constraints": CONSTRAINTS},
        ),
        (
            "a_architect",
            "post",
            reverse("policies-api:policy-list"),
            {"name": "Sneaky root", "threat_level": 9, "constraints": CONSTRAINTS},
        ),
    ],
    "policies-api:policy-detail#patch": lambda w: [
        ("a_architect", "patch", _api("policies-api:policy-detail", w[k]), {"threat_level": 1})
        for k in ("policy_b", "root_policy")
    ],
    "policies-api:policy-enable": lambda w: [
        ("a_architect", "post", _api("policies-api:policy-enable", w["policy_b_app"]), {}),
    ],
    "policies-api:policy-disable": lambda w: [
        ("a_architect", "post", _api("policies-api:policy-disable", w[k]), {}) for k in ("policy_b", "root_policy")
    ],
    "policies-api:policy-import-yaml": lambda w: [
        (
            "a_architect",
            "post",
            reverse("policies-api:policy-import-yaml"),
            {"yaml": _yaml("Sneaky root", "root")},
        ),
    ],
    "policies-api:waiver-list#post": lambda w: [
        (
            "a_legal",
            "post",
            reverse("policies-api:waiver-list"),
            {
                "policy": w["root_policy"].pk,
                "scope": "version",
                "version": w["version"].pk,
                "owner": "application",
                "application": w["app_b"].pk,
                "reason": w["waiver_b"].reason.name,
                "expires_on": _soon(),
            },
        ),
        (
            "a_legal",
            "post",
            reverse("policies-api:waiver-list"),
            {
                "policy": w["root_policy"].pk,
                "scope": "version",
                "version": w["version"].pk,
                "owner": "root",
                "reason": w["waiver_b"].reason.name,
                "expires_on": _soon(),
            },
        ),
        (
            "a_legal",
            "post",
            reverse("policies-api:waiver-list"),
            {
                "policy": w["policy_b"].pk,
                "scope": "version",
                "version": w["version"].pk,
                "owner": "application",
                "application": w["app_a"].pk,
                "reason": w["waiver_b"].reason.name,
                "expires_on": _soon(),
                "violation": w["v_b_own"].pk,
            },
        ),
    ],
    "policies-api:waiver-approve": lambda w: [
        (u, "post", _api("policies-api:waiver-approve", w[k]), {"comment": "x"})
        for u in ("a_legal", "a_security")
        for k in ("waiver_b", "waiver_root")
    ],
    "policies-api:waiver-reject": lambda w: [
        ("a_legal", "post", _api("policies-api:waiver-reject", w["waiver_b"]), {"comment": "x"})
    ],
    "policies-api:waiver-revoke": lambda w: [
        ("a_legal", "post", _api("policies-api:waiver-revoke", w["waiver_b_org"]), {"comment": "x"})
    ],
    "policies-api:approval-list#post": lambda w: [
        (
            "a_security",
            "post",
            reverse("policies-api:approval-list"),
            {"version": w["version"].pk, "decision": "rejected", "reason": "x"},
        ),
    ],
    "governance-api:webhook-list#post": lambda w: [
        (u, "post", reverse("governance-api:webhook-list"), {"name": "x", "url": "https://example.com/"})
        for u in A_USERS
    ],
}

# Triage of a problem (version × policy), reached through one of its violations: B's violation is not
# there for A (404), and nothing changes.
TRIAGE = ["policies:triage_assign", "policies:triage_due", "policies:triage_comment", "policies:triage_dismiss",
          "policies:triage_reopen"]  # fmt: skip

# Self-service routes: a user's own preferences (no organization data either way).
SELF_SERVICE = {"governance:notification_preferences#post", "governance-api:notification-prefs#put"}
# Checked by a test of their own.
OWN_TEST = {"policies-api:gate": "test_gate_for_b_application_answers_without_b"}


def _r(name: str, obj: Any) -> str:
    return reverse(name, args=[obj.pk])


def _api(name: str, obj: Any) -> str:
    return reverse(name, kwargs={"pk": obj.pk})


def _route_names() -> Iterator[str]:
    def walk(patterns: list[Any], ns: str | None) -> Iterator[str]:
        for p in patterns:
            if isinstance(p, URLResolver):
                inner = f"{ns}:{p.namespace}" if ns and p.namespace else (p.namespace or ns)
                if p.namespace == "admin":
                    continue
                yield from walk(p.url_patterns, inner)
            elif isinstance(p, URLPattern) and p.name:
                yield f"{ns}:{p.name}" if ns else p.name

    yield from walk(get_resolver().url_patterns, None)


def _covered() -> set[str]:
    names = set(NOT_DATA) | PAGES | set(DETAILS) | set(SHARED_PAGES) | set(GLOBAL_ONLY) | set(SHARED_ACTIONS)
    names |= set(ACTIONS) | SELF_SERVICE | set(OWN_TEST) | set(USER_ADMIN) | set(TRIAGE)
    return {n.split("#")[0] for n in names}


def test_every_route_is_covered():
    """A route nobody classified here is a route nobody checked for leaks: classify it."""
    missing = sorted(set(_route_names()) - _covered())
    assert not missing, f"Routes not covered by the leak matrix: {missing}"
    unknown = sorted(_covered() - set(_route_names()))
    assert not unknown, f"The matrix names routes that do not exist: {unknown}"


# --- reads ----------------------------------------------------------------------------------------


def _get(client: Client, url: str) -> Any:
    return client.get(url, HTTP_ACCEPT="application/json" if url.startswith("/api/") else "text/html")


def test_pages_and_api_lists_show_nothing_of_b(world):
    w = world
    seen_alpha: set[str] = set()
    for name in sorted(PAGES):
        url = reverse(name)
        for key in A_USERS:
            response = _get(_client(w[key]), url)
            assert response.status_code in (200, 302, 403, 405), (name, key, response.status_code)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert_no_leak(w, body, f"{name} as {key}")
            if response.status_code == 200 and ALPHA_MARK.encode() in body:
                seen_alpha.add(name)
    # Positive controls: A's own objects are on these pages, so the searches above could fail.
    assert seen_alpha >= SHOWS_ALPHA, SHOWS_ALPHA - seen_alpha


SHOWS_ALPHA = {
    "inventory:application_list", "inventory:organization_list", "policies:policy_list", "policies:violation_list",
    "policies:waiver_list", "identity:citoken_list", "inventory-api:application-list", "policies-api:violation-list",
    "governance:violation_export", "governance:overview", "inventory:importjob_list",
}  # fmt: skip


def test_browsable_api_forms_offer_nothing_of_b(world):
    """The browsable API (text/html) renders create forms whose choices must not list B's objects."""
    w = world
    for name in sorted(n for n in PAGES if "-api:" in n):
        for key in ("a_architect", "a_legal"):
            response = _client(w[key]).get(reverse(name), HTTP_ACCEPT="text/html")
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert_no_leak(w, body, f"{name} (browsable) as {key}")


def test_global_manager_sees_both_sides(world):
    w = world
    c = _client(w["global_manager"])
    for name in ("inventory:application_list", "policies:violation_list", "policies:waiver_list"):
        body = c.get(reverse(name) + ("?tab=pending" if "waiver" in name else "?state=")).content.decode()
        assert BRAVO_MARK in body and "Alphaseen" in body, name
    acting = {"inventory:organization_edit", "inventory:application_edit", "policies:policy_edit",
              "policies:waiver_request", "identity:application_gate"}  # fmt: skip
    for name, (kwarg, b_keys, _a_key) in DETAILS.items():
        if name in acting:
            continue  # forms of actions: the manager reads, it does not act
        for b in b_keys:
            url = reverse(name, kwargs={kwarg: w[b].pk})
            response = _get(c, url)
            assert response.status_code == 200, (name, b, response.status_code)


def test_b_detail_pages_are_not_found_for_a(world):
    w = world
    for name, (kwarg, b_keys, a_key) in DETAILS.items():
        allowed_a = []
        for key in A_USERS:
            client = _client(w[key])
            for b in b_keys:
                response = _get(client, reverse(name, kwargs={kwarg: w[b].pk}))
                assert response.status_code in (403, 404), (name, b, key, response.status_code)
                assert_no_leak(w, response.content, f"{name}({b}) as {key}")
            if a_key:
                response = _get(client, reverse(name, kwargs={kwarg: w[a_key].pk}))
                assert response.status_code in (200, 403), (name, a_key, key, response.status_code)
                if response.status_code == 200:
                    allowed_a.append(key)
                    body = b"".join(response.streaming_content) if response.streaming else response.content
                    assert_no_leak(w, body, f"{name}({a_key}) as {key}")
        assert not a_key or allowed_a, f"{name}: no role of A reads A's own {a_key} (positive control)"


def test_b_404_for_users_holding_the_permission(world):
    """Not 403 by lack of role: the object is simply not there for them."""
    w = world
    client = _client(w["a_manager"])
    for name, b in (("inventory:application_detail", "app_b"), ("policies:violation_detail", "v_b"),
                    ("policies:waiver_detail", "waiver_b"), ("inventory-api:application-detail", "app_b"),
                    ("governance:application_bom", "app_b"), ("policies:violation_detail", "v_root")):  # fmt: skip
        assert _get(client, reverse(name, args=[w[b].pk])).status_code == 404, name


def test_shared_pages_are_readable_without_b(world):
    w = world
    w.objs["modelfile"] = w["version"].files.first()
    w.objs["obligation"] = Obligation.objects.first()
    for name, (kwarg, key) in SHARED_PAGES.items():
        route = name.split("#")[0]
        value = w[key].key if kwarg == "key" else w[key].pk
        url = reverse(route, kwargs={kwarg: value})
        readers = 0
        for user in A_USERS:
            response = _get(_client(w[user]), url)
            assert response.status_code in (200, 403), (name, user, response.status_code)
            readers += response.status_code == 200
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert_no_leak(w, body, f"{name} as {user}")
        assert readers, f"{name}: shared, yet no role of A reads it"


def test_global_only_routes_refuse_membership_roles(world):
    from governance.models import Webhook, WebhookDelivery

    w = world
    w.objs["webhook"] = Webhook.objects.create(name=f"{BRAVO_MARK} hook", url="https://example.com/h", secret="s")
    w.objs["delivery"] = WebhookDelivery.objects.create(webhook=w["webhook"], event="x")
    for name, (kwarg, key) in GLOBAL_ONLY.items():
        for user in A_USERS:
            c = _client(w[user])
            response = (
                c.post(reverse(name, kwargs={kwarg: w[key].pk}))
                if name.endswith("ping")
                else _get(c, reverse(name, kwargs={kwarg: w[key].pk}))
            )
            assert response.status_code in (403, 404), (name, user)
            assert_no_leak(w, response.content, name)


def test_user_management_refuses_membership_roles(world):
    from identity.models import Membership

    w = world
    w.objs["b_legal_membership"] = Membership.objects.get(user=w["b_legal"])
    w["a_legal"].groups.add(w["team"])
    for name, kwargs in USER_ADMIN.items():
        url = reverse(name, kwargs=kwargs(w))
        for user in A_USERS:
            c = _client(w[user])
            for method in ("get", "post"):
                before = fingerprint()
                response = getattr(c, method)(url, {"organization": w["org_a"].pk, "role": "architect"})
                assert response.status_code in (403, 404, 405), (name, user, method, response.status_code)
                assert fingerprint() == before, (name, user, method)
                assert_no_leak(w, response.content, f"{name} as {user}")
    assert _client(w["admin"]).get(reverse("identity:user_list")).status_code == 200


def test_triage_of_b_is_out_of_reach(world):
    w = world
    data = {"assignee": w["a_legal"].pk, "due_on": "2030-01-01", "text": "x", "reason": "false_positive", "note": "x"}
    for name in TRIAGE:
        for user in ("a_legal", "a_security", "a_architect"):
            before = fingerprint()
            response = _client(w[user]).post(reverse(name, args=[w["v_b_own"].pk]), data)
            assert response.status_code in (403, 404), (name, user, response.status_code)
            assert fingerprint() == before, (name, user)
    before = fingerprint()
    _client(w["a_legal"]).post(reverse("policies:violation_bulk_triage"), {**data, "ids": [w["v_b_own"].pk]})
    assert fingerprint() == before


# --- figures: overview, exports, BOM ----------------------------------------------------------------


def test_overview_figures_count_only_a(world):
    """Problems (version × policy) inside A's subtrees only; the root context and B's do not count."""
    w = world

    def problems(keys: tuple[str, ...]) -> tuple[int, int]:
        pairs = {(w[k].version_id, w[k].policy_id): w[k].policy.threat_level for k in keys}
        return sum(pairs.values()), len(pairs)

    a_risk, a_open = problems(("v_a", "v_a_own", "v_a1"))
    for user in ("a_manager", "a_architect"):
        data = _client(w[user]).get(reverse("governance-api:overview")).json()
        assert (data["total_risk"], data["open"]) == (a_risk, a_open), user
        assert {a["id"] for a in data["applications"]} == {w["app_a"].pk, w["app_a1"].pk}
        assert all(o["id"] in (w["org_a"].pk, w["org_a1"].pk) for o in data["organizations"])
        html = _client(w[user]).get(reverse("governance:overview")).content
        assert_no_leak(w, html, "overview")
    everything = problems(("v_root", "v_a", "v_a_own", "v_a1", "v_b", "v_b_own", "v_b_app"))
    data = _client(w["global_manager"]).get(reverse("governance-api:overview")).json()
    assert (data["total_risk"], data["open"]) == everything
    b_data = _client(w["b_manager"]).get(reverse("governance-api:overview")).json()
    assert (b_data["total_risk"], b_data["open"]) == problems(("v_b", "v_b_own", "v_b_app"))
    # Filtering on B's organization is ignored, not answered.
    data = _client(w["a_manager"]).get(reverse("governance-api:overview"), {"organization": w["org_b"].pk}).json()
    assert data["total_risk"] == a_risk


def _csv_rows(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))[1:]


def test_csv_exports_hold_only_a(world):
    w = world
    for user in A_USERS:
        c = _client(w[user])
        rows = _csv_rows(c.get(reverse("governance:violation_export"), {"state": ""}))
        assert len(rows) == 3, (user, rows)
        rows = _csv_rows(c.get(reverse("governance-api:violation-export"), {"state": ""}))
        assert len(rows) == 3, user
        rows = _csv_rows(c.get(reverse("governance:waiver_export"), {"tab": "all"}))
        assert [r for r in rows if BRAVO_MARK in ",".join(r)] == [] and len(rows) == 1, (user, rows)
    rows = _csv_rows(_client(w["global_manager"]).get(reverse("governance:violation_export"), {"state": ""}))
    assert len(rows) == 7


def test_boms_of_a_hold_nothing_of_b(world):
    w = world
    c = _client(w["a_manager"])
    app_bom = c.get(reverse("governance:application_bom", args=[w["app_a"].pk]))
    assert app_bom.status_code == 200 and w["policy_a"].name in app_bom.content.decode()
    assert_no_leak(w, app_bom.content, "application BOM")
    version_bom = json.loads(c.get(reverse("governance-api:version-bom", args=[w["version"].pk])).content)
    assert version_bom.get("vulnerabilities", []) == []  # root-context violations: global roles only
    global_bom = _client(w["global_manager"]).get(reverse("governance-api:version-bom", args=[w["version"].pk]))
    assert len(global_bom.json()["vulnerabilities"]) == 1


# --- actions ----------------------------------------------------------------------------------------


def fingerprint() -> tuple[Any, ...]:
    def rows(qs: Any, *fields: str) -> tuple[Any, ...]:
        return tuple(qs.order_by("pk").values_list("pk", *fields))

    return (
        AuditEvent.objects.count(),
        rows(Organization.objects, "name", "slug", "parent_id"),
        rows(Application.objects, "name", "organization_id"),
        rows(Policy.objects, "name", "enabled", "revision", "threat_level", "organization_id", "application_id"),
        rows(Waiver.objects, "state", "owner", "organization_id", "application_id"),
        rows(ApplicationModel.objects, "application_id", "version_id"),
        rows(CIToken.objects, "revoked_at"),
        rows(Approval.objects, "decision", "is_current"),
        rows(ModelVersion.objects, "review_status"),
        rows(ImportJob.objects, "state", "attempts", "application_id"),
        rows(Watch.objects, "application_id", "ref"),
        rows(LicenseConclusion.objects, "application_id"),
        rows(ObligationStatus.objects, "status", "note"),
        rows(License.objects, "name"),
        rows(Obligation.objects, "term"),
        rows(LicenseObligation.objects, "obligation_id"),
        rows(Dataset.objects, "flags", "notes"),
        rows(TriageItem.objects, "assignee_id", "due_at", "dismissed_reason"),
        TriageComment.objects.count(),
    )


def _send(client: Client, method: str, url: str, data: dict[str, Any]) -> Any:
    if url.startswith("/api/"):
        return getattr(client, method)(url, data=json.dumps(data), content_type="application/json")
    return getattr(client, method)(url, data)


# Attempts a global administrator cannot make either (so their refusal proves nothing about scope).
NO_CONTROL = {"governance:webhook_list#post", "governance-api:webhook-list#post"}


def test_a_cannot_act_on_b(world):
    """Each attempt is refused and changes nothing; the same request by a global administrator (rolled
    back) does change something — the refusal is the scope's, not a malformed request's."""
    w = world
    admin = _client(w["admin"])
    tried = 0
    for name, attempts in ACTIONS.items():
        for user, method, url, data in attempts(w):
            before = fingerprint()
            response = _send(_client(w[user]), method, url, data)
            assert fingerprint() == before, f"{name}: {user} {method.upper()} {url} changed something"
            assert response.status_code not in (200, 201, 202, 204) or (
                not url.startswith("/api/") and response.status_code == 200  # a form re-rendered with errors
            ), (name, user, url, response.status_code, response.content[:300])
            assert_no_leak(w, response.content if not response.streaming else b"", f"{name} as {user}")
            tried += 1
            if name in NO_CONTROL:
                continue
            with transaction.atomic():
                savepoint = transaction.savepoint()
                control = _send(admin, method, url, data)
                changed = fingerprint() != before
                transaction.savepoint_rollback(savepoint)
            assert changed, (name, "control: the administrator's request changed nothing", url, data,
                             control.status_code, control.content[:400])  # fmt: skip
    assert tried >= len(ACTIONS)


POSITIVE: list[tuple[str, str, Callable[[World], tuple[str, dict[str, Any]]]]] = [
    ("a_architect", "post", lambda w: (_r("inventory:application_edit", w["app_a1"]),
                                       _app_form(w["app_a1"], name="Renamed"))),
    ("a_architect", "post", lambda w: (reverse("policies:policy_create"),
                                       _policy_form(w, name="Child policy", organization=w["org_a1"].pk))),
    ("a_architect", "post", lambda w: (_r("identity:citoken_revoke", w["token_a"]), {})),
    ("a_architect", "post", lambda w: (reverse("identity:citoken_add"),
                                       {"name": "ok", "capability": "gate", "application": w["app_a"].pk,
                                        "expires_on": _soon()})),
    ("a_legal", "post", lambda w: (_r("policies:waiver_decide", w["waiver_a"]), {"decision": "approve"})),
    ("a_legal", "post", lambda w: (_r("licenses:conclude", w["version"]),
                                   {"status": "confirmed", "comment": "ok", "application": w["app_a"].pk})),
]  # fmt: skip


def test_a_acts_on_its_own_objects(world):
    """The positive control of the action matrix: the same roles do act inside their organizations."""
    w = world
    for user, method, make in POSITIVE:
        url, data = make(w)
        before = fingerprint()
        response = _send(_client(w[user]), method, url, data)
        assert response.status_code in (200, 201, 302), (url, response.status_code, response.content[:500])
        assert fingerprint() != before, f"{user} {url}: nothing happened"


def test_a_version_used_only_inside_a_can_be_decided_by_a(world):
    w = world
    own = f.ModelVersionFactory()
    ApplicationModel.objects.create(application=w["app_a1"], version=own)
    c = _client(w["a_security"])
    response = c.post(reverse("policies:version_decide", args=[own.pk]), {"decision": "reject", "reason": "no"})
    assert response.status_code == 302
    own.refresh_from_db()
    assert own.review_status == "rejected"
    assert c.get(reverse("policies:version_review", args=[w["version"].pk])).status_code == 200


# --- the CI gate as a scoped user -------------------------------------------------------------------


def test_gate_for_b_application_answers_without_b(world):
    w = world
    c = _client(w["a_architect"])
    response = c.post(
        reverse("policies-api:gate"),
        data=json.dumps({"repo_id": w["model"].repo_id, "revision": w["version"].commit, "stage": "release",
                         "application": w["app_b"].slug}),
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code in (200, 400), response.content[:300]
    assert_no_leak(w, response.content, "gate")


def test_html_routes_found_by_regex_are_all_named():
    """The resolver walk sees every route: spot-check that it found the app namespaces."""
    names = set(_route_names())
    for ns in ("inventory", "policies", "licenses", "scanning", "governance", "identity", "policies-api"):
        assert any(re.match(rf"{ns}:", n) for n in names), ns
