"""CI tokens: stored hashed, shown once, scoped, expiring, revocable, audited; the API authenticates them."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.models import AuditEvent
from identity import services
from identity.models import CIToken
from tests import factories as f
from tests.identity.conftest import files_of

pytestmark = pytest.mark.django_db


def api(raw: str, keyword: str = "Bearer") -> Client:
    return Client(HTTP_AUTHORIZATION=f"{keyword} {raw}")


def gate_body(version, folder=None, **extra):
    body = {"repo_id": version.model.repo_id, "revision": version.commit, "stage": "build", **extra}
    if folder is not None:
        body["files"] = files_of(folder)
    return body


# --- the service ---------------------------------------------------------------------------------


def test_token_is_stored_hashed_with_a_visible_prefix_and_audited(gate_world, make_token):
    admin, app = gate_world["admin"], gate_world["app"]
    token, raw = make_token(admin, application=app)
    prefix, secret = services.split_token(raw)
    assert raw == f"mg_{token.prefix}_{secret}" and prefix == token.prefix and len(secret) >= 40
    assert token.secret_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = CIToken.objects.values_list("prefix", "secret_hash", "name").get(pk=token.pk)
    assert all(secret not in str(v) for v in stored)  # the secret itself is nowhere in the row
    event = AuditEvent.objects.get(action="citoken.create")
    assert event.actor == admin and event.target == token and secret not in str(event.after)
    assert token.expires_at.hour == 23 and token.expires_at.minute == 59  # end of the day, UTC


def test_expiry_is_required_and_bounded(gate_world, make_token):
    admin, app = gate_world["admin"], gate_world["app"]
    with override_settings(MODELGATE_CI_TOKEN_MAX_DAYS=30):
        with pytest.raises(ValidationError, match="at most 30 days"):
            make_token(admin, application=app, days=31)
        make_token(admin, application=app, days=30)
    with pytest.raises(ValidationError, match="past"):
        make_token(admin, application=app, days=-1)


def test_scope_is_exactly_one_application_or_organization(gate_world, make_token):
    admin, app = gate_world["admin"], gate_world["app"]
    with pytest.raises(ValidationError, match="exactly one"):
        make_token(admin)
    with pytest.raises(ValidationError, match="exactly one"):
        make_token(admin, application=app, organization=app.organization)


def test_only_roles_with_the_permission_create_or_revoke(gate_world, make_token, manager, architect):
    app = gate_world["app"]
    with pytest.raises(PermissionDenied):
        make_token(manager, application=app)
    token, _raw = make_token(architect, application=app)  # architects hold identity.add_citoken
    with pytest.raises(PermissionDenied):
        services.revoke_token(user=manager, token=token)
    services.revoke_token(user=architect, token=token, reason="rotated")
    assert AuditEvent.objects.filter(action="citoken.revoke", reason="rotated", actor=architect).exists()
    with pytest.raises(ValidationError, match="already revoked"):
        services.revoke_token(user=architect, token=token)


# --- authentication ----------------------------------------------------------------------------------


def test_gate_token_asks_the_gate_with_bearer_and_token_keywords(gate_world, make_token):
    w = gate_world
    token, raw = make_token(w["admin"], application=w["app"])
    for keyword in ("Bearer", "Token"):
        r = api(raw, keyword).post("/api/v1/gate", gate_body(w["good"], w["good_dir"]), content_type="application/json")
        assert r.status_code == 200, r.content
        assert r.json()["action"] == "none" and r.json()["identity"]["verified"] is True
        assert r["X-Modelgate-Action"] == "none" and r["X-Modelgate-Verified"] == "true"
    r = api(raw).post("/api/v1/gate", gate_body(w["bad"], w["bad_dir"]), content_type="application/json")
    assert r.json()["action"] == "fail" and r.json()["violations"][0]["policy"] == "Few downloads"
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_gate_token_can_do_nothing_else(gate_world, make_token):
    _token, raw = make_token(gate_world["admin"], application=gate_world["app"])
    for path in ("/api/v1/models/", "/api/v1/applications/", "/api/v1/violations/", "/api/v1/schema/"):
        assert api(raw).get(path).status_code == 403, path
    r = api(raw).post("/api/v1/policies/", {"name": "x"}, content_type="application/json")
    assert r.status_code == 403


def test_gate_token_answers_only_for_its_application(gate_world, make_token):
    w = gate_world
    _token, raw = make_token(w["admin"], application=w["app"])
    other = api(raw).post(
        "/api/v1/gate", gate_body(w["good"], application="other-app"), content_type="application/json"
    )
    assert other.status_code == 403
    # Without an application the token's own applies: the application's context is evaluated.
    own = api(raw).post("/api/v1/gate", gate_body(w["bad"], w["bad_dir"]), content_type="application/json")
    assert own.status_code == 200 and own.json()["action"] == "fail"


def test_organization_token_must_name_one_of_its_applications(gate_world, make_token):
    w = gate_world
    _token, raw = make_token(w["admin"], organization=w["app"].organization)
    body = gate_body(w["good"], w["good_dir"])
    assert api(raw).post("/api/v1/gate", body, content_type="application/json").status_code == 403
    ok = api(raw).post("/api/v1/gate", {**body, "application": "chatbot"}, content_type="application/json")
    assert ok.status_code == 200
    no = api(raw).post("/api/v1/gate", {**body, "application": "other-app"}, content_type="application/json")
    assert no.status_code == 403


def test_read_token_reads_only_inside_its_scope_and_never_writes(gate_world, make_token):
    w = gate_world
    outsider = f.ModelVersionFactory(model=f.ModelFactory(repo_id="acme/not-used-by-chatbot"))
    _token, raw = make_token(w["admin"], capability="read", application=w["app"])
    apps = api(raw).get("/api/v1/applications/").json()["results"]
    assert [a["slug"] for a in apps] == ["chatbot"]
    repos = {m["repo_id"] for m in api(raw).get("/api/v1/models/").json()["results"]}
    assert repos == {"acme/good-model", "acme/bad-model"}
    assert api(raw).get(f"/api/v1/versions/{outsider.pk}/").status_code == 404
    violations = api(raw).get("/api/v1/violations/").json()["results"]
    assert violations and all(v["application"] == w["app"].pk for v in violations)
    assert api(raw).get("/api/v1/audit/").status_code == 403  # not a scoped read: invisible to tokens
    r = api(raw).post("/api/v1/gate", gate_body(w["good"]), content_type="application/json")
    assert r.status_code == 403


@pytest.mark.parametrize("case", ["expired", "revoked", "wrong-secret", "creator-inactive", "malformed"])
def test_unusable_tokens_are_refused(gate_world, make_token, case):
    w = gate_world
    token, raw = make_token(w["admin"], application=w["app"])
    if case == "expired":
        CIToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif case == "revoked":
        services.revoke_token(user=w["admin"], token=token)
    elif case == "wrong-secret":
        raw = raw[:-4] + ("aaaa" if not raw.endswith("aaaa") else "bbbb")
    elif case == "creator-inactive":
        w["admin"].is_active = False
        w["admin"].save()
    else:
        raw = "mg_short"
    r = api(raw).post("/api/v1/gate", gate_body(w["good"]), content_type="application/json")
    assert r.status_code == 401
    assert "Bearer" in r["WWW-Authenticate"]


def test_legacy_authtoken_still_works(gate_world):
    key = Token.objects.create(user=gate_world["admin"]).key
    r = api(key, "Token").post("/api/v1/gate", gate_body(gate_world["good"]), content_type="application/json")
    assert r.status_code == 200
