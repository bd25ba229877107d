"""Issue 11, item 4: a waiver request names a violation and a policy/version/model that belong together."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from policies.models import Violation, Waiver, WaiverReason
from tests import factories as f
from tests.policies.conftest import make_policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(legal):
    reason = WaiverReason.objects.get_or_create(name="Risk accepted")[0]
    low = make_policy("Low risk", threat_level=2)
    other = make_policy("Other policy", threat_level=2, fact="model.likes")
    version = f.ModelVersionFactory()
    violation = Violation.objects.create(policy=low, version=version, state="open", matched={})
    client = APIClient()
    client.force_authenticate(legal)
    expires = (timezone.now() + timedelta(days=5)).date().isoformat()
    base = {"violation": violation.pk, "expires_on": expires, "reason": reason.name, "comment": "ok"}
    return client, base, violation, other


def test_violation_of_another_policy_is_refused(setup):
    client, base, _violation, other = setup
    response = client.post("/api/v1/waivers/", {**base, "policy": other.pk}, format="json")
    assert response.status_code == 400, response.content
    assert "another policy" in str(response.json())
    assert not Waiver.objects.exists()


def test_violation_about_another_version_is_refused(setup):
    client, base, _violation, _other = setup
    stranger = f.ModelVersionFactory()
    response = client.post("/api/v1/waivers/", {**base, "version": stranger.pk}, format="json")
    assert response.status_code == 400 and "another version" in str(response.json())
    response = client.post("/api/v1/waivers/", {**base, "scope": "model", "model": stranger.model.pk}, format="json")
    assert response.status_code == 400 and "another model" in str(response.json())
    assert not Waiver.objects.exists()


def test_a_consistent_request_is_accepted(setup):
    client, base, violation, _other = setup
    response = client.post("/api/v1/waivers/", {**base, "policy": violation.policy.pk}, format="json")
    assert response.status_code == 201, response.content
    waiver = Waiver.objects.get()
    assert waiver.policy == violation.policy and waiver.version == violation.version
    assert waiver.source_violation == violation
