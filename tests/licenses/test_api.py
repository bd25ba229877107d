from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.models import AuditEvent
from inventory.models import ApplicationModel
from licenses.models import LicenseConclusion

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def test_licenses_and_obligations(legal, manager, nobody):
    r = api(manager).get("/api/v1/licenses/", {"threat_group": "non-commercial", "limit": 100})
    assert r.status_code == 200
    ids = {row["id"] for row in r.json()["results"]}
    assert {"cc-by-nc-4.0", "llama1", "flux-1-dev-non-commercial"} <= ids and "mit" not in ids
    r = api(manager).get("/api/v1/licenses/llama3.1/")
    assert r.status_code == 200
    body = r.json()
    assert body["threat_group"] == "ai-restricted"
    assert {"term": "user-threshold:700M", "clause": "2"}.items() <= next(
        o for o in body["obligations"] if o["term"] == "user-threshold:700M"
    ).items()
    assert api(nobody).get("/api/v1/licenses/").status_code == 403
    assert api(manager).patch("/api/v1/licenses/mit/", {"notes": "x"}, format="json").status_code == 403
    r = api(legal).patch("/api/v1/licenses/mit/", {"notes": "reviewed"}, format="json")
    assert r.status_code == 200 and r.json()["notes"] == "reviewed"
    assert AuditEvent.objects.filter(action="license.update").exists()
    r = api(legal).post(
        "/api/v1/obligations/", {"term": "no-military-use", "meaning": "no military use"}, format="json"
    )
    assert r.status_code == 201
    r = api(manager).get("/api/v1/obligations/", {"q": "threshold"})
    assert {o["term"] for o in r.json()["results"]} >= {"user-threshold:700M", "user-threshold:100M"}


def test_analyses_per_version_and_use_fit(manager, llama2_version, app_commercial):
    ApplicationModel.objects.create(application=app_commercial, version=llama2_version)
    r = api(manager).get(f"/api/v1/license-analyses/{llama2_version.pk}/")
    assert r.status_code == 200
    body = r.json()
    assert body["effective"] == "llama2" and body["conflict"] and body["repo_id"] == "acme/chat-7b"
    assert {(o["path"], o["license"], o["match"]) for o in body["observed"]} >= {("LICENSE", "llama2", "exact")}
    r = api(manager).get("/api/v1/license-analyses/", {"conflict": "true"})
    assert [a["version"] for a in r.json()["results"]] == [llama2_version.pk]
    r = api(manager).get(f"/api/v1/license-analyses/{llama2_version.pk}/use-fit/")
    assert r.json() == [
        {"application": app_commercial.pk, "application_name": "Support bot", "permitted": True, "reasons": []}
    ]
    assert api(manager).post(f"/api/v1/license-analyses/{llama2_version.pk}/analyse/").status_code == 403


def test_conclusions(legal, manager, llama2_version):
    data = {"version": llama2_version.pk, "status": "confirmed", "comment": "text governs"}
    assert api(manager).post("/api/v1/license-conclusions/", data, format="json").status_code == 403
    r = api(legal).post("/api/v1/license-conclusions/", data, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["license_expression"] == "llama2"
    bad = {**data, "status": "selected", "license_expression": "gpl-3.0"}
    assert api(legal).post("/api/v1/license-conclusions/", bad, format="json").status_code == 400
    r = api(manager).get("/api/v1/license-conclusions/", {"version": llama2_version.pk})
    assert len(r.json()["results"]) == LicenseConclusion.objects.count() == 1
