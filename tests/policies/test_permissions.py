"""Every role x action, through direct POSTs to the pages and calls to the API."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from policies import services
from policies.models import Policy, Violation, Waiver
from tests.policies.conftest import make_policy, make_version

pytestmark = pytest.mark.django_db

ROLES = ["admin_user", "architect", "legal", "security", "manager", "nobody"]
READERS = {"admin_user", "architect", "legal", "security", "manager"}
AUTHORS = {"admin_user", "architect"}
REQUESTERS = {"admin_user", "architect", "legal", "security"}
APPROVERS = {"admin_user", "architect", "legal", "security"}


@pytest.fixture
def world(db, reason):
    policy = make_policy("sec", fact="scan.state", operator="is", value="missing", actions={"release": "warn"})
    version = make_version()
    services.evaluate_versions()
    return {"policy": policy, "version": version, "violation": Violation.objects.get(), "reason": reason}


@pytest.fixture
def user(request):
    return request.getfixturevalue(request.param)


def _expect(role, allowed, response, ok=(200, 201, 204, 302)):
    if role in allowed:
        assert response.status_code in ok, (role, response.status_code, getattr(response, "content", b"")[:300])
    else:
        assert response.status_code == 403, (role, response.status_code)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "name", ["policy_list", "violation_list", "waiver_list", "policy_detail", "violation_detail", "version_review"]
)
def test_pages_read(role, name, world, request, client_for):
    c = client_for(request.getfixturevalue(role))
    args = {
        "policy_detail": [world["policy"].pk],
        "violation_detail": [world["violation"].pk],
        "version_review": [world["version"].pk],
    }.get(name, [])
    _expect(role, READERS, c.get(reverse(f"policies:{name}", args=args)))


def _policy_post():
    return {
        "name": "New one", "threat_level": "3", "scope": "root", "enabled": "on",
        **{f"action_{s}": "warn" for s in ["proxy", "develop", "source", "build", "stage_release", "release", "operate"]},
        "k-0-name": "c", "k-0-match": "all", "k-0-c-0-fact": "model.downloads", "k-0-c-0-operator": "lt",
        "k-0-c-0-value": "5",
    }  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_policy_create_edit_toggle_delete_pages(role, world, request, client_for):
    c = client_for(request.getfixturevalue(role))
    pk = world["policy"].pk
    _expect(role, AUTHORS, c.post(reverse("policies:policy_create"), _policy_post()))
    _expect(role, AUTHORS, c.post(reverse("policies:policy_edit", args=[pk]), {**_policy_post(), "name": "sec"}))
    _expect(role, AUTHORS, c.post(reverse("policies:policy_preview"), _policy_post()))
    _expect(role, AUTHORS, c.post(reverse("policies:policy_toggle", args=[pk])))
    _expect(role, AUTHORS, c.post(reverse("policies:policy_import"), {"text": "policies: []"}))
    _expect(role, AUTHORS, c.post(reverse("policies:policy_delete", args=[pk])))
    assert Policy.objects.filter(pk=pk).exists() is (role not in AUTHORS)


@pytest.mark.parametrize("role", ROLES)
def test_waiver_request_page(role, world, request, client_for):
    c = client_for(request.getfixturevalue(role))
    data = {"scope": "version", "owner": "root", "preset": "7", "reason": world["reason"].pk}
    _expect(role, REQUESTERS, c.post(reverse("policies:waiver_request", args=[world["violation"].pk]), data))
    assert Waiver.objects.exists() is (role in REQUESTERS)


@pytest.mark.parametrize("role", ROLES)
def test_waiver_decide_security_policy(role, world, request, client_for, make_user):
    requester = make_user("architect", username="requester")
    waiver = services.request_waiver(
        user=requester, policy=world["policy"], scope="version", version=world["version"],
        expires_on=timezone.now().date() + timedelta(days=5), reason=world["reason"],
    )  # fmt: skip
    c = client_for(request.getfixturevalue(role))
    response = c.post(reverse("policies:waiver_decide", args=[waiver.pk]), {"decision": "approve"})
    _expect(role, {"admin_user", "security"}, response)
    waiver.refresh_from_db()
    assert (waiver.state == "approved") is (role in {"admin_user", "security"})


@pytest.mark.parametrize("role", ROLES)
def test_version_decide_page(role, world, request, client_for):
    c = client_for(request.getfixturevalue(role))
    response = c.post(
        reverse("policies:version_decide", args=[world["version"].pk]), {"decision": "approve", "reason": "ok"}
    )
    _expect(role, APPROVERS, response)


# --- API ---------------------------------------------------------------------------------------


def _api_policy():
    return {
        "name": "API policy", "threat_level": 4, "actions": {"release": "fail"},
        "constraints": [{"name": "c", "match": "all",
                         "conditions": [{"fact": "model.likes", "operator": "lt", "value": 3}]}],
    }  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_api_policies(role, world, request, client_for):
    c = client_for(request.getfixturevalue(role))
    _expect(role, READERS, c.get("/api/v1/policies/"))
    _expect(role, READERS, c.get("/api/v1/violations/"))
    _expect(role, READERS, c.get("/api/v1/waivers/"))
    _expect(role, READERS, c.get("/api/v1/approvals/"))
    _expect(role, AUTHORS, c.post("/api/v1/policies/", _api_policy(), content_type="application/json"))
    _expect(role, AUTHORS, c.post("/api/v1/policies/impact/", _api_policy(), content_type="application/json"))
    pk = world["policy"].pk
    _expect(role, AUTHORS, c.patch(f"/api/v1/policies/{pk}/", {"threat_level": 9}, content_type="application/json"))
    _expect(role, AUTHORS, c.post(f"/api/v1/policies/{pk}/disable/"))
    _expect(role, AUTHORS, c.delete(f"/api/v1/policies/{pk}/"))


@pytest.mark.parametrize("role", ROLES)
def test_api_waivers_and_approvals(role, world, request, client_for, make_user):
    c = client_for(request.getfixturevalue(role))
    expires = (timezone.now().date() + timedelta(days=5)).isoformat()
    response = c.post(
        "/api/v1/waivers/",
        {"violation": world["violation"].pk, "expires_on": expires, "reason": world["reason"].name},
        content_type="application/json",
    )
    _expect(role, REQUESTERS, response)
    requester = make_user("legal reviewer", username="requester2")
    waiver = services.request_waiver(
        user=requester, policy=world["policy"], scope="version", version=world["version"],
        expires_on=timezone.now().date(), reason=world["reason"],
    )  # fmt: skip
    _expect(role, {"admin_user", "security"}, c.post(f"/api/v1/waivers/{waiver.pk}/approve/", {"comment": "ok"}))
    response = c.post(
        "/api/v1/approvals/",
        {"version": world["version"].pk, "decision": "approved", "reason": "ok"},
        content_type="application/json",
    )
    _expect(role, APPROVERS, response)


@pytest.mark.parametrize("role", ROLES)
def test_api_gate(role, world, request, client_for):
    c = client_for(request.getfixturevalue(role))
    v = world["version"]
    response = c.post(
        "/api/v1/gate",
        {"repo_id": v.model.repo_id, "revision": v.commit, "stage": "release"},
        content_type="application/json",
    )
    _expect(role, READERS, response)
    if role in READERS:
        body = response.json()
        assert set(body) == {"action", "violations", "identity", "approval", "stages", "url"}  # contract + additive
        assert body["action"] == "warn" and set(body["identity"]) == {"verified", "mismatches"}


def test_api_gate_anonymous_denied(world, client):
    response = client.post("/api/v1/gate", {"repo_id": "x", "stage": "release"}, content_type="application/json")
    assert response.status_code in (401, 403)
