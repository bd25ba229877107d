"""Organization memberships: audited grants and revokes; a directory sync replaces only its own rows."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from core import roles
from core.models import AuditEvent
from identity import memberships
from identity.choices import MembershipSource
from identity.models import Membership
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_grant_is_audited_idempotent_and_needs_the_permission(admin_user, make_user):
    org = f.OrganizationFactory(slug="team-a")
    alice = make_user(username="alice")
    m = memberships.grant(actor=admin_user, organization=org, role=roles.LEGAL_REVIEWER, user=alice)
    again = memberships.grant(actor=admin_user, organization=org, role=roles.LEGAL_REVIEWER, user=alice)
    assert again.pk == m.pk and m.source == MembershipSource.MANUAL and m.granted_by == admin_user
    events = AuditEvent.objects.filter(action="membership.grant")
    assert events.count() == 1 and events.get().after == {
        "organization": "team-a",
        "user": "alice",
        "group": None,
        "role": roles.LEGAL_REVIEWER,
        "source": "manual",
    }
    with pytest.raises(PermissionDenied):
        memberships.grant(actor=make_user(roles.ARCHITECT), organization=org, role=roles.MANAGER, user=alice)


def test_administrator_is_not_an_organization_role_and_a_member_is_a_user_or_a_group(admin_user, make_user):
    org, alice, team = f.OrganizationFactory(), make_user(), Group.objects.create(name="ml-platform")
    with pytest.raises(ValidationError, match="not a role"):
        memberships.grant(actor=admin_user, organization=org, role=roles.ADMINISTRATOR, user=alice)
    with pytest.raises(ValidationError, match="user or for a group"):
        memberships.grant(actor=admin_user, organization=org, role=roles.MANAGER, user=alice, group=team)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(organization=org, role=roles.MANAGER)
    memberships.grant(actor=admin_user, organization=org, role=roles.MANAGER, group=team)
    alice.groups.add(team)
    assert [m.role for m in Membership.objects.for_user(alice)] == [roles.MANAGER]


def test_revoke_is_audited_with_the_before_state(admin_user, make_user):
    m = memberships.grant(
        actor=admin_user, organization=f.OrganizationFactory(), role=roles.ARCHITECT, user=make_user(username="bob")
    )
    memberships.revoke(actor=admin_user, membership=m, reason="left the team")
    assert not Membership.objects.exists()
    event = AuditEvent.objects.get(action="membership.revoke")
    assert event.before["user"] == "bob" and event.reason == "left the team"


def test_directory_sync_replaces_its_own_memberships_and_leaves_manual_ones(admin_user, make_user):
    a, b, c = (f.OrganizationFactory(slug=s) for s in ("a", "b", "c"))
    carol = make_user(username="carol")
    manual = memberships.grant(actor=admin_user, organization=c, role=roles.MANAGER, user=carol)
    memberships.sync_from_directory(
        user=carol, source=MembershipSource.OIDC, grants=[(a, roles.ARCHITECT), (b, roles.MANAGER)]
    )
    memberships.sync_from_directory(
        user=carol, source=MembershipSource.OIDC, grants=[(a, roles.ARCHITECT), (c, roles.LEGAL_REVIEWER)]
    )
    held = set(Membership.objects.filter(user=carol).values_list("organization__slug", "role", "source"))
    assert held == {
        ("a", roles.ARCHITECT, "oidc"),
        ("c", roles.LEGAL_REVIEWER, "oidc"),
        ("c", roles.MANAGER, "manual"),
    }
    assert Membership.objects.filter(pk=manual.pk).exists()
    assert AuditEvent.objects.filter(action="membership.revoke", actor=carol).count() == 1  # b manager
    assert AuditEvent.objects.filter(action="membership.grant", actor=carol).count() == 3
