"""Issue 11, item 4: the POST `next` field only leads back into the site (no open redirect)."""

from __future__ import annotations

import pytest

from inventory.models import ApplicationModel
from tests import factories as f
from tests.policies.conftest import make_policy

pytestmark = pytest.mark.django_db

HOSTILE = [
    "https://evil.example/phish",
    "//evil.example/phish",
    "/\\evil.example/phish",
    "\\\\evil.example",
    "javascript:alert(1)",
    "http://testserver.evil.example/",
    "https:///evil.example",
]


@pytest.mark.parametrize("next_url", HOSTILE)
def test_policy_toggle_ignores_an_offsite_next(client_for, architect, next_url):
    policy = make_policy()
    response = client_for(architect).post(f"/policies/{policy.pk}/toggle/", {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == policy.get_absolute_url()


@pytest.mark.parametrize("next_url", HOSTILE[:3])
def test_bulk_waive_ignores_an_offsite_next(client_for, architect, next_url):
    response = client_for(architect).post("/policies/violations/bulk-waive/", {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == "/policies/violations/"


@pytest.mark.parametrize("next_url", HOSTILE[:3])
def test_usage_remove_ignores_an_offsite_next(client_for, architect, next_url):
    version = f.ModelVersionFactory()
    usage = ApplicationModel.objects.create(application=f.ApplicationFactory(), version=version)
    response = client_for(architect).post(f"/inventory/usages/{usage.pk}/delete/", {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == version.get_absolute_url()


def test_a_local_next_is_still_followed(client_for, architect):
    policy = make_policy()
    response = client_for(architect).post(f"/policies/{policy.pk}/toggle/", {"next": "/policies/?enabled=1"})
    assert response["Location"] == "/policies/?enabled=1"
    response = client_for(architect).post(
        f"/policies/{policy.pk}/toggle/", {"next": "http://testserver/policies/violations/"}
    )
    assert response["Location"] == "http://testserver/policies/violations/"
