from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from governance import tasks
from governance.models import RiskSnapshot, RollupRun
from governance.overview import overview_figures, take_snapshot
from policies.models import Violation
from tests.governance.conftest import build_world

URL = "/overview/"


def test_figures_sum_threat_levels_of_open_violations(world, manager):
    figures = overview_figures(manager)
    # 3 versions × (9 + 5 + 2): a problem counts once, though "Critical pickle" also fires in the root context.
    assert figures.total_risk == 3 * 16
    assert figures.open_count == 9
    # The resolved root violation's problem is still open in the application: not resolved.
    assert figures.resolved_count == 0
    assert figures.by_band["critical"].count == 3
    assert figures.by_category["legal"].risk == 15
    assert figures.mttr["moderate"]["count"] == 0
    assert figures.mttr["moderate"]["hours"] is None
    assert figures.awaiting_count == 1
    assert figures.expiring_count == 1
    names = [o["name"] for o in figures.organizations]
    assert names == ["Acme"]  # the inventory's own context is not an organization
    assert figures.root is not None and (figures.root.count, figures.root.risk) == (3, 27)
    assert figures.applications[0]["risk"] == 48


def test_filters_by_organization_and_application(world, manager):
    app = world["apps"][0]
    by_org = overview_figures(manager, organization=world["parent"].pk)
    assert by_org.total_risk == 48
    assert [o["name"] for o in by_org.organizations] == [app.organization.name]
    by_app = overview_figures(manager, application=app.pk)
    assert by_app.total_risk == 48
    assert by_app.scope.application["id"] == app.pk
    # Junk in the URL is ignored, not an error.
    assert overview_figures(manager, organization="x", application="99999").total_risk == 48


def test_page_renders_charts_tables_and_drill_down(world, client_for, manager):
    response = client_for(manager).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and "Risk by band" in html and "<details>" in html
    assert reverse("policies:violation_list") + "?band=critical" in html
    assert "Chatbot 0" in html and "acme/m0-0" in html
    assert 'id="figures"' in html and "<html" in html


def test_htmx_filter_renders_only_the_figures(world, client_for, manager):
    app = world["apps"][0]
    response = client_for(manager).get(URL, {"application": app.pk}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="figures"') and "<html" not in html
    assert f"application={app.pk}" in html


def test_trend_reads_snapshots_and_filters_per_application(world, manager):
    from datetime import timedelta

    from django.utils import timezone

    today = timezone.now().date()
    snap = take_snapshot(day=today - timedelta(days=1))
    assert snap.total_risk == 48 and snap.open_count == 9
    assert take_snapshot(day=today - timedelta(days=1)).pk == snap.pk  # idempotent
    assert RiskSnapshot.objects.count() == 1
    trend = overview_figures(manager).trend
    assert [p["risk"] for p in trend] == [48, 48]
    app = world["apps"][0]
    assert [p["risk"] for p in overview_figures(manager, application=app.pk).trend] == [48, 48]


@pytest.mark.parametrize("params", [{}, {"organization": "ORG"}, {"application": "APP"}])
def test_query_count_does_not_grow_with_data(db, client_for, manager, django_assert_max_num_queries, params):
    client = client_for(manager)

    def count(world):
        resolved = {k: (world["parent"].pk if v == "ORG" else world["apps"][0].pk) for k, v in params.items()}
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get(URL, resolved).status_code == 200
        return len(ctx.captured_queries)

    small = count(build_world(1))
    big = count(build_world(6))
    assert small == big
    # 20 + the membership backend reading the user's memberships once per request + the page cache's two reads
    # on a miss (the data generation, the role names of the audience; core/pagecache.py). Both calls are
    # misses: the second world's writes moved the generation.
    assert small <= 23


@pytest.mark.parametrize("fixture,status", [("manager", 200), ("admin_user", 200), ("architect", 200), ("nobody", 403)])
def test_permissions(request, client_for, fixture, status):
    user = request.getfixturevalue(fixture)
    assert client_for(user).get(URL).status_code == status


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_home_sends_managers_to_the_overview(client_for, manager):
    response = client_for(manager).get("/")
    assert response.status_code == 302 and response["Location"] == URL


def test_rollup_task_and_snapshot_task(world, manager):
    assert tasks.take_risk_snapshot.delay().get() == 48
    Violation.objects.filter(state="open", policy__threat_level=9).update(state="resolved", resolved_at=timezone.now())
    assert overview_figures(manager).total_risk == 48  # the rollup in use predates the change
    runs = RollupRun.objects.count()
    duration_ms = tasks.refresh_rollups.delay().get()
    run = RollupRun.objects.order_by("-refreshed_at", "-id").first()
    assert RollupRun.objects.count() == runs + 1 and run is not None
    assert duration_ms == run.duration_ms  # the task reports the run it made
    assert run.violations == Violation.objects.count()
    assert overview_figures(manager).total_risk == 48 - 3 * 9  # served from the new rollup


def test_overview_links_exports_and_boms(world, client_for, manager):
    app = world["apps"][0]
    html = client_for(manager).get(URL, {"application": app.pk}).content.decode()
    assert f"/exports/violations.csv?application={app.pk}" in html
    assert f"/bom/applications/{app.pk}.cdx.json" in html
    assert "/notifications/" in html


def test_direct_posts_are_refused(client_for, manager, nobody):
    assert client_for(manager).post(URL, {"organization": "1"}).status_code == 405
    assert client_for(nobody).post(URL).status_code == 403
    assert client_for(nobody).get("/exports/violations.csv").status_code == 403
    assert client_for(manager).post("/exports/violations.csv").status_code == 405
