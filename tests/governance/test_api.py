from __future__ import annotations

import csv
import io

import pytest
from rest_framework.test import APIClient

from governance import bom
from governance.models import Webhook
from inventory.models import ApplicationModel
from tests import factories as f


@pytest.fixture
def api_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


def _csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_overview_figures(world, api_for, manager, nobody):
    data = api_for(manager).get("/api/v1/overview/").json()
    # Counted per problem (version × policy): the root and the application violation of a pair count once.
    assert data["total_risk"] == 48 and data["open"] == 9
    assert [b["band"] for b in data["by_band"]] == ["critical", "severe", "moderate", "low", "none"]
    app = world["apps"][0]
    assert api_for(manager).get(f"/api/v1/overview/?application={app.pk}").json()["total_risk"] == 48
    assert api_for(nobody).get("/api/v1/overview/").status_code == 403
    assert APIClient().get("/api/v1/overview/").status_code in (401, 403)
    assert api_for(manager).post("/api/v1/overview/", {}).status_code in (403, 405)


def test_boms(world, api_for, manager, nobody):
    version, app = world["versions"][0], world["apps"][0]
    data = api_for(manager).get(f"/api/v1/bom/versions/{version.pk}/").json()
    assert bom.validate(data) == []
    app_bom = api_for(manager).get(f"/api/v1/bom/applications/{app.pk}/").json()
    assert bom.validate(app_bom) == []
    assert len([c for c in app_bom["components"] if c["type"] == "machine-learning-model"]) == 3
    assert api_for(manager).get("/api/v1/bom/versions/999999/").status_code == 404
    assert api_for(nobody).get(f"/api/v1/bom/versions/{version.pk}/").status_code == 403


def test_bom_pages_download(world, client_for, manager):
    version = world["versions"][0]
    response = client_for(manager).get(f"/bom/versions/{version.pk}.cdx.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.cyclonedx+json"
    assert "attachment" in response["Content-Disposition"]


def test_csv_exports_use_the_list_filters(world, api_for, client_for, manager, nobody):
    rows = _csv(api_for(manager).get("/api/v1/exports/violations.csv"))
    assert len(rows) == 12 and rows[0]["band"] in {"critical", "severe", "moderate"}
    assert len(_csv(api_for(manager).get("/api/v1/exports/violations.csv?state=all"))) == 13
    assert {r["band"] for r in _csv(api_for(manager).get("/api/v1/exports/violations.csv?band=critical"))} == {
        "critical"
    }
    page_rows = _csv(client_for(manager).get("/exports/violations.csv?category=legal"))
    assert len(page_rows) == 3 and page_rows[0]["url"].endswith(f"/policies/violations/{page_rows[0]['id']}/")
    waivers = _csv(api_for(manager).get("/api/v1/exports/waivers.csv?tab=all"))
    assert len(waivers) == 1 and waivers[0]["reason"] == "Risk accepted"
    assert api_for(nobody).get("/api/v1/exports/violations.csv").status_code == 403
    assert client_for(nobody).get("/exports/waivers.csv").status_code == 403


def test_csv_cells_cannot_be_formulas(db, api_for, admin_user):
    from policies.models import Violation
    from tests.governance.conftest import make_policy

    policy = make_policy('=HYPERLINK("http://evil")', 5)
    Violation.objects.create(policy=policy, version=f.ModelVersionFactory(), state="open", matched={})
    (row,) = _csv(api_for(admin_user).get("/api/v1/exports/violations.csv"))
    assert row["policy"].startswith("'=")


def test_notification_preferences_api(db, api_for, manager, nobody):
    client = api_for(manager)
    data = client.get("/api/v1/notifications/preferences/").json()
    assert data["daily_digest"] is True and data["email_events"] == []
    assert "waiver.request" in data["available_events"]
    put = client.put(
        "/api/v1/notifications/preferences/", {"email_events": ["scan.failed"], "daily_digest": False}, format="json"
    )
    assert put.status_code == 200 and put.json()["email_events"] == ["scan.failed"]
    bad = client.put(
        "/api/v1/notifications/preferences/", {"email_events": ["nope"], "daily_digest": True}, format="json"
    )
    assert bad.status_code == 400
    assert api_for(nobody).get("/api/v1/notifications/preferences/").status_code == 403


def test_webhooks_api_is_for_administrators(
    db, api_for, admin_user, manager, django_capture_on_commit_callbacks, settings
):
    settings.MODELGATE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # internal receivers only through the allowlist
    created = api_for(admin_user).post(
        "/api/v1/webhooks/",
        {"name": "CI", "url": "http://127.0.0.1:9/hook", "events": ["scan.failed"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert len(created.json()["secret"]) == 64
    hook = Webhook.objects.get()
    listed = api_for(admin_user).get("/api/v1/webhooks/").json()
    assert "secret" not in listed["results"][0]
    assert api_for(manager).get("/api/v1/webhooks/").status_code == 403
    assert api_for(manager).post("/api/v1/webhooks/", {"name": "x", "url": "http://x"}).status_code == 403
    bad = api_for(admin_user).post("/api/v1/webhooks/", {"name": "x", "url": "ftp://x/y"}, format="json")
    assert bad.status_code == 400
    from governance import notifications

    notifications.BACKOFF_BASE, saved = 0, notifications.BACKOFF_BASE
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ping = api_for(admin_user).post(f"/api/v1/webhooks/{hook.pk}/ping/")
    finally:
        notifications.BACKOFF_BASE = saved
    assert ping.status_code == 202
    deliveries = api_for(admin_user).get(f"/api/v1/webhooks/{hook.pk}/deliveries/").json()["results"]
    assert deliveries[0]["event"] == "ping" and deliveries[0]["state"] == "failed"  # nothing listens on port 9
    assert api_for(admin_user).get("/api/v1/webhook-deliveries/").json()["count"] == 1


def test_snapshots_api(world, api_for, manager):
    from governance.overview import take_snapshot

    take_snapshot()
    data = api_for(manager).get("/api/v1/risk-snapshots/").json()
    assert data["results"][0]["total_risk"] == 48


def test_schema_builds(db, api_for, admin_user):
    response = api_for(admin_user).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/overview/",
        "/api/v1/bom/versions/{id}/",
        "/api/v1/exports/violations.csv",
        "/api/v1/webhooks/{id}/ping/",
        "/api/v1/notifications/preferences/",
    ):
        assert path in paths, path


def test_app_usage_in_world(world):
    assert ApplicationModel.objects.count() == 3
