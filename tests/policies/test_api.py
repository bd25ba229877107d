"""Policies API: malformed input gets a 400 (schemathesis found a 500 here)."""

import pytest
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("bad", ["null", "abc", 1.5e300, [1]])
def test_impact_refuses_a_malformed_policy_id(bad, client_for, architect):
    token = Token.objects.create(user=architect)
    response = client_for(architect).post(
        "/api/v1/policies/impact/",
        {"policy": bad},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 400, response.content
