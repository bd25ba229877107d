"""Issue 12, LDAP bind as the second sign-in option: the password form against a real OpenLDAP server
(slapd in a second process), by search-then-bind with group search, and by direct bind with memberOf."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from core.models import AuditAction, AuditEvent
from core.roles import sync_roles
from identity.choices import MembershipSource
from identity.models import DirectoryAccount, Membership
from tests import factories as f
from tests.identity.ldap_fixtures import ADMIN_DN, ADMIN_PASSWORD, BASE, PASSWORD

User = get_user_model()
GROUP_MAP = "mg-architects=architect;acme-legal=legal reviewer@acme;mg-admins=administrator"


@pytest.fixture
def ldap_search(settings, ldap_server, db):
    """Search-then-bind (a service account finds the entry), groups searched under ou=groups."""
    sync_roles()
    f.OrganizationFactory(slug="acme")
    settings.MODELGATE_LDAP_SERVER_URI = ldap_server.uri
    settings.MODELGATE_LDAP_BIND_DN = ADMIN_DN
    settings.MODELGATE_LDAP_BIND_PASSWORD = ADMIN_PASSWORD
    settings.MODELGATE_LDAP_USER_DN_TEMPLATE = ""
    settings.MODELGATE_LDAP_USER_SEARCH_BASE = f"ou=people,{BASE}"
    settings.MODELGATE_LDAP_GROUP_SEARCH_BASE = f"ou=groups,{BASE}"
    settings.MODELGATE_LDAP_GROUP_MAP = GROUP_MAP
    settings.AUTHENTICATION_BACKENDS = [
        settings.AUTHENTICATION_BACKENDS[0],
        "identity.ldap.LDAPBackend",
        *settings.AUTHENTICATION_BACKENDS[1:],
    ]
    return ldap_server


def _login(username: str, password: str = PASSWORD) -> tuple[Client, object]:
    client = Client()
    return client, client.post("/accounts/login/", {"username": username, "password": password})


def test_ldap_user_signs_in_with_the_roles_of_its_groups(ldap_search):
    dn = ldap_search.person("lena")
    ldap_search.set_groups(dn, ["mg-architects", "acme-legal", "unrelated"])

    client, answer = _login("lena")

    assert answer.status_code == 302, answer.content[:1000]
    lena = User.objects.get(username="lena")
    assert int(client.session["_auth_user_id"]) == lena.pk
    assert (lena.email, lena.first_name, lena.last_name) == ("lena@corp.example", "Lena", "Directory")
    assert set(lena.groups.values_list("name", flat=True)) == {"architect"}
    assert {(m.organization.slug, m.role, m.source) for m in Membership.objects.filter(user=lena)} == {
        ("acme", "legal reviewer", MembershipSource.LDAP)
    }
    account = DirectoryAccount.objects.get(user=lena)
    assert account.source == "ldap" and account.subject == dn.lower()
    assert set(account.groups) == {"mg-architects", "acme-legal", "unrelated"}
    assert AuditEvent.objects.filter(actor=lena, action=AuditAction.USER_SSO_LOGIN).count() == 1
    assert AuditEvent.objects.filter(actor=lena, action=AuditAction.USER_CREATE).count() == 1
    assert client.get("/policies/").status_code == 200
    lena.is_active = False
    lena.save()
    assert client.get("/policies/").status_code == 302  # deactivated: the session ends at once


def test_ldap_groups_are_re_synced_at_the_next_sign_in(ldap_search):
    dn = ldap_search.person("mark")
    ldap_search.set_groups(dn, ["mg-architects", "acme-legal"])
    _login("mark")
    ldap_search.set_groups(dn, ["mg-admins"])

    _client, answer = _login("mark")

    assert answer.status_code == 302
    mark = User.objects.get(username="mark")
    assert set(mark.groups.values_list("name", flat=True)) == {"administrator"} and mark.is_staff
    assert not Membership.objects.filter(user=mark).exists()
    assert AuditEvent.objects.filter(actor=mark, action=AuditAction.MEMBERSHIP_REVOKE).count() == 1


def test_wrong_password_unknown_user_and_unmapped_user_are_refused(ldap_search):
    dn = ldap_search.person("nina")
    ldap_search.set_groups(dn, ["mg-architects"])
    other = ldap_search.person("oscar")
    ldap_search.set_groups(other, ["unrelated"])

    for username, password in [("nina", "wrong"), ("nobody-here", PASSWORD), ("nina*", PASSWORD)]:
        client, answer = _login(username, password)
        assert answer.status_code == 200 and "_auth_user_id" not in client.session
        assert "username and password didn't match" in answer.content.decode()

    client, answer = _login("oscar")
    assert answer.status_code == 200 and "_auth_user_id" not in client.session
    assert "none of your groups there gives a role in Modelgate" in answer.content.decode()
    assert not User.objects.filter(username__in=["nina", "oscar", "nobody-here"]).exists()


def test_ldap_sign_in_works_with_local_login_off(ldap_search, settings):
    settings.MODELGATE_LOCAL_LOGIN = False
    f.UserFactory(username="local-architect", role="architect")
    dn = ldap_search.person("paula")
    ldap_search.set_groups(dn, ["mg-architects"])

    page = Client().get("/accounts/login/").content.decode()
    assert 'name="password"' in page  # the form stays: it is the directory's

    assert _login("paula")[1].status_code == 302
    assert _login("local-architect", "correct-horse-battery")[1].status_code == 200  # a local password: refused


def test_direct_bind_with_a_dn_template_and_memberof(ldap_search, settings):
    settings.MODELGATE_LDAP_BIND_DN = ""
    settings.MODELGATE_LDAP_BIND_PASSWORD = ""
    settings.MODELGATE_LDAP_USER_DN_TEMPLATE = f"uid={{username}},ou=people,{BASE}"
    settings.MODELGATE_LDAP_USER_SEARCH_BASE = ""
    settings.MODELGATE_LDAP_GROUP_SEARCH_BASE = ""  # groups from the entry's memberOf (the AD way)
    settings.MODELGATE_LDAP_GROUP_NAME = "dn"
    settings.MODELGATE_LDAP_GROUP_MAP = f"cn=mg-architects,ou=groups,{BASE}=architect"
    dn = ldap_search.person("quinn")
    ldap_search.set_groups(dn, ["mg-architects"])

    _client, answer = _login("quinn")

    assert answer.status_code == 302, answer.content[:1000]
    quinn = User.objects.get(username="quinn")
    assert set(quinn.groups.values_list("name", flat=True)) == {"architect"}
    assert _login("quinn", "wrong")[1].status_code == 200
