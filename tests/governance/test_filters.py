"""Id filters answer nonsense with a 400, never a 500 (found by schemathesis)."""

import pytest
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["1.33e27", "-1.1e283", "1.5", "0", "abc", str(2**70)])
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/scans/?version={}",
        "/api/v1/findings/?scan_run={}",
        "/api/v1/versions/?application={}",
        "/api/v1/license-analyses/?version={}",
        "/api/v1/license-conclusions/?application={}",
        "/api/v1/violations/?version={}",
    ],
)
def test_id_filters_reject_out_of_range_values(client, admin_user, url, value):
    token = Token.objects.create(user=admin_user)
    response = client.get(url.format(value), HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 400, response.content


def test_id_filters_accept_ids(client, admin_user):
    token = Token.objects.create(user=admin_user)
    assert client.get("/api/v1/scans/?version=12", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200


def test_navigation_marks_only_the_current_section(client_for, admin_user):
    body = client_for(admin_user).get("/policies/violations/").content.decode()
    nav = body.split('class="mainnav"', 1)[1].split("</nav>", 1)[0]
    assert nav.count('aria-current="page"') == 1
    assert 'href="/policies/violations/" aria-current="page"' in nav
