"""Pages of user, role and team management: administrators only, errors in place, every change audited."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core import roles
from core.models import AuditAction, AuditEvent
from identity import accounts, memberships
from identity.choices import MembershipSource
from identity.models import Membership
from tests import factories as f

HTMX = {"HTTP_HX_REQUEST": "true"}
NON_ADMIN_ROLES = [roles.ARCHITECT, roles.LEGAL_REVIEWER, roles.SECURITY_REVIEWER, roles.MANAGER, None]


@pytest.fixture
def world(admin_user, make_user):
    org = f.OrganizationFactory(name="Acme")
    target = make_user(roles.MANAGER, username="target", first_name="Tara", email="tara@example.com")
    team = accounts.create_team(actor=admin_user, name="ML platform")
    accounts.add_team_member(actor=admin_user, team=team, user=target)
    user_membership = accounts.add_membership(actor=admin_user, organization=org, role=roles.ARCHITECT, user=target)
    team_membership = accounts.add_membership(actor=admin_user, organization=org, role=roles.MANAGER, team=team)
    return {
        "org": org,
        "target": target,
        "team": team,
        "user_membership": user_membership,
        "team_membership": team_membership,
    }


def routes(w) -> list[str]:
    t, team = w["target"].pk, w["team"].pk
    return [
        reverse("identity:user_list"),
        reverse("identity:user_add"),
        reverse("identity:user_detail", args=[t]),
        reverse("identity:user_profile", args=[t]),
        reverse("identity:user_roles", args=[t]),
        reverse("identity:user_membership_add", args=[t]),
        reverse("identity:user_membership_remove", args=[t, w["user_membership"].pk]),
        reverse("identity:user_deactivate", args=[t]),
        reverse("identity:user_activate", args=[t]),
        reverse("identity:user_invite", args=[t]),
        reverse("identity:team_list"),
        reverse("identity:team_add"),
        reverse("identity:team_detail", args=[team]),
        reverse("identity:team_member_add", args=[team]),
        reverse("identity:team_member_remove", args=[team, t]),
        reverse("identity:team_membership_add", args=[team]),
        reverse("identity:team_membership_remove", args=[team, w["team_membership"].pk]),
    ]


@pytest.mark.parametrize("role", NON_ADMIN_ROLES, ids=lambda r: r or "no-role")
def test_every_route_refuses_every_other_role(world, make_user, client_for, role):
    client = client_for(make_user(role, username=f"not-admin-{role or 'none'}"))
    events_before = AuditEvent.objects.count()
    users_before = list(get_user_model().objects.values_list("username", "is_active", "first_name"))
    for url in routes(world):
        assert client.get(url).status_code == 403, url
        data = {
            "username": "sneaky",
            "access": "password",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
            "roles": [roles.ADMINISTRATOR],
            "first_name": "Hacked",
            "organization": world["org"].pk,
            "role": roles.ARCHITECT,
            "name": "Sneaky team",
            "user": world["target"].pk,
        }
        assert client.post(url, data).status_code == 403, url
        assert client.post(url, data, **HTMX).status_code == 403, url
    assert AuditEvent.objects.count() == events_before
    assert list(get_user_model().objects.values_list("username", "is_active", "first_name")) == users_before


def test_anonymous_is_sent_to_login(world, client):
    for url in routes(world):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_users_nav_entry_only_for_administrators(admin_client_, client_for, architect):
    assert b'href="/identity/users/"' in admin_client_.get("/", follow=True).content
    assert b'href="/identity/users/"' not in client_for(architect).get("/", follow=True).content


# --- the list -----------------------------------------------------------------------------------------


def test_list_shows_roles_memberships_source_and_filters(
    world, admin_client_, admin_user, make_user, django_assert_max_num_queries
):
    for i in range(5):
        make_user(roles.LEGAL_REVIEWER, username=f"bulk{i}")
    sso = make_user(None, username="sso-person")
    sso.set_unusable_password()
    sso.save()
    memberships.sync_from_directory(user=sso, source=MembershipSource.OIDC, grants=[(world["org"], roles.MANAGER)])
    url = reverse("identity:user_list")
    with django_assert_max_num_queries(14):
        response = admin_client_.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert "target" in html and "Acme: architect" in html and "Acme: manager (team ML platform)" in html
    assert "Acme: manager (OIDC)" in html
    row = html[html.index(">sso-person<") :]
    assert "OIDC" in row[: row.index("</tr>")]

    def names(query: dict) -> set[str]:
        r = admin_client_.get(url, query, **HTMX)
        assert r.status_code == 200
        body = r.content.decode()
        assert "<h1>" not in body  # the results fragment only
        return {u.username for u in get_user_model().objects.all() if f">{u.username}</a>" in body}

    assert names({"q": "tara"}) == {"target"}
    assert names({"role": roles.LEGAL_REVIEWER}) == {f"bulk{i}" for i in range(5)}
    assert names({"organization": world["org"].pk}) == {"target", "sso-person"}
    accounts.deactivate_user(actor=admin_user, user=sso)
    assert names({"active": "false"}) == {"sso-person"}
    assert "sso-person" not in names({"active": "true"})


# --- create -------------------------------------------------------------------------------------------


def test_create_invalid_then_valid(world, admin_client_):
    url = reverse("identity:user_add")
    bad = {"username": "newbie", "access": "password", "password1": "short", "password2": "short"}
    response = admin_client_.post(url, bad, **HTMX)
    assert response.status_code == 422
    body = response.content.decode()
    assert "<h1>" not in body and 'id="user-form"' in body  # the form fragment, swapped in place
    assert "at least 12 characters" in body and 'aria-invalid="true"' in body
    response = admin_client_.post(url, bad)  # without JavaScript: the whole page
    assert response.status_code == 422 and b"<h1>New user</h1>" in response.content
    assert not get_user_model().objects.filter(username="newbie").exists()

    response = admin_client_.post(
        url,
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "access": "invite",
            "roles": [roles.SECURITY_REVIEWER],
            "organization": world["org"].pk,
            "organization_role": roles.LEGAL_REVIEWER,
        },
        **HTMX,
    )
    user = get_user_model().objects.get(username="newbie")
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("identity:user_detail", args=[user.pk])
    assert accounts.global_roles(user) == [roles.SECURITY_REVIEWER]
    assert Membership.objects.get(user=user).role == roles.LEGAL_REVIEWER
    assert len(mail.outbox) == 1 and "http://testserver/accounts/password/reset/" in mail.outbox[0].body
    assert {e.action for e in AuditEvent.objects.filter(target_id=str(user.pk))} >= {
        AuditAction.USER_CREATE,
        AuditAction.USER_INVITE,
    }


def test_create_mismatched_passwords_and_duplicate_username(world, admin_client_):
    url = reverse("identity:user_add")
    r = admin_client_.post(url, {"username": "x", "access": "password", "password1": "a" * 14, "password2": "b" * 14})
    assert r.status_code == 422 and b"The two passwords differ" in r.content
    r = admin_client_.post(
        url,
        {
            "username": "TARGET",
            "access": "password",
            "password1": "q7-long-enough-pass",
            "password2": "q7-long-enough-pass",
        },
    )
    assert r.status_code == 422 and b"already exists" in r.content


# --- the user's page ----------------------------------------------------------------------------------


def test_detail_shows_directory_memberships_as_resynced(world, admin_client_):
    target = world["target"]
    memberships.sync_from_directory(user=target, source=MembershipSource.LDAP, grants=[(world["org"], roles.MANAGER)])
    body = admin_client_.get(reverse("identity:user_detail", args=[target.pk])).content.decode()
    assert "re-synced at login" in body and "LDAP" in body
    ldap = Membership.objects.get(user=target, source=MembershipSource.LDAP)
    assert reverse("identity:user_membership_remove", args=[target.pk, ldap.pk]) not in body
    assert reverse("identity:user_membership_remove", args=[target.pk, world["user_membership"].pk]) in body
    # Posting the removal anyway: refused, in place.
    r = admin_client_.post(reverse("identity:user_membership_remove", args=[target.pk, ldap.pk]), **HTMX)
    assert r.status_code == 422 and b'id="user-memberships"' in r.content
    assert re.search(r'role="alert">[^<]*is re-synced at each login', r.content.decode())
    assert Membership.objects.filter(pk=ldap.pk).exists()


def test_profile_roles_memberships_and_status_through_the_page(world, admin_client_, admin_user):
    target = world["target"]
    detail = reverse("identity:user_detail", args=[target.pk])
    r = admin_client_.post(
        reverse("identity:user_profile", args=[target.pk]), {"first_name": "T", "email": "not-an-email"}, **HTMX
    )
    assert r.status_code == 422 and b'id="user-profile"' in r.content and b"valid email" in r.content
    r = admin_client_.post(
        reverse("identity:user_profile", args=[target.pk]), {"first_name": "T", "email": "t@example.com"}
    )
    assert r.status_code == 302 and r["Location"] == detail

    r = admin_client_.post(
        reverse("identity:user_roles", args=[target.pk]), {"roles": [roles.ARCHITECT, roles.MANAGER]}
    )
    assert r.status_code == 302
    assert accounts.global_roles(get_user_model().objects.get(pk=target.pk)) == [roles.ARCHITECT, roles.MANAGER]

    r = admin_client_.post(
        reverse("identity:user_membership_add", args=[target.pk]),
        {"organization": world["org"].pk, "role": roles.SECURITY_REVIEWER},
    )
    assert r.status_code == 302
    r = admin_client_.post(
        reverse("identity:user_membership_add", args=[target.pk]),
        {"organization": world["org"].pk, "role": roles.SECURITY_REVIEWER},
        **HTMX,
    )
    assert r.status_code == 422 and b"Already" in r.content
    r = admin_client_.post(reverse("identity:user_membership_remove", args=[target.pk, world["user_membership"].pk]))
    assert r.status_code == 302 and not Membership.objects.filter(pk=world["user_membership"].pk).exists()

    r = admin_client_.post(reverse("identity:user_deactivate", args=[target.pk]), {"reason": "left"})
    assert r.status_code == 302 and not get_user_model().objects.get(pk=target.pk).is_active
    r = admin_client_.post(reverse("identity:user_activate", args=[target.pk]), {"reason": "back"})
    assert r.status_code == 302 and get_user_model().objects.get(pk=target.pk).is_active
    r = admin_client_.post(reverse("identity:user_invite", args=[target.pk]))
    assert r.status_code == 302 and mail.outbox[-1].to == ["t@example.com"]

    actions = list(AuditEvent.objects.filter(actor=admin_user).values_list("action", flat=True))
    for action in (
        AuditAction.USER_UPDATE,
        AuditAction.USER_ROLES,
        AuditAction.MEMBERSHIP_GRANT,
        AuditAction.MEMBERSHIP_REVOKE,
        AuditAction.USER_DEACTIVATE,
        AuditAction.USER_ACTIVATE,
        AuditAction.USER_INVITE,
    ):
        assert action in actions
    page = admin_client_.get(detail).content.decode()
    # The history on the page: the user's events and those of their memberships (even removed ones).
    assert "user.deactivate" in page and "membership.grant" in page and "membership.revoke" in page


def test_self_demotion_and_self_deactivation_are_refused_in_place(admin_client_, admin_user, make_user):
    make_user(roles.ADMINISTRATOR, username="second-admin")
    r = admin_client_.post(reverse("identity:user_roles", args=[admin_user.pk]), {"roles": [roles.MANAGER]}, **HTMX)
    assert r.status_code == 422 and b"your own administrator role" in r.content and b'id="user-roles"' in r.content
    r = admin_client_.post(reverse("identity:user_deactivate", args=[admin_user.pk]), {"reason": "x"})
    assert r.status_code == 422
    assert re.search(
        r'role="alert">\s*<p>You cannot deactivate yourself', r.content.decode()
    )  # the error, not the hint
    admin_user.refresh_from_db()
    assert admin_user.is_active and accounts.global_roles(admin_user) == [roles.ADMINISTRATOR]


def test_unknown_user_is_404(admin_client_):
    assert admin_client_.get(reverse("identity:user_detail", args=[999999])).status_code == 404


# --- teams --------------------------------------------------------------------------------------------


def test_team_pages(world, admin_client_, make_user):
    r = admin_client_.get(reverse("identity:team_list"))
    assert r.status_code == 200 and b"ML platform" in r.content
    assert roles.ADMINISTRATOR.encode() not in r.content.split(b"<table")[1]  # roles are not listed as teams
    r = admin_client_.post(reverse("identity:team_add"), {"name": "manager"})
    assert r.status_code == 422 and b"name of a role" in r.content
    r = admin_client_.post(reverse("identity:team_add"), {"name": "Legal EU"})
    team = Group.objects.get(name="Legal EU")
    assert r.status_code == 302 and r["Location"] == reverse("identity:team_detail", args=[team.pk])
    role_group = Group.objects.get(name=roles.MANAGER)
    assert admin_client_.get(reverse("identity:team_detail", args=[role_group.pk])).status_code == 404

    member = make_user(None, username="joiner")
    r = admin_client_.post(reverse("identity:team_member_add", args=[team.pk]), {"user": member.pk})
    assert r.status_code == 302 and member.groups.filter(pk=team.pk).exists()
    r = admin_client_.post(reverse("identity:team_member_add", args=[team.pk]), {"user": member.pk})
    assert r.status_code == 422 and b"already a member" in r.content
    r = admin_client_.post(
        reverse("identity:team_membership_add", args=[team.pk]), {"organization": world["org"].pk, "role": "wizard"}
    )
    assert r.status_code == 422 and b"Select a valid choice" in r.content
    r = admin_client_.post(
        reverse("identity:team_membership_add", args=[team.pk]),
        {"organization": world["org"].pk, "role": roles.LEGAL_REVIEWER},
    )
    assert r.status_code == 302
    m = Membership.objects.get(group=team)
    page = admin_client_.get(reverse("identity:team_detail", args=[team.pk])).content.decode()
    assert "joiner" in page and "legal reviewer" in page and "team.members" in page
    r = admin_client_.post(reverse("identity:team_membership_remove", args=[team.pk, m.pk]))
    assert r.status_code == 302 and not Membership.objects.filter(pk=m.pk).exists()
    r = admin_client_.post(reverse("identity:team_member_remove", args=[team.pk, member.pk]))
    assert r.status_code == 302 and not member.groups.filter(pk=team.pk).exists()
    assert AuditEvent.objects.filter(action=AuditAction.TEAM_CREATE, target_id=str(team.pk)).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.TEAM_MEMBERS, target_id=str(team.pk)).count() == 2


def test_list_query_count_does_not_grow_with_users(world, admin_client_, admin_user, make_user):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client_.get(reverse("identity:user_list")).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for i in range(20):
        u = make_user(roles.ARCHITECT, username=f"many{i}")
        accounts.add_membership(actor=admin_user, organization=world["org"], role=roles.MANAGER, user=u)
        accounts.add_team_member(actor=admin_user, team=world["team"], user=u)
    assert count() == few
