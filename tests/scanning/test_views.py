"""Scanning pages: list (filters, constant queries), detail (files, findings, filters), version panel, rescan."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scanning import services
from scanning.choices import ScanState, ScanTrigger
from scanning.models import ScanRun
from tests.factories import ModelFileFactory, ModelVersionFactory
from tests.hubserver.repos import malicious_pickle_bytes, safetensors_bytes
from tests.scanning.test_services import local_version

pytestmark = pytest.mark.django_db


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


def _runs(n: int) -> None:
    for i in range(n):
        version = ModelVersionFactory()
        ModelFileFactory(version=version)
        ScanRun.objects.create(
            version=version,
            state=ScanState.SUCCEEDED,
            verdict="safe" if i % 2 else "malicious",
            trigger=ScanTrigger.IMPORT,
            files_total=1,
            files_done=1,
            rules_version="r",
        )


def test_scanrun_list_full_page_and_partial(client_for, security, scanned):
    client = client_for(security)
    full = client.get(reverse("scanning:scanrun_list"))
    assert full.status_code == 200
    assert b"<html" in full.content and scanned.version.model.repo_id.encode() in full.content
    partial = client.get(reverse("scanning:scanrun_list"), {"verdict": "malicious"}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert b"<html" not in partial.content and b'id="results"' in partial.content
    assert scanned.version.model.repo_id.encode() in partial.content
    none = client.get(reverse("scanning:scanrun_list"), {"verdict": "safe"}, HTTP_HX_REQUEST="true")
    assert scanned.version.model.repo_id.encode() not in none.content


def test_scanrun_list_filters_by_state_model_and_version(client_for, admin_user, scanned):
    _runs(3)
    client = client_for(admin_user)
    url = reverse("scanning:scanrun_list")
    by_model = client.get(url, {"model": scanned.version.model_id})
    assert list(by_model.context["runs"]) == [scanned]
    by_version = client.get(url, {"version": scanned.version_id})
    assert list(by_version.context["runs"]) == [scanned] and b"Scan history" in by_version.content
    assert client.get(url, {"state": "failed"}).context["page"].paginator.count == 0


def test_scanrun_list_query_count_is_constant(client_for, admin_user, django_assert_num_queries, settings):
    settings.MODELGATE_PAGE_CACHE = False  # the rows' cost, not the per-generation permission cache's saving
    client = client_for(admin_user)
    _runs(2)
    client.get(reverse("scanning:scanrun_list"))  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("scanning:scanrun_list"))
    _runs(20)
    with django_assert_num_queries(len(few)):
        response = client.get(reverse("scanning:scanrun_list"))
    assert response.context["page"].paginator.count == 22


def test_scanrun_detail_shows_files_findings_and_evidence(client_for, legal, scanned):
    client = client_for(legal)
    response = client.get(scanned.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert "pytorch_model.bin" in html and "model.safetensors" in html
    assert "pickle.global.denied" in html and "<code>os.system(&#x27;true&#x27;)" in html
    assert "offset" in html
    assert 'hx-trigger="every 1s"' not in html  # finished: nothing polls


def test_scanrun_detail_findings_filters_and_partial(client_for, admin_user, scanned):
    client = client_for(admin_user)
    url = scanned.get_absolute_url()
    partial = client.get(url, {"category": "process"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b'id="findings"' in partial.content
    assert b"pickle.global.denied" in partial.content
    assert list(client.get(url, {"category": "network"}).context["findings"]) == []
    assert len(client.get(url, {"file": "pytorch_model.bin"}).context["findings"]) >= 1
    assert list(client.get(url, {"file": "model.safetensors"}).context["findings"]) == []
    assert list(client.get(url, {"severity": "low"}).context["findings"]) == []


def test_active_run_polls_and_stops_when_done(client_for, admin_user, tmp_path):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services.request_scan(version=version, user=admin_user)  # on_commit never fires: stays queued
    client = client_for(admin_user)
    page = client.get(run.get_absolute_url()).content.decode()
    assert 'hx-trigger="every 1s"' in page and "fragment=run" in page
    panel = client.get(reverse("scanning:version_panel", args=[version.pk]), HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' in panel.content.decode() and "HX-Trigger" not in panel.headers
    services.execute_scan(scan_run_id=run.pk)
    fragment = client.get(run.get_absolute_url(), {"fragment": "run"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b'id="run"' in fragment.content
    assert b"every 1s" not in fragment.content and fragment.headers["HX-Trigger"] == "scanFinished"
    panel = client.get(reverse("scanning:version_panel", args=[version.pk]), HTTP_HX_REQUEST="true")
    assert b"every 1s" not in panel.content and panel.headers["HX-Trigger"] == "scanFinished"
    assert b"badge-safe" in panel.content


def test_version_page_includes_the_scan_panel(client_for, security, manager, scanned):
    url = scanned.version.get_absolute_url()
    html = client_for(security).get(url).content.decode()
    assert 'id="scan-panel"' in html and "Malicious" in html and "pickle.global.denied" in html
    assert reverse("scanning:version_scan", args=[scanned.version_id]) in html  # Rescan button
    as_manager = client_for(manager).get(url).content.decode()
    assert 'id="scan-panel"' in as_manager
    assert reverse("scanning:version_scan", args=[scanned.version_id]) not in as_manager  # no run_scan


def test_rescan_htmx_swaps_the_panel(client_for, security, scanned, django_capture_on_commit_callbacks):
    client = client_for(security)
    url = reverse("scanning:version_scan", args=[scanned.version_id])
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and len(callbacks) == 1
    assert b'id="scan-panel"' in response.content and b"every 1s" in response.content
    assert json.loads(response.headers["HX-Trigger"])["toast"]["level"] == "success"
    # A second request while the first is queued is refused, and says so.
    again = client.post(url, HTTP_HX_REQUEST="true")
    assert json.loads(again.headers["HX-Trigger"])["toast"]["level"] == "error"
    assert ScanRun.objects.filter(version=scanned.version).count() == 2


def test_rescan_without_js_redirects(client_for, architect, scanned):
    response = client_for(architect).post(reverse("scanning:version_scan", args=[scanned.version_id]))
    assert response.status_code == 302 and response.url == scanned.version.get_absolute_url()
    latest = services.latest_scan(scanned.version)
    assert latest.trigger == ScanTrigger.MANUAL and latest.requested_by == architect


@pytest.mark.parametrize("role", ["manager", "nobody"])
def test_rescan_is_forbidden_without_run_scan(request, client_for, role, scanned):
    user = request.getfixturevalue(role)
    response = client_for(user).post(
        reverse("scanning:version_scan", args=[scanned.version_id]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 403
    assert ScanRun.objects.filter(version=scanned.version).count() == 1


def test_nobody_sees_no_scan_pages(client_for, nobody, scanned):
    client = client_for(nobody)
    assert client.get(reverse("scanning:scanrun_list")).status_code == 403
    assert client.get(scanned.get_absolute_url()).status_code == 403
    assert client.get(reverse("scanning:version_panel", args=[scanned.version_id])).status_code == 403


def test_failed_scan_is_visible_and_retryable(client_for, security, tmp_path):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services._create_run(version=version, user=None, trigger=ScanTrigger.IMPORT)
    ScanRun.objects.filter(pk=run.pk).update(
        state=ScanState.FAILED, error="Hub said 401 for pytorch_model.bin", error_kind="GatedRepo"
    )
    client = client_for(security)
    detail = client.get(run.get_absolute_url()).content.decode()
    assert "The scan failed" in detail and "Hub said 401" in detail and "Retry scan" in detail
    panel = client.get(reverse("scanning:version_panel", args=[version.pk])).content.decode()
    assert "Hub said 401" in panel and "Retry scan" in panel
    response = client.post(reverse("scanning:version_scan", args=[version.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert services.latest_scan(version).state == ScanState.QUEUED


def test_unscanned_version_panel_offers_a_scan(client_for, security):
    version = ModelVersionFactory()
    html = client_for(security).get(reverse("scanning:version_panel", args=[version.pk])).content.decode()
    assert "not been scanned" in html and "Scan now" in html


def test_list_polls_only_while_a_run_is_active(client_for, admin_user, tmp_path):
    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services.request_scan(version=version, user=admin_user)
    client = client_for(admin_user)
    assert b"every 2s" in client.get(reverse("scanning:scanrun_list")).content
    services.execute_scan(scan_run_id=run.pk)
    assert b"every 2s" not in client.get(reverse("scanning:scanrun_list"), HTTP_HX_REQUEST="true").content


def test_admin_pages(client, make_user, scanned):
    admin = make_user(None, username="root", is_superuser=True, is_staff=True)
    client.force_login(admin)
    for name in ("scanrun", "finding"):
        assert client.get(reverse(f"admin:scanning_{name}_changelist")).status_code == 200
    assert client.get(reverse("admin:scanning_scanrun_change", args=[scanned.pk])).status_code == 200


def test_panel_flags_a_scan_made_with_older_rules(client_for, security, scanned):
    url = reverse("scanning:version_panel", args=[scanned.version_id])
    assert b"Outdated rules" not in client_for(security).get(url).content
    ScanRun.objects.filter(pk=scanned.pk).update(rules_version="1999.1.1")
    assert b"Outdated rules" in client_for(security).get(url).content
