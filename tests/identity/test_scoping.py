"""Permissions from memberships and the organization scope of reads and actions (identity.scoping,
identity.backends, core.permissions)."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from core import roles
from core.permissions import GLOBAL_ONLY, SHARED, Inherited, OwnedBy, RestrictedQuerySet, has_perm, require
from governance import notifications
from governance.models import NotificationPreference
from identity import memberships
from identity.models import CIPrincipal, CIToken
from inventory.models import Application, Organization
from policies.models import Policy, Violation, Waiver
from tests import factories as f
from tests.identity.scope_world import World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db) -> World:
    return build_world()


def fresh(user: Any) -> Any:
    """A new user object: permission caches live on the object (one per request)."""
    return get_user_model().objects.get(pk=user.pk)


def test_every_restricted_model_declares_its_scope():
    """A model without SCOPE would show nothing to membership roles (fail closed): declare it."""
    missing, bad = [], []
    for model in apps.get_models():
        if not isinstance(model._default_manager.all(), RestrictedQuerySet):
            continue
        scope = model.__dict__.get("SCOPE")
        if scope is None:
            missing.append(model._meta.label)
        elif scope not in (SHARED, GLOBAL_ONLY) and not (
            isinstance(scope, tuple) and scope and all(isinstance(r, str | Inherited | OwnedBy) for r in scope)
        ):
            bad.append(model._meta.label)
    assert not missing, f"RestrictedQuerySet models without a SCOPE: {missing}"
    assert not bad, f"SCOPE must be SHARED, GLOBAL_ONLY or a tuple of rules: {bad}"


def test_undeclared_model_fails_closed(world):
    from core.permissions import OrganizationScope, scope_filter

    class Undeclared:
        pass

    q = scope_filter(Undeclared, OrganizationScope(ids=frozenset({1})), "x.view_y")  # type: ignore[arg-type]
    assert Application.objects.filter(q).count() == 0


def test_membership_grants_the_role_permissions(world):
    user = fresh(world["a_legal"])
    assert user.has_perm("licenses.conclude_license")
    assert user.has_perm("policies.view_violation")
    assert not user.has_perm("policies.add_policy")  # an architect's, not a legal reviewer's
    assert not fresh(world["a_manager"]).has_perm("policies.request_waiver")
    nobody = f.UserFactory(username="nobody-at-all")
    assert not nobody.has_perm("policies.view_violation")


def test_inactive_user_holds_nothing_through_memberships(world):
    user = fresh(world["a_architect"])
    user.is_active = False
    user.save()
    assert not fresh(user).has_perm("inventory.view_application")


def test_team_membership_grants_to_every_member(world):
    team = world["team"]
    member = f.UserFactory(username="team-member")
    member.groups.add(team)
    memberships.grant(actor=world["admin"], organization=world["org_a1"], role=roles.MANAGER, group=team)
    member = fresh(member)
    assert member.has_perm("policies.view_violation")
    names = set(Application.objects.restrict(member).values_list("slug", flat=True))
    assert names == {"alpha-child-app"}  # the team's organization subtree only


def test_reads_follow_the_subtree(world):
    a = fresh(world["a_manager"])
    assert set(Organization.objects.restrict(a).values_list("slug", flat=True)) == {"alpha", "alpha-child"}
    assert set(Application.objects.restrict(a).values_list("slug", flat=True)) == {"alpha-app", "alpha-child-app"}
    assert set(Violation.objects.restrict(a)) == {world["v_a"], world["v_a_own"], world["v_a1"]}
    b = fresh(world["b_manager"])
    assert set(Application.objects.restrict(b).values_list("slug", flat=True)) == {"bravo-app"}
    glob = fresh(world["global_manager"])
    assert Application.objects.restrict(glob).count() == 3
    assert Violation.objects.restrict(glob).count() == 7  # the root context included


def test_a_child_members_read_inherited_policies_but_edit_only_their_own(world):
    child = f.UserFactory(username="child-architect")
    memberships.grant(actor=world["admin"], organization=world["org_a1"], role=roles.ARCHITECT, user=child)
    child = fresh(child)
    readable = set(Policy.objects.restrict(child).values_list("name", flat=True))
    assert readable == {"Root downloads policy", world["policy_a"].name}  # root + the parent's; not B's
    assert Policy.objects.restrict(child, "change").count() == 0
    with pytest.raises(PermissionDenied):
        require(child, "policies.change_policy", world["policy_a"])
    own = f.PolicyFactory(name="Child's own", organization=world["org_a1"])
    assert list(Policy.objects.restrict(child, "change")) == [own]
    assert has_perm(child, "policies.change_policy", own)


def test_global_role_plus_membership_stays_global(world):
    user = f.UserFactory(username="both", role=roles.MANAGER)
    memberships.grant(actor=world["admin"], organization=world["org_a"], role=roles.ARCHITECT, user=user)
    user = fresh(user)
    assert Application.objects.restrict(user).count() == 3  # manager (global) reads everything
    # …but architect actions only in A: the membership does not become global.
    assert Application.objects.restrict(user, "change").count() == 2
    assert not has_perm(user, "inventory.change_application", world["app_b"])


def test_mixed_memberships_do_not_combine_across_organizations(world):
    """Manager in B and architect in A: B is readable, not editable (no read-then-act escalation)."""
    user = f.UserFactory(username="mixed")
    memberships.grant(actor=world["admin"], organization=world["org_b"], role=roles.MANAGER, user=user)
    memberships.grant(actor=world["admin"], organization=world["org_a"], role=roles.ARCHITECT, user=user)
    user = fresh(user)
    assert Application.objects.restrict(user).count() == 3
    assert not has_perm(user, "inventory.change_application", world["app_b"])
    from django.test import Client

    client = Client()
    client.force_login(user)
    app_b = world["app_b"]
    response = client.post(
        reverse("inventory:application_edit", args=[app_b.pk]),
        {"name": "Taken over", "slug": app_b.slug, "organization": app_b.organization_id,
         "monthly_active_users": 0, "annual_revenue_band": app_b.annual_revenue_band},
    )  # fmt: skip
    assert response.status_code in (403, 422, 200)
    app_b.refresh_from_db()
    assert app_b.name != "Taken over"
    assert Waiver.objects.restrict(user, "policies.decide_legal_waiver").count() == 0


def test_scope_is_resolved_once_per_user_object(world, django_assert_num_queries):
    user = fresh(world["a_manager"])
    with django_assert_num_queries(5):  # user + group permissions, memberships, organization tree, rows
        list(Application.objects.restrict(user))
    with django_assert_num_queries(1):  # cached on the object: only the rows
        list(Application.objects.restrict(user))
        # other models and actions reuse the same resolution
    with django_assert_num_queries(2):
        list(Violation.objects.restrict(user))
        list(Organization.objects.restrict(user))


def test_list_pages_do_not_grow_queries_with_rows(world, client_for, django_assert_max_num_queries, settings):
    settings.MODELGATE_PAGE_CACHE = False  # what computing a page costs, not what reusing one saves
    user = world["a_manager"]
    client = client_for(user)
    url = reverse("inventory:application_list")
    with django_assert_max_num_queries(40) as few:
        assert client.get(url).status_code == 200
    for i in range(6):
        f.ApplicationFactory(organization=world["org_a1"], slug=f"more-{i}", name=f"More {i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200
    url = reverse("policies:violation_list")
    with django_assert_max_num_queries(60) as few:
        assert client.get(url).status_code == 200
    for app in Application.objects.filter(slug__startswith="more-"):
        f.ViolationFactory(policy=world["root_policy"], version=world["version"], application=app)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_a_read_token_of_a_membership_creator_keeps_both_scopes(world):
    """A CI token never reads more than its creator: the membership scope and the token's apply together."""
    creator = world["a_architect"]
    token = CIToken.objects.create(
        name="t", prefix="tokenab", secret_hash="0" * 64, capability="read", organization=world["org_a"],
        created_by=creator, expires_at=world["version"].imported_at.replace(year=2999),
    )  # fmt: skip
    principal = CIPrincipal.for_token(token)
    assert set(Application.objects.restrict(principal)) == {world["app_a"], world["app_a1"]}
    assert set(Violation.objects.restrict(principal)) == {world["v_a"], world["v_a_own"], world["v_a1"]}


