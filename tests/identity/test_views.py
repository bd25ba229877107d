"""Token pages and the application's gate page: permissions, the secret shown once, revocation, snippets."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from identity.models import CIToken

pytestmark = pytest.mark.django_db

SECRET = re.compile(r'id="token-secret">(mg_[0-9a-f]{8}_[A-Za-z0-9_-]+)<')


def _create(client, app, **extra):
    data = {
        "name": "GitHub Actions",
        "capability": "gate",
        "application": app.pk,
        "expires_on": (timezone.now() + timedelta(days=30)).date().isoformat(),
        **extra,
    }
    return client.post("/identity/tokens/new/", data)


@pytest.mark.parametrize("role", ["manager", "legal", "security", "nobody"])
def test_pages_refuse_roles_without_token_permissions(gate_world, client_for, request, role):
    c = client_for(request.getfixturevalue(role))
    app = gate_world["app"]
    assert c.get("/identity/tokens/").status_code == 403
    assert c.get(f"/identity/applications/{app.pk}/gate/").status_code == 403
    assert _create(c, app).status_code == 403
    assert not CIToken.objects.exists()


def test_anonymous_is_sent_to_login(gate_world, client):
    r = client.get("/identity/tokens/")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_secret_is_shown_once_then_only_its_prefix(gate_world, client_for, architect):
    c = client_for(architect)
    app = gate_world["app"]
    r = _create(c, app, gate_page=app.pk)
    assert r.status_code == 201
    assert "no-store" in r["Cache-Control"]
    raw = SECRET.search(r.content.decode()).group(1)
    token = CIToken.objects.get()
    assert raw.startswith(f"mg_{token.prefix}_") and token.created_by == architect
    for page in ("/identity/tokens/", f"/identity/applications/{app.pk}/gate/"):
        body = c.get(page).content.decode()
        assert f"mg_{token.prefix}_…" in body and raw not in body


def test_invalid_form_is_answered_with_errors(gate_world, client_for, architect):
    c = client_for(architect)
    r = _create(c, gate_world["app"], organization=gate_world["app"].organization_id)
    assert r.status_code == 400 and "Choose one application or one organization" in r.content.decode()
    r = _create(c, gate_world["app"], expires_on=(timezone.now() + timedelta(days=4000)).date().isoformat())
    assert r.status_code == 400 and "at most" in r.content.decode()
    assert not CIToken.objects.exists()


def test_revoke_from_the_list(gate_world, client_for, admin_user):
    c = client_for(admin_user)
    _create(c, gate_world["app"])
    token = CIToken.objects.get()
    r = c.post(f"/identity/tokens/{token.pk}/revoke/", {"next": "/identity/tokens/"})
    assert r.status_code == 302 and r["Location"] == "/identity/tokens/"
    token.refresh_from_db()
    assert token.state == "revoked"
    assert "revoked" in c.get("/identity/tokens/").content.decode()


def test_application_page_links_the_gate_page_and_user_menu_links_tokens(gate_world, client_for, architect, manager):
    app = gate_world["app"]
    body = client_for(architect).get(app.get_absolute_url()).content.decode()
    assert f"/identity/applications/{app.pk}/gate/" in body and "/identity/tokens/" in body
    body = client_for(manager).get(app.get_absolute_url()).content.decode()
    assert "/identity/applications/" not in body and "/identity/tokens/" not in body


def test_gate_page_snippets_are_valid_and_use_the_application(gate_world, client_for, architect):
    app, bad = gate_world["app"], gate_world["bad"]
    body = client_for(architect).get(f"/identity/applications/{app.pk}/gate/").content.decode()
    assert "GitHub Actions" in body and "GitLab CI" in body and "Shell" in body
    github = html.unescape(re.search(r'id="snippet-github"><code>(.*?)</code>', body, re.S).group(1))
    gitlab = html.unescape(re.search(r'id="snippet-gitlab"><code>(.*?)</code>', body, re.S).group(1))
    workflow = yaml.safe_load(github)
    job = workflow["jobs"]["modelgate"]
    steps = {s.get("name", s.get("uses", s.get("run"))): s for s in job["steps"]}
    gate_step = steps["Ask the Modelgate gate"]
    assert gate_step["env"]["MODELGATE_TOKEN"] == "${{ secrets.MODELGATE_TOKEN }}"
    assert "--application chatbot" in gate_step["run"] and "--format sarif" in gate_step["run"]
    upload = steps["Show the findings in GitHub code scanning"]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@") and upload["if"] == "always()"
    assert workflow["permissions"]["security-events"] == "write"
    assert job["env"]["MODEL"] in {f"{v.model.repo_id}@{v.commit}" for v in (bad, gate_world["good"])}
    gl = yaml.safe_load(gitlab)["modelgate"]
    assert gl["artifacts"]["reports"]["junit"] == "modelgate-junit.xml"
    assert any("--format junit" in line for line in gl["script"])


def test_token_list_queries_do_not_grow_with_tokens(gate_world, client_for, admin_user, make_token,
                                                     django_assert_max_num_queries):  # fmt: skip
    c = client_for(admin_user)
    make_token(admin_user, application=gate_world["app"])
    with django_assert_max_num_queries(30) as few:
        c.get("/identity/tokens/")
    for i in range(10):
        make_token(admin_user, organization=gate_world["app2"].organization, name=f"t{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert c.get("/identity/tokens/").status_code == 200
