"""Fixtures of the UI tests: a violation on a version (no default pack), HTMX request headers."""

from __future__ import annotations

import pytest

from policies import services
from policies.models import Policy, Violation, WaiverReason
from tests.policies.conftest import make_policy, make_version

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def violation(db) -> Violation:
    Policy.objects.all().delete()
    WaiverReason.objects.get_or_create(name="Risk accepted by the business owner")
    make_policy()
    make_version(downloads=1)
    services.evaluate_versions()
    return Violation.objects.select_related("version", "policy").get()
