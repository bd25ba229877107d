"""Every count on the overview equals the rows the violations list shows behind its link.

The world: a version used by two applications (in two organizations under one parent) violating a
critical policy in the root context and in both applications; a legal policy in one application; a
waived and a resolved problem; a model whose name is a prefix of another's. Each count link is
followed, every page of the list is walked, and the rows are counted.
"""

from __future__ import annotations

import html
import re

import pytest
from django.utils import timezone

from governance.overview import refresh_rollups
from inventory.choices import NO_APPLICATION
from inventory.models import ApplicationModel
from policies.models import Policy, Violation
from tests import factories as f

pytestmark = pytest.mark.django_db
URL = "/overview/"


@pytest.fixture
def seeded(db):
    Policy.objects.all().delete()
    parent = f.OrganizationFactory(name="Acme")
    teams = [f.OrganizationFactory(name=f"Team {i}", parent=parent) for i in range(2)]
    apps = [f.ApplicationFactory(organization=t, name=f"App {i}") for i, t in enumerate(teams)]
    shared = f.ModelVersionFactory(model=f.ModelFactory(repo_id="acme/shared"))
    prefix = f.ModelVersionFactory(model=f.ModelFactory(repo_id="acme/shared-2"))
    for app in apps:
        ApplicationModel.objects.create(application=app, version=shared)
    ApplicationModel.objects.create(application=apps[0], version=prefix)
    crit = f.PolicyFactory(name="Critical pickle", threat_level=9, category="security", conditions=[])
    legal = f.PolicyFactory(name="Non-commercial", threat_level=5, category="legal", conditions=[])
    low = f.PolicyFactory(name="Few downloads", threat_level=2, category="quality", conditions=[])
    f.ViolationFactory(policy=crit, version=shared)
    for app in apps:
        f.ViolationFactory(policy=crit, version=shared, application=app)
    f.ViolationFactory(policy=legal, version=shared, application=apps[0])
    f.ViolationFactory(policy=crit, version=prefix, application=apps[0])
    f.ViolationFactory(policy=low, version=prefix)  # the inventory only
    f.ViolationFactory(policy=legal, version=prefix, state="waived")
    f.ViolationFactory(policy=legal, version=prefix, application=apps[0], state="waived")
    f.ViolationFactory(policy=low, version=shared, state="resolved", resolved_at=timezone.now())
    refresh_rollups()
    return {"apps": apps, "teams": teams, "parent": parent}


def _links(page: str) -> list[tuple[str, int]]:
    """(list URL, count) of every link from the overview into the violations list."""
    found = re.findall(r'<a [^>]*href="(/policies/violations/[^"]*)"[^>]*>(\d+)</a>', page)
    return [(html.unescape(url), int(n)) for url, n in found]


def _rows_behind(client, url: str) -> tuple[int, int]:
    """(rows on every page of the list at `url`, the count the list itself shows)."""
    rows, shown = 0, None
    while url:
        body = client.get(url).content.decode()
        rows += len(re.findall(r'<tr id="violation-\d+"', body))
        if shown is None:
            shown = int(re.search(r'<strong id="row-count">(\d+)</strong>', body).group(1))
        nxt = re.search(r'rel="next" href="([^"]+)"', body)
        url = "/policies/violations/" + html.unescape(nxt.group(1)) if nxt else ""
    return rows, shown


@pytest.mark.parametrize("scope", ["", "organization", "team", "application"])
def test_every_overview_count_equals_the_rows_behind_its_link(seeded, client_for, manager, scope):
    params = {
        "": "",
        "organization": f"?organization={seeded['parent'].pk}",
        "team": f"?organization={seeded['teams'][0].pk}",
        "application": f"?application={seeded['apps'][0].pk}",
    }[scope]
    c = client_for(manager)
    page = c.get(URL + params).content.decode()
    links = _links(page)
    assert len(links) >= 5, page
    for url, count in links:
        rows, shown = _rows_behind(c, url)
        assert (rows, shown) == (count, count), url


def test_a_version_used_by_two_applications_and_the_inventory_counts_once(seeded, client_for, manager):
    c = client_for(manager)
    figures = c.get(URL).context["figures"]
    # Open problems: shared×crit, shared×legal, prefix×crit, prefix×low → 4 (the violations: 6 open rows).
    assert figures.open_count == 4 and Violation.objects.filter(state="open").count() == 6
    assert figures.total_risk == 9 + 5 + 9 + 2
    assert figures.by_band["critical"].count == 2
    assert figures.waived_count == 1 and figures.resolved_count == 1
    assert [o["name"] for o in figures.organizations] == ["Acme"]  # the inventory is not an organization
    assert figures.organizations[0]["count"] == 3  # shared×crit in both teams counts once
    assert figures.root is not None and figures.root.count == 2
    per_app = {a["name"]: a["count"] for a in figures.applications}
    assert per_app == {"App 0": 3, "App 1": 1}
    body = c.get(URL).content.decode()
    assert "Root context" not in body and NO_APPLICATION in body


def test_the_list_reads_its_count_from_a_fresh_rollup(seeded, client_for, manager, django_assert_max_num_queries):
    c = client_for(manager)
    response = c.get("/policies/violations/?band=critical")
    assert b'<strong id="row-count">2</strong>' in response.content
    assert b"counted" in response.content  # from the rollup, with its age
    # A filter the rollups do not hold is counted exactly (and says nothing about age).
    exact = c.get("/policies/violations/?q=shared-2")
    assert b'<strong id="row-count">2</strong>' in exact.content and b"counted" not in exact.content


def test_a_member_of_two_separate_teams_counts_a_shared_problem_once(seeded, client_for, admin_user, make_user):
    """Memberships in two sibling subtrees: shared×crit is in both, and is still one row of the list."""
    from core import roles
    from identity import memberships

    member = make_user(username="two-teams")
    for team in seeded["teams"]:
        memberships.grant(actor=admin_user, organization=team, role=roles.MANAGER, user=member)
    c = client_for(member)
    figures = c.get(URL).context["figures"]
    # Team 0: shared×crit, shared×legal, prefix×crit (open), prefix×legal (waived); Team 1: shared×crit.
    assert (figures.open_count, figures.waived_count, figures.total_risk) == (3, 1, 9 + 5 + 9)
    links = _links(c.get(URL).content.decode())
    assert links
    for url, count in links:
        assert _rows_behind(c, url) == (count, count), url
