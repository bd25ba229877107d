"""Scanning REST API: runs (with findings), scan requests, findings; same access gate and FilterSets as the pages."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from scanning import services
from scanning.models import ScanRun
from tests.factories import ModelVersionFactory
from tests.hubserver.repos import malicious_pickle_bytes, safetensors_bytes
from tests.scanning.test_services import local_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def scanned(tmp_path):
    version = local_version(
        tmp_path,
        {
            "model.safetensors": safetensors_bytes(),
            "pytorch_model.bin": malicious_pickle_bytes("true"),
        },
    )
    return services.scan_version_now(version.pk)


def test_list_and_filter_runs(api_for, manager, scanned):
    client = api_for(manager)
    data = client.get(reverse("scanning-api:scanrun-list")).json()
    assert data["count"] == 1
    row = data["results"][0]
    assert row["id"] == scanned.pk and row["verdict"] == "malicious" and row["state"] == "succeeded"
    assert row["repo_id"] == scanned.version.model.repo_id and row["commit"] == scanned.version.commit
    assert row["files_total"] == 2 and row["rules_version"] and row["duration_seconds"] is not None
    assert client.get(reverse("scanning-api:scanrun-list"), {"verdict": "safe"}).json()["count"] == 0
    assert client.get(reverse("scanning-api:scanrun-list"), {"version": scanned.version_id}).json()["count"] == 1


def test_retrieve_run_with_files_and_findings(api_for, legal, scanned):
    data = api_for(legal).get(reverse("scanning-api:scanrun-detail", args=[scanned.pk])).json()
    assert {f["path"] for f in data["files"]} == {"model.safetensors", "pytorch_model.bin"}
    finding = next(f for f in data["findings"] if f["rule"] == "pickle.global.denied")
    assert finding["category"] == "process" and finding["severity"] == "critical"
    assert "os.system" in finding["evidence"] and finding["offset"] is not None


def test_findings_list_filters(api_for, security, scanned):
    client = api_for(security)
    url = reverse("scanning-api:finding-list")
    assert client.get(url, {"scan_run": scanned.pk}).json()["count"] == scanned.finding_count
    assert client.get(url, {"category": "process"}).json()["count"] >= 1
    assert client.get(url, {"category": "network"}).json()["count"] == 0
    assert client.get(url, {"file": "model.safetensors"}).json()["count"] == 0
    assert client.get(url, {"severity": "bogus"}).status_code == 400


def test_request_scan_by_version_and_conflict(api_for, security, django_capture_on_commit_callbacks):
    version = ModelVersionFactory()
    client = api_for(security)
    url = reverse("scanning-api:version-scan", args=[version.pk])
    with django_capture_on_commit_callbacks() as callbacks:
        created = client.post(url)
    assert created.status_code == 201 and len(callbacks) == 1
    assert created.json()["state"] == "queued" and created.json()["trigger"] == "manual"
    conflict = client.post(url)
    assert conflict.status_code == 409 and conflict.json()["scan_run"] == created.json()["id"]


def test_request_scan_by_post_to_scans(api_for, architect):
    version = ModelVersionFactory()
    client = api_for(architect)
    response = client.post(reverse("scanning-api:scanrun-list"), {"version": version.pk}, format="json")
    assert response.status_code == 201
    assert ScanRun.objects.get(pk=response.json()["id"]).requested_by == architect
    assert client.post(reverse("scanning-api:scanrun-list"), {"version": 999999}, format="json").status_code == 404
    assert client.post(reverse("scanning-api:scanrun-list"), {}, format="json").status_code == 400


@pytest.mark.parametrize("role", ["manager", "nobody"])
def test_request_scan_forbidden_without_run_scan(request, api_for, role):
    version = ModelVersionFactory()
    client = api_for(request.getfixturevalue(role))
    assert client.post(reverse("scanning-api:version-scan", args=[version.pk])).status_code == 403
    assert client.post(reverse("scanning-api:scanrun-list"), {"version": version.pk}, format="json").status_code == 403
    assert not ScanRun.objects.exists()


def test_nobody_reads_nothing(api_for, nobody, scanned):
    client = api_for(nobody)
    assert client.get(reverse("scanning-api:scanrun-list")).status_code == 403
    assert client.get(reverse("scanning-api:scanrun-detail", args=[scanned.pk])).status_code == 403
    assert client.get(reverse("scanning-api:finding-list")).status_code == 403


def test_anonymous_is_denied(scanned):
    assert APIClient().get(reverse("scanning-api:scanrun-list")).status_code in (401, 403)


def test_schema_lists_the_scanning_endpoints(api_for, admin_user):
    response = api_for(admin_user).get(reverse("schema"), {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/scans/", "/api/v1/scans/{id}/", "/api/v1/versions/{id}/scan", "/api/v1/findings/"} <= set(paths)
