"""Issue 12, single sign-on: the group map's syntax, usernames, the login page's options, and the switch
that turns local (password) login off."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import Client

from identity.directory import GroupMap, RoleGrant, check_group_maps, parse_group_map, safe_username
from tests import factories as f

OIDC = "identity.oidc.ModelgateOIDCBackend"


# --- the group map -----------------------------------------------------------------------------------------


def test_group_map_entries_give_global_roles_and_organization_roles():
    m = parse_group_map(
        " mg-admins=administrator ;acme-legal = legal reviewer@acme\nacme-legal=manager@acme-labs;; "
        "cn=ml,ou=groups,dc=example,dc=org=architect"
    )
    assert m.grants_for(["MG-Admins"]) == {RoleGrant("administrator")}  # group names compare case-insensitively
    assert m.grants_for(["acme-legal", "unknown"]) == {
        RoleGrant("legal reviewer", "acme"),
        RoleGrant("manager", "acme-labs"),
    }
    assert m.grants_for(["cn=ml,ou=groups,dc=example,dc=org"]) == {RoleGrant("architect")}  # split at the last "="
    assert m.grants_for([]) == set() and not GroupMap() and m


def test_group_map_as_json():
    m = parse_group_map('{"Ops": "security reviewer@acme", "mg-admins": ["administrator", "manager"]}')
    assert m.grants_for(["ops", "mg-admins"]) == {
        RoleGrant("security reviewer", "acme"),
        RoleGrant("administrator"),
        RoleGrant("manager"),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("team=boss", "unknown role 'boss'"),
        ("team=administrator@acme", "'administrator' cannot be held in an organization"),
        ("team=architect@acme corp", "'acme corp' is not an organization slug"),
        ("just-a-group", "is not of the form group=role"),
        ("=architect", "is not of the form group=role"),
        ("team=", "is not of the form group=role"),
        ('{"team": 3}', "roles must be strings"),
        ('["team"]', "is not of the form"),
        ('{"team": "architect"', "not valid JSON"),
    ],
)
def test_a_bad_group_map_is_named_clearly(text, message):
    with pytest.raises(ValueError, match=message):
        parse_group_map(text)


def test_manage_py_check_reports_a_bad_group_map(settings):
    settings.MODELGATE_LDAP_GROUP_MAP = "ops=root"
    errors = check_group_maps()
    assert [e.id for e in errors] == ["identity.E001"] and "MODELGATE_LDAP_GROUP_MAP" in errors[0].msg
    assert errors[0].level == checks.ERROR
    settings.MODELGATE_LDAP_GROUP_MAP = ""
    assert check_group_maps() == []


def test_usernames_are_made_valid_and_unique(db):
    f.UserFactory(username="alice")
    f.UserFactory(username="alice-2")
    assert safe_username("alice") == "alice-3"
    assert safe_username("ALICE") == "ALICE-3"  # case-insensitive clash, original case kept
    assert safe_username("bob smith/ops") == "bob-smith-ops"
    assert safe_username("  ") == "user"
    assert len(safe_username("x" * 300)) == 150


# --- the login page and the local login switch -------------------------------------------------------------


@pytest.fixture
def sso_on(settings):
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "modelgate"
    settings.MODELGATE_OIDC_ISSUER = "http://127.0.0.1:9/unreachable"
    settings.MODELGATE_OIDC_PROVIDER_NAME = "Acme Keycloak"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, OIDC]
    from identity import oidc

    oidc.clear_discovery_cache()
    return settings


def test_without_sso_the_login_page_is_the_password_form_and_the_sso_routes_do_not_exist(db, client):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="password"' in html and "Sign in with" not in html
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_with_sso_the_login_page_has_the_button_and_the_password_form(db, client, sso_on):
    html = client.get("/accounts/login/?next=/policies/").content.decode()
    assert "Sign in with Acme Keycloak" in html
    assert 'href="/oidc/authenticate/?next=/policies/"' in html
    assert 'name="password"' in html and "Or with a Modelgate account" in html


def test_an_unreachable_provider_gives_a_clear_page_not_an_error(db, client, sso_on):
    answer = client.get("/oidc/authenticate/")
    assert answer.status_code == 503
    assert "The identity provider cannot be reached" in answer.content.decode()


def test_password_logins_do_not_ask_the_provider(db, client, sso_on):
    """The OIDC backend is in the list, the provider is down: a password login is not slowed or broken."""
    f.UserFactory(username="local-admin", role="administrator")
    answer = client.post("/accounts/login/", {"username": "local-admin", "password": "correct-horse-battery"})
    assert answer.status_code == 302 and client.session.get("_auth_user_id")


def test_local_login_off_shows_only_the_sso_button(db, client, sso_on):
    sso_on.MODELGATE_LOCAL_LOGIN = False
    html = client.get("/accounts/login/").content.decode()
    assert "Sign in with Acme Keycloak" in html and 'name="password"' not in html
    # The superusers' way in (documented): the form at ?local=1.
    assert 'name="password"' in client.get("/accounts/login/?local=1").content.decode()


def test_local_login_off_refuses_passwords_except_superusers(db, sso_on):
    sso_on.MODELGATE_LOCAL_LOGIN = False
    f.UserFactory(username="architect-1", role="architect")
    root = f.UserFactory(username="root", is_superuser=True, is_staff=True)

    refused = Client().post(
        "/accounts/login/?local=1", {"username": "architect-1", "password": "correct-horse-battery"}
    )
    assert refused.status_code == 200
    assert "Password sign-in is switched off: sign in with Acme Keycloak" in refused.content.decode()

    api = Client().post("/api/v1/auth/token/", {"username": "architect-1", "password": "correct-horse-battery"})
    assert api.status_code == 400 and "token" not in api.json()

    root_client = Client()
    answer = root_client.post("/accounts/login/?local=1", {"username": "root", "password": "correct-horse-battery"})
    assert answer.status_code == 302 and int(root_client.session["_auth_user_id"]) == root.pk
    assert (
        "token"
        in Client().post("/api/v1/auth/token/", {"username": "root", "password": "correct-horse-battery"}).json()
    )


def test_local_login_on_keeps_passwords_working(db, client, sso_on):
    f.UserFactory(username="architect-1", role="architect")
    api = client.post("/api/v1/auth/token/", {"username": "architect-1", "password": "correct-horse-battery"})
    assert api.status_code == 200 and api.json()["token"]


def test_settings_turn_sso_on_from_the_environment_and_open_the_csp_for_rp_logout():
    """governance/settings.py read in a fresh process with only the environment a deployment sets."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MODELGATE_", "DJANGO_"))},
        "DEBUG": "1",
        "MODELGATE_OIDC_ISSUER": "https://login.example.com/realms/corp",
        "MODELGATE_OIDC_CLIENT_ID": "modelgate",
        "MODELGATE_OIDC_LOGOUT": "1",
        "MODELGATE_LDAP_SERVER_URI": "ldaps://ldap.example.com",
        "MODELGATE_LOCAL_LOGIN": "0",
    }
    code = (
        "import json; from governance import settings as s; print(json.dumps([s.AUTHENTICATION_BACKENDS,"
        " s.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action'], s.OIDC_ENABLED, s.MODELGATE_LOCAL_LOGIN,"
        " s.OIDC_STORE_ID_TOKEN]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    backends, form_action, enabled, local, store = json.loads(out.stdout.strip().splitlines()[-1])
    assert backends == [
        "axes.backends.AxesStandaloneBackend",
        "identity.ldap.LDAPBackend",
        "identity.login.LocalPasswordBackend",
        "identity.backends.MembershipBackend",  # permissions only (organization scope); authenticates nobody
        "identity.oidc.ModelgateOIDCBackend",
    ]
    assert form_action == ["'self'", "https://login.example.com"]
    assert enabled is True and local is False and store is True
