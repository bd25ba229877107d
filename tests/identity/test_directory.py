"""Issue 12: the one login path of OIDC and LDAP (identity.directory.login_from_directory), directly."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from core.models import AuditAction, AuditEvent
from core.roles import sync_roles
from identity import memberships
from identity.choices import MembershipSource
from identity.directory import DirectoryIdentity, LoginRefused, login_from_directory, parse_group_map
from identity.models import DirectoryAccount, Membership
from tests import factories as f

User = get_user_model()
MAP = parse_group_map("admins=administrator;legal=legal reviewer@acme;ghost=architect@no-such-org")


def _who(groups: tuple[str, ...] = (), **kw: str) -> DirectoryIdentity:
    fields = {"subject": "sub-1", "username": "zoe", "email": "zoe@corp.example", **kw}
    return DirectoryIdentity(source=MembershipSource.OIDC, issuer="https://idp.example", groups=groups, **fields)


def _login(identity: DirectoryIdentity, allow_unmapped: bool = False):
    return login_from_directory(identity, group_map=MAP, allow_unmapped=allow_unmapped, provider="Corp IdP")


@pytest.fixture(autouse=True)
def _roles(db):
    sync_roles()
    f.OrganizationFactory(slug="acme")


def test_a_refused_first_sign_in_leaves_nothing_behind():
    events = AuditEvent.objects.count()
    with pytest.raises(LoginRefused, match="Corp IdP signed you in, but none of your groups"):
        _login(_who(("staff", "ghost")))  # "ghost" names an organization that does not exist: grants nothing
    assert not User.objects.exists() and not DirectoryAccount.objects.exists()
    assert AuditEvent.objects.count() == events


def test_the_subject_links_later_sign_ins_whatever_the_name_becomes():
    first = _login(_who(("legal",)))
    again = _login(_who(("legal",), username="zoe.renamed", email="zoe.new@corp.example"))
    assert again.pk == first.pk and again.email == "zoe.new@corp.example" and again.username == "zoe"
    other = _login(_who(("legal",), subject="sub-2"))
    assert other.pk != first.pk and other.username == "zoe-2"


def test_a_deactivated_user_is_refused_and_not_reactivated():
    user = _login(_who(("admins",)))
    user.is_active = False
    user.save()
    with pytest.raises(LoginRefused, match="deactivated"):
        _login(_who(("admins",)))
    user.refresh_from_db()
    assert not user.is_active


def test_manual_memberships_and_roles_survive_a_sync():
    user = _login(_who(("legal",)))
    admin = f.UserFactory(username="root-admin", role="administrator")
    acme = Membership.objects.get(user=user).organization
    memberships.grant(actor=admin, organization=acme, role="manager", user=user)
    user.groups.add(Group.objects.get(name="architect"))

    _login(_who(()), allow_unmapped=True)

    assert set(Membership.objects.filter(user=user).values_list("role", "source")) == {("manager", "manual")}
    assert set(user.groups.values_list("name", flat=True)) == {"architect"}


def test_a_role_held_before_the_directory_granted_it_stays_the_apps():
    user = f.UserFactory(username="yan", role="administrator")
    user.set_unusable_password()
    user.email = "yan@corp.example"
    user.save()  # an invited account: linked by email at the first sign-in
    linked = _login(_who(("admins",), subject="sub-yan", username="yan", email="yan@corp.example"))
    assert linked.pk == user.pk
    assert DirectoryAccount.objects.get(user=user).granted_roles == []  # already held: not the directory's
    _login(_who((), subject="sub-yan", username="yan", email="yan@corp.example"), allow_unmapped=True)
    assert set(user.groups.values_list("name", flat=True)) == {"administrator"}


def test_the_sign_in_event_records_groups_roles_and_memberships():
    user = _login(_who(("admins", "legal", "other")))
    event = AuditEvent.objects.get(action=AuditAction.USER_SSO_LOGIN)
    assert event.actor == user and event.target_id == str(user.pk)
    assert event.after["groups"] == ["admins", "legal", "other"]
    assert event.after["roles"] == ["administrator"] and event.after["memberships"] == ["legal reviewer@acme"]
    assert event.after["source"] == "oidc"


def test_a_concurrent_first_sign_in_finds_the_account_the_other_one_made(monkeypatch):
    """The race: both requests saw no account; the loser's insert fails, it retries and finds the winner's."""
    from identity import directory

    winner = _login(_who(("admins",)))
    real_select_related = DirectoryAccount.objects.select_related
    calls = {"n": 0}

    def first_lookup_misses(*args, **kwargs):
        calls["n"] += 1
        qs = real_select_related(*args, **kwargs)
        return qs.none() if calls["n"] == 1 else qs

    monkeypatch.setattr(directory.DirectoryAccount.objects, "select_related", first_lookup_misses)
    again = _login(_who(("admins",)))

    assert again.pk == winner.pk and calls["n"] >= 2
    assert DirectoryAccount.objects.count() == 1 and User.objects.filter(username__startswith="zoe").count() == 1


def test_what_the_directory_sends_is_bounded_before_it_is_stored():
    """Untrusted claims: an overlong subject is refused, a bad or overlong email dropped, groups capped."""
    with pytest.raises(LoginRefused, match="identifier Modelgate cannot store"):
        _login(_who(("admins",), subject="s" * 256))
    assert not User.objects.exists()
    many = ("admins", *(f"g{i}-" + "x" * 600 for i in range(1500)))
    user = _login(_who(many, email="not an address"))
    assert user.email == ""
    assert user.groups.filter(name="administrator").exists()  # mapped though it is one group among 1,501
    account = DirectoryAccount.objects.get(user=user)
    assert len(account.groups) == 1000 and max(len(g) for g in account.groups) == 512
    user = _login(_who(("admins",), email="z" * 250 + "@corp.example"))
    assert user.email == ""
