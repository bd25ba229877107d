"""Services of user and role management: guards, deactivation, invitations, teams, audit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core import roles
from core.models import AuditAction, AuditEvent
from identity import accounts, memberships
from identity.choices import MembershipSource
from identity.models import Membership
from tests import factories as f

BASE = "http://testserver"


def events(action: str, target=None):
    qs = AuditEvent.objects.filter(action=action)
    if target is not None:
        qs = qs.filter(target_id=str(target.pk))
    return list(qs)


def log_in(client: Client, username: str, password: str) -> bool:
    """Through the login page (django-axes needs the request)."""
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302 and "_auth_user_id" in client.session


# --- creation and invitation -------------------------------------------------------------------------


def test_create_with_password_roles_and_membership_is_audited(admin_user):
    org = f.OrganizationFactory(name="Acme")
    user = accounts.create_user(
        actor=admin_user,
        data=accounts.NewUser(
            username="dana",
            first_name="Dana",
            email="dana@example.com",
            password="a-long-enough-passphrase",
            roles=(roles.MANAGER,),
            organization=org,
            organization_role=roles.LEGAL_REVIEWER,
        ),
        base_url=BASE,
    )
    assert user.check_password("a-long-enough-passphrase")
    assert accounts.global_roles(user) == [roles.MANAGER]
    (m,) = Membership.objects.filter(user=user)
    assert (m.organization, m.role, m.source) == (org, roles.LEGAL_REVIEWER, MembershipSource.MANUAL)
    (created,) = events(AuditAction.USER_CREATE, user)
    assert created.actor == admin_user
    assert created.after["roles"] == [roles.MANAGER] and created.after["password"] == "set"
    assert "a-long-enough-passphrase" not in str(created.after)
    assert len(events(AuditAction.MEMBERSHIP_GRANT)) == 1
    assert mail.outbox == []


def test_weak_password_is_refused_by_the_validators_and_nothing_is_created(admin_user):
    with pytest.raises(ValidationError) as exc:
        accounts.create_user(actor=admin_user, data=accounts.NewUser(username="weak", password="short"), base_url=BASE)
    assert "password1" in exc.value.message_dict
    assert "at least 12 characters" in " ".join(exc.value.message_dict["password1"])
    assert not get_user_model().objects.filter(username="weak").exists()
    assert events(AuditAction.USER_CREATE) == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (accounts.NewUser(username="admin-user", password="a-long-enough-passphrase"), "username"),
        (accounts.NewUser(username="ADMIN-USER", password="a-long-enough-passphrase"), "username"),
        (accounts.NewUser(username="bad name!", password="a-long-enough-passphrase"), "username"),
        (accounts.NewUser(username="noemail"), "email"),
        (accounts.NewUser(username="x1", password="a-long-enough-passphrase", roles=("wizard",)), "roles"),
    ],
)
def test_invalid_new_users_are_refused_per_field(admin_user, data, field):
    before = get_user_model().objects.count()
    with pytest.raises(ValidationError) as exc:
        accounts.create_user(actor=admin_user, data=data, base_url=BASE)
    assert field in exc.value.message_dict
    assert get_user_model().objects.count() == before


def test_half_a_membership_is_refused(admin_user):
    org = f.OrganizationFactory()
    data = accounts.NewUser(username="half", password="a-long-enough-passphrase", organization=org)
    with pytest.raises(ValidationError) as exc:
        accounts.create_user(actor=admin_user, data=data, base_url=BASE)
    assert "organization_role" in exc.value.message_dict


def test_only_administrators_create_users(architect):
    with pytest.raises(PermissionDenied):
        accounts.create_user(
            actor=architect, data=accounts.NewUser(username="x", password="a-long-enough-passphrase"), base_url=BASE
        )


def test_invitation_link_sets_a_password_once_and_the_user_logs_in(admin_user, client):
    user = accounts.create_user(
        actor=admin_user,
        data=accounts.NewUser(username="invitee", email="invitee@example.com", roles=(roles.ARCHITECT,)),
        base_url=BASE,
    )
    assert not user.has_usable_password()
    assert accounts.source_of(user) == "invited"
    (message,) = mail.outbox
    assert message.to == ["invitee@example.com"] and "invitee" in message.body
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", message.body)
    assert link, message.body
    assert len(events(AuditAction.USER_INVITE, user)) == 1

    # Django's confirm view: the token URL redirects to a session-held URL with the form.
    response = client.get(link.group(1), follow=True)
    assert response.status_code == 200 and b"Choose a new password" in response.content
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "invited-and-now-set", "new_password2": "invited-and-now-set"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("invited-and-now-set")
    assert accounts.source_of(user) == "local"

    fresh = Client()
    assert log_in(fresh, "invitee", "invited-and-now-set")
    assert fresh.get("/policies/").status_code == 200  # the architect role's pages

    # One time: the same link no longer works.
    again = Client().get(link.group(1), follow=True)
    assert b"Link no longer valid" in again.content


def test_invitation_that_cannot_be_sent_creates_nothing(admin_user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens there
    with pytest.raises(ValidationError) as exc:
        accounts.create_user(
            actor=admin_user, data=accounts.NewUser(username="unsent", email="u@example.com"), base_url=BASE
        )
    assert "could not be sent" in " ".join(exc.value.messages)
    assert not get_user_model().objects.filter(username="unsent").exists()
    assert events(AuditAction.USER_CREATE) == [] and events(AuditAction.USER_INVITE) == []


# --- roles: self-demotion and the last administrator -------------------------------------------------


def test_administrator_cannot_remove_their_own_administrator_role(admin_user, make_user):
    make_user(roles.ADMINISTRATOR, username="other-admin")
    with pytest.raises(ValidationError, match="your own administrator role"):
        accounts.set_roles(actor=admin_user, user=admin_user, roles=[roles.MANAGER])
    assert accounts.global_roles(admin_user) == [roles.ADMINISTRATOR]
    assert events(AuditAction.USER_ROLES) == []


def test_the_last_active_administrator_keeps_the_role(admin_user, make_user):
    other = make_user(roles.ADMINISTRATOR, username="other-admin")
    accounts.deactivate_user(actor=other, user=admin_user)  # admin_user inactive: `other` is the last active one
    boss = make_user(None, username="boss", is_superuser=False)
    boss.user_permissions.add(*_perms("auth.change_user"))
    with pytest.raises(ValidationError, match="last active administrator"):
        accounts.set_roles(actor=boss, user=other, roles=[])
    with pytest.raises(ValidationError, match="last active administrator"):
        accounts.deactivate_user(actor=boss, user=other)
    other.refresh_from_db()
    assert other.is_active and accounts.global_roles(other) == [roles.ADMINISTRATOR]


def test_an_administrator_may_demote_another_while_one_remains(admin_user, make_user):
    other = make_user(roles.ADMINISTRATOR, username="other-admin")
    other = accounts.set_roles(actor=admin_user, user=other, roles=[roles.ARCHITECT], reason="moved team")
    assert accounts.global_roles(other) == [roles.ARCHITECT]
    assert get_user_model().objects.get(pk=other.pk).is_staff is False  # /admin/ follows the role
    (event,) = events(AuditAction.USER_ROLES, other)
    assert event.before["roles"] == [roles.ADMINISTRATOR] and event.after["roles"] == [roles.ARCHITECT]
    assert event.reason == "moved team"


def test_set_roles_keeps_teams_and_refuses_unknown_roles(admin_user, make_user):
    user = make_user(roles.MANAGER, username="m")
    team = accounts.create_team(actor=admin_user, name="Platform")
    accounts.add_team_member(actor=admin_user, team=team, user=user)
    accounts.set_roles(actor=admin_user, user=user, roles=[roles.LEGAL_REVIEWER])
    assert set(get_user_model().objects.get(pk=user.pk).groups.values_list("name", flat=True)) == {
        "Platform",
        roles.LEGAL_REVIEWER,
    }
    with pytest.raises(ValidationError):
        accounts.set_roles(actor=admin_user, user=user, roles=["root"])


def _perms(*names):
    from django.contrib.auth.models import Permission

    out = []
    for name in names:
        app, codename = name.split(".")
        out.append(Permission.objects.get(content_type__app_label=app, codename=codename))
    return out


# --- deactivation ------------------------------------------------------------------------------------


def test_deactivation_kills_sessions_ci_tokens_and_api_keys(admin_user, make_user, make_token):
    victim = make_user(roles.ARCHITECT, username="leaver")
    app = f.ApplicationFactory()
    token, raw = make_token(victim, capability="read", application=app)
    key = Token.objects.create(user=victim)
    browser = Client()
    browser.force_login(victim)
    assert browser.get("/policies/").status_code == 200
    other_session = Client()
    other_session.force_login(admin_user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/applications/").status_code == 200
    legacy = APIClient()
    legacy.credentials(HTTP_AUTHORIZATION=f"Token {key.key}")
    assert legacy.get("/api/v1/applications/").status_code == 200

    accounts.deactivate_user(actor=admin_user, user=victim, reason="left the company")

    victim.refresh_from_db()
    assert not victim.is_active
    assert browser.get("/policies/").status_code == 302  # back to the login page
    assert Session.objects.count() == 1  # the administrator's session survives
    assert other_session.get("/identity/users/").status_code == 200
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == admin_user
    assert api.get("/api/v1/applications/").status_code == 401
    assert not Token.objects.filter(user=victim).exists()
    assert legacy.get("/api/v1/applications/").status_code == 401
    (event,) = events(AuditAction.USER_DEACTIVATE, victim)
    assert event.reason == "left the company"
    assert event.before["is_active"] is True and event.after["is_active"] is False
    assert event.extra == {"ci_tokens_revoked": [token.prefix], "api_keys_deleted": 1, "sessions_ended": 1}
    assert len(events(AuditAction.CITOKEN_REVOKE, token)) == 1
    assert not log_in(Client(), "leaver", "correct-horse-battery")


def test_reactivation_restores_sign_in_but_not_tokens(admin_user, make_user, make_token):
    user = make_user(roles.ARCHITECT, username="back")
    token, _ = make_token(user, application=f.ApplicationFactory())
    accounts.deactivate_user(actor=admin_user, user=user)
    with pytest.raises(ValidationError, match="already deactivated"):
        accounts.deactivate_user(actor=admin_user, user=user)
    accounts.activate_user(actor=admin_user, user=user, reason="returned")
    assert log_in(Client(), "back", "correct-horse-battery")
    token.refresh_from_db()
    assert token.state == "revoked"
    (event,) = events(AuditAction.USER_ACTIVATE, user)
    assert event.before["is_active"] is False and event.after["is_active"] is True


def test_administrator_cannot_deactivate_themselves(admin_user, make_user):
    make_user(roles.ADMINISTRATOR, username="other-admin")
    with pytest.raises(ValidationError, match="yourself"):
        accounts.deactivate_user(actor=admin_user, user=admin_user)
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_deactivated_administrator_may_not_act(admin_user, make_user):
    other = make_user(roles.ADMINISTRATOR, username="other-admin")
    accounts.deactivate_user(actor=admin_user, user=other)
    other.refresh_from_db()
    with pytest.raises(PermissionDenied):
        accounts.set_roles(actor=other, user=admin_user, roles=[])


# --- profile, memberships, teams ---------------------------------------------------------------------


def test_update_user_records_before_and_after(admin_user, make_user):
    user = make_user(None, username="renamed", email="old@example.com")
    accounts.update_user(actor=admin_user, user=user, first_name="Re", last_name="Named", email="new@example.com")
    (event,) = events(AuditAction.USER_UPDATE, user)
    assert event.before["email"] == "old@example.com" and event.after["email"] == "new@example.com"
    assert event.after["first_name"] == "Re"
    accounts.update_user(actor=admin_user, user=user, first_name="Re", last_name="Named", email="new@example.com")
    assert len(events(AuditAction.USER_UPDATE, user)) == 1  # no change, no event


def test_directory_memberships_are_not_removed_by_hand(admin_user, make_user):
    user = make_user(None, username="sso-user")
    org = f.OrganizationFactory()
    (m,) = memberships.sync_from_directory(user=user, source=MembershipSource.OIDC, grants=[(org, roles.MANAGER)])
    with pytest.raises(ValidationError, match="re-synced"):
        accounts.remove_membership(actor=admin_user, membership=m)
    assert Membership.objects.filter(pk=m.pk).exists()
    manual = accounts.add_membership(actor=admin_user, organization=org, role=roles.ARCHITECT, user=user)
    with pytest.raises(ValidationError, match="Already"):
        accounts.add_membership(actor=admin_user, organization=org, role=roles.ARCHITECT, user=user)
    accounts.remove_membership(actor=admin_user, membership=manual, reason="wrong org")
    assert not Membership.objects.filter(pk=manual.pk).exists()
    (revoked,) = events(AuditAction.MEMBERSHIP_REVOKE)
    assert revoked.reason == "wrong org" and revoked.before["role"] == roles.ARCHITECT


def test_source_of_names_the_directory(admin_user, make_user):
    user = make_user(None, username="ldap-user")
    user.set_unusable_password()
    user.save()
    assert accounts.source_of(accounts.users().get(pk=user.pk)) == "invited"
    memberships.sync_from_directory(
        user=user, source=MembershipSource.LDAP, grants=[(f.OrganizationFactory(), roles.MANAGER)]
    )
    assert accounts.source_of(accounts.users().get(pk=user.pk)) == "ldap"


def test_teams_are_groups_that_are_not_roles(admin_user, make_user):
    with pytest.raises(ValidationError):
        accounts.create_team(actor=admin_user, name="Administrator")
    team = accounts.create_team(actor=admin_user, name="ML platform")
    with pytest.raises(ValidationError):
        accounts.create_team(actor=admin_user, name="ml PLATFORM")
    member = make_user(None, username="member")
    accounts.add_team_member(actor=admin_user, team=team, user=member)
    with pytest.raises(ValidationError):
        accounts.add_team_member(actor=admin_user, team=team, user=member)
    org = f.OrganizationFactory()
    accounts.add_membership(actor=admin_user, organization=org, role=roles.SECURITY_REVIEWER, team=team)
    assert Membership.objects.for_user(member).get().role == roles.SECURITY_REVIEWER
    with pytest.raises(ValidationError):
        accounts.add_team_member(actor=admin_user, team=Group.objects.get(name=roles.MANAGER), user=member)
    accounts.remove_team_member(actor=admin_user, team=team, user=member)
    assert not Membership.objects.for_user(member).exists()
    assert list(accounts.teams()) == [team]
    assert len(events(AuditAction.TEAM_CREATE, team)) == 1
    members = sorted(events(AuditAction.TEAM_MEMBERS, team), key=lambda e: e.pk)
    assert [e.after["members"] for e in members] == [["member"], []]


def test_invite_again_needs_an_email_and_an_active_user(admin_user, make_user):
    user = make_user(None, username="noaddr", email="")
    with pytest.raises(ValidationError, match="no email"):
        accounts.invite_user(actor=admin_user, user=user, base_url=BASE)
    user.email = "addr@example.com"
    user.save()
    accounts.invite_user(actor=admin_user, user=user, base_url=BASE)
    assert len(mail.outbox) == 1
    assert timezone.now() - events(AuditAction.USER_INVITE, user)[0].created_at < timedelta(minutes=1)