def _subscribe(user: Any, *events: str) -> None:
    NotificationPreference.objects.update_or_create(user=user, defaults={"email_events": list(events)})


def test_notifications_reach_only_those_who_see_the_object(world):
    event = "waiver.request"
    for key in ("a_legal", "b_legal", "global_manager"):
        _subscribe(world[key], event)
    names = {u.username for u in notifications.subscribers(event, world["waiver_b"])}
    assert names == {"b-legal", "global-manager"}
    names = {u.username for u in notifications.subscribers(event, world["waiver_a"])}
    assert names == {"a-legal", "global-manager"}
    names = {u.username for u in notifications.subscribers(event, None)}
    assert names == {"global-manager"}  # unknown subject: global roles only


def test_email_of_b_event_is_not_sent_to_a(world, mailoutbox):
    for key in ("a_legal", "b_legal"):
        _subscribe(world[key], "waiver.request")
    payload = notifications.build_payload("waiver.request", target=world["waiver_b"], context={})
    assert notifications.email_event(payload) == 1
    assert [m.to for m in mailoutbox] == [[world["b_legal"].email]]


def test_daily_digest_goes_to_global_roles_only(world):
    recipients = {u.username for u in notifications.digest_recipients()}
    assert "global-manager" in recipients
    assert not recipients & {"a-manager", "b-manager", "a-architect"}


def test_audit_log_is_for_global_roles(world, client_for):
    response = client_for(world["a_manager"]).get(reverse("governance-api:auditevent-list"))
    assert response.status_code == 200 and response.json()["count"] == 0
    response = client_for(world["global_manager"]).get(reverse("governance-api:auditevent-list"))
    assert response.json()["count"] > 0


def test_policy_form_offers_only_own_organizations(world, client_for):
    page = client_for(world["a_architect"]).get(reverse("policies:policy_create")).content.decode()
    assert world["org_a"].name in page and world["org_a1"].name in page
    assert world["org_b"].name not in page and world["app_b"].name not in page


def test_application_form_keeps_an_outside_parent_by_name(world, client_for):
    """Editing A (top of the membership) keeps its parent above, shown by name, and saves unchanged."""
    top = f.OrganizationFactory(name="Holding", slug="holding")
    Organization.objects.filter(pk=world["org_a"].pk).update(parent=top)
    client = client_for(world["a_architect"])
    url = reverse("inventory:organization_edit", args=[world["org_a"].pk])
    assert "Holding" in client.get(url).content.decode()
    response = client.post(url, {"name": "Alpha renamed", "slug": "alpha", "parent": top.pk})
    assert response.status_code == 302
    assert Organization.objects.get(pk=world["org_a"].pk).name == "Alpha renamed"
