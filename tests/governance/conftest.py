"""Builders of the governance tests: a small world of organizations, applications and violations."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from governance.overview import refresh_rollups
from inventory.models import ApplicationModel
from policies.models import Policy, Violation, Waiver
from tests import factories as f


@pytest.fixture(autouse=True)
def _no_default_pack(db):
    """The default policy pack is loaded at first migrate; these tests build their own policies."""
    Policy.objects.all().delete()


def make_policy(name: str, threat_level: int, category: str = "security", **kwargs: Any) -> Policy:
    """A policy without constraints (these tests build violations themselves) failing at release."""
    return f.PolicyFactory(name=name, threat_level=threat_level, category=category, conditions=[], **kwargs)


def make_waiver(policy: Policy, version: Any, *, days: int = 5, state: str = "approved", **kwargs: Any) -> Waiver:
    """A waiver of `version` expiring `days` × 24 hours from now (not at the end of a day)."""
    return f.WaiverFactory(
        policy=policy, version=version, state=state, expires_at=timezone.now() + timedelta(days=days), **kwargs
    )


_worlds = itertools.count()


def build_world(size: int = 1) -> dict[str, Any]:
    """`size` × (two organizations, an application each, three versions, a handful of violations)."""
    now = timezone.now()
    tag = next(_worlds)
    suffix = f" {tag}" if tag else ""
    policies = [
        make_policy(f"Critical pickle{suffix}", 9, "security"),
        make_policy(f"Non-commercial{suffix}", 5, "legal"),
        make_policy(f"Few downloads{suffix}", 2, "quality"),
    ]
    parent = f.OrganizationFactory(name=f"Acme{suffix}")
    world: dict[str, Any] = {"policies": policies, "parent": parent, "apps": [], "versions": [], "violations": []}
    for i in range(size):
        child = f.OrganizationFactory(name=f"Team {i}{suffix}", parent=parent)
        app = f.ApplicationFactory(organization=child, name=f"Chatbot {i}{suffix}")
        world["apps"].append(app)
        for j in range(3):
            version = f.ModelVersionFactory(
                model=f.ModelFactory(repo_id=f"acme/m{i}-{j}{suffix.strip()}"),
                review_status="pending" if j == 0 else "approved",
            )
            ApplicationModel.objects.create(application=app, version=version)
            world["versions"].append(version)
            for p in policies:
                world["violations"].append(
                    Violation.objects.create(
                        policy=p, version=version, application=app, state="open", matched={"facts": {}}
                    )
                )
            world["violations"].append(
                Violation.objects.create(policy=policies[0], version=version, state="open", matched={})
            )
        resolved = Violation.objects.create(
            policy=policies[2],
            version=world["versions"][-1],
            application=None,
            state="resolved",
            opened_at=now - timedelta(hours=10),
            resolved_at=now,
            matched={},
        )
        world["violations"].append(resolved)
        make_waiver(policies[1], world["versions"][-1], application=app, owner="application")
    refresh_rollups()
    return world


@pytest.fixture
def world(db) -> dict[str, Any]:
    global _worlds
    _worlds = itertools.count()
    return build_world(1)
