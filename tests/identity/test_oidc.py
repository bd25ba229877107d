"""Issue 12, single sign-on: the real authorization-code flow against a real OpenID Connect provider
(django-oauth-toolkit in a second process), over HTTP through both servers. Nothing of the OIDC client
is mocked: discovery, JWKS, RS256 ID token, nonce, PKCE and userinfo are the library's and the provider's."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from core.models import AuditAction, AuditEvent
from identity.choices import MembershipSource
from identity.models import DirectoryAccount, Membership
from tests import factories as f
from tests.identity.oidc_fixtures import sign_in

User = get_user_model()


def _roles(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def _memberships(user) -> set[tuple[str, str, str]]:
    return {(m.organization.slug, m.role, m.source) for m in Membership.objects.filter(user=user)}


def _in_the_app(answer, live_server) -> bool:
    """Signed in and on a Modelgate page ("/" sends each role to its start page)."""
    path = urlsplit(answer.url).path
    return (
        answer.status_code == 200
        and answer.url.startswith(live_server.url)
        and not path.startswith(("/accounts/login/", "/oidc/"))
    )


def _actions(user) -> list[str]:
    return list(AuditEvent.objects.filter(actor=user).order_by("id").values_list("action", flat=True))


@pytest.fixture
def orgs(transactional_db):
    return f.OrganizationFactory(slug="acme", name="Acme"), f.OrganizationFactory(slug="acme-labs", name="Acme Labs")


def test_first_sign_in_creates_the_user_with_the_roles_and_memberships_of_its_groups(sso, live_server, orgs):
    sso.user("alice", ["mg-architects", "acme-legal", "not-mapped"])

    landed = sign_in(live_server, sso, "alice")

    assert _in_the_app(landed, live_server), landed.url
    assert "alice" in landed.text  # the dashboard, signed in
    alice = User.objects.get(username="alice")
    assert (alice.email, alice.first_name, alice.last_name) == ("alice@corp.example", "Alice", "Tester")
    assert not alice.has_usable_password()
    assert _roles(alice) == {"architect"}
    assert _memberships(alice) == {("acme", "legal reviewer", MembershipSource.OIDC)}
    account = DirectoryAccount.objects.get(user=alice)
    assert account.source == "oidc" and account.issuer == sso.issuer and account.granted_roles == ["architect"]
    actions = _actions(alice)
    assert actions[0] == AuditAction.USER_CREATE
    assert {AuditAction.USER_ROLES, AuditAction.MEMBERSHIP_GRANT, AuditAction.USER_SSO_LOGIN} <= set(actions)
    login = AuditEvent.objects.get(actor=alice, action=AuditAction.USER_SSO_LOGIN)
    assert login.after["groups"] == ["acme-legal", "mg-architects", "not-mapped"]
    assert login.after["memberships"] == ["legal reviewer@acme"]
    # The session works for pages the role may see, server-side.
    browser = landed.session  # type: ignore[attr-defined]
    assert browser.get(f"{live_server.url}/policies/", timeout=30).status_code == 200
    # Deactivated in Modelgate: the running session ends at once.
    alice.is_active = False
    alice.save()
    assert browser.get(f"{live_server.url}/policies/", timeout=30, allow_redirects=False).status_code == 302


def test_a_later_sign_in_with_other_groups_changes_roles_but_keeps_roles_given_in_the_app(sso, live_server, orgs):
    sso.user("bob", ["mg-architects", "acme-legal"])
    sign_in(live_server, sso, "bob")
    bob = User.objects.get(username="bob")
    bob.groups.add(Group.objects.get(name="manager"))  # given by an administrator in the app
    bob.email = "stale@example.com"
    bob.save()

    sso.user("bob", ["acme-security"])
    landed = sign_in(live_server, sso, "bob")

    assert _in_the_app(landed, live_server), landed.url
    bob.refresh_from_db()
    assert _roles(bob) == {"manager"}  # architect (from the IdP) gone, manager (from the app) kept
    assert _memberships(bob) == {
        ("acme", "security reviewer", MembershipSource.OIDC),
        ("acme-labs", "manager", MembershipSource.OIDC),
    }
    assert bob.email == "bob@corp.example"  # updated at each sign-in
    assert User.objects.filter(username__startswith="bob").count() == 1  # same subject, same user
    revoked = AuditEvent.objects.get(actor=bob, action=AuditAction.MEMBERSHIP_REVOKE)
    assert revoked.before["role"] == "legal reviewer" and "oidc" in revoked.reason
    roles_events = AuditEvent.objects.filter(actor=bob, action=AuditAction.USER_ROLES).order_by("id")
    assert roles_events.last().before["roles"] == ["architect", "manager"]
    assert roles_events.last().after["roles"] == ["manager"]
    assert AuditEvent.objects.filter(actor=bob, action=AuditAction.USER_SSO_LOGIN).count() == 2


def test_a_user_whose_groups_map_to_nothing_is_refused_with_a_clear_page(sso, live_server, orgs):
    sso.user("carol", ["not-mapped", "staff"])

    refused = sign_in(live_server, sso, "carol")

    assert refused.status_code == 403
    assert "none of your groups there gives a role in Modelgate" in refused.text
    assert not User.objects.filter(username="carol").exists()
    assert refused.session.get(f"{live_server.url}/", timeout=30, allow_redirects=False).status_code == 302  # type: ignore[attr-defined]


def test_a_user_who_lost_every_mapped_group_loses_its_roles_and_is_refused(sso, live_server, orgs):
    sso.user("dave", ["mg-admins", "acme-legal"])
    sign_in(live_server, sso, "dave")
    dave = User.objects.get(username="dave")
    assert _roles(dave) == {"administrator"} and dave.is_staff

    sso.user("dave", ["not-mapped"])
    refused = sign_in(live_server, sso, "dave")

    assert refused.status_code == 403
    dave.refresh_from_db()
    assert _roles(dave) == set() and not dave.is_staff and _memberships(dave) == set()


def test_unmapped_users_may_be_allowed_in_without_roles(sso, live_server, orgs, settings):
    settings.MODELGATE_OIDC_ALLOW_UNMAPPED = True
    sso.user("erin", ["not-mapped"])

    landed = sign_in(live_server, sso, "erin")

    # Signed in, with nothing to see yet: the app's own "no role" answer at "/", not a login refusal.
    assert landed.status_code == 403 and landed.url == f"{live_server.url}/"
    again = landed.session.get(f"{live_server.url}/accounts/login/", allow_redirects=False, timeout=30)  # type: ignore[attr-defined]
    assert again.status_code == 302  # the login page sends a signed-in user on
    erin = User.objects.get(username="erin")
    assert _roles(erin) == set() and _memberships(erin) == set()


def test_the_username_of_an_existing_local_account_is_not_taken_over(sso, live_server, orgs):
    local = f.UserFactory(username="frank", email="frank@elsewhere.example", role="administrator")
    sso.user("frank", ["acme-legal"])

    sign_in(live_server, sso, "frank")

    sso_frank = DirectoryAccount.objects.get().user
    assert sso_frank.pk != local.pk and sso_frank.username == "frank-2"
    local.refresh_from_db()
    assert _roles(local) == {"administrator"} and local.email == "frank@elsewhere.example"


def test_an_invited_account_without_password_is_linked_by_email(sso, live_server, orgs):
    invited = User.objects.create_user("grace.h", email="grace@corp.example")  # no password: invited
    sso.user("grace", ["mg-architects"])

    sign_in(live_server, sso, "grace")

    assert DirectoryAccount.objects.get().user_id == invited.pk
    assert _roles(User.objects.get(pk=invited.pk)) == {"architect"}


def test_a_forged_callback_is_refused(sso, live_server, orgs):
    session = requests.Session()
    answer = session.get(f"{live_server.url}/oidc/callback/?code=forged&state=forged", timeout=30)
    assert answer.status_code == 403 and "did not complete" in answer.text
    assert session.get(f"{live_server.url}/", timeout=30, allow_redirects=False).status_code == 302


def test_logout_ends_the_session_and_with_rp_initiated_logout_the_providers_too(sso, live_server, orgs, settings):
    settings.MODELGATE_OIDC_LOGOUT = True
    settings.OIDC_STORE_ID_TOKEN = True
    sso.user("heidi", ["mg-architects"])
    landed = sign_in(live_server, sso, "heidi")
    browser = landed.session  # type: ignore[attr-defined]
    csrf = browser.cookies.get("csrftoken", domain="127.0.0.1") or browser.cookies.get("csrftoken")

    out = browser.post(
        f"{live_server.url}/accounts/logout/",
        data={"csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{live_server.url}/"},
        allow_redirects=False,
        timeout=30,
    )

    assert out.status_code == 302
    target = urlsplit(out.headers["Location"])
    assert f"{target.scheme}://{target.netloc}" == sso.url  # the provider's end_session_endpoint
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == [f"{live_server.url}/accounts/login/"]
    assert query["id_token_hint"][0].count(".") == 2
    assert browser.get(f"{live_server.url}/", allow_redirects=False, timeout=30).status_code == 302
    back = browser.get(out.headers["Location"], timeout=30)  # the provider logs out and sends us back
    assert back.url.startswith(f"{live_server.url}/accounts/login/")
