"""The overview's rollup is refreshed by the worker only, one worker at a time (issue 11 item 8)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from governance import overview, tasks
from governance.models import RollupLease, RollupRun
from policies.models import Violation

URL = "/overview/"


@pytest.fixture(autouse=True)
def _forget_enqueues():
    cache.clear()  # the "refresh requested" marker lives in the cache
    yield
    cache.clear()


def _forbid_refresh(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a request refreshed the rollups")

    monkeypatch.setattr(overview, "refresh_rollups", refuse)
    monkeypatch.setattr(overview, "refresh_rollups_once", refuse)


def test_a_stale_rollup_is_served_with_its_age_and_a_refresh_is_enqueued(
    world, client_for, manager, monkeypatch, django_capture_on_commit_callbacks
):
    Violation.objects.filter(state="open", application__isnull=True).update(
        state="resolved", resolved_at=timezone.now()
    )
    RollupRun.objects.update(refreshed_at=timezone.now() - timedelta(hours=2))
    _forbid_refresh(monkeypatch)
    client = client_for(manager)
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = client.get(URL)
        again = client.get(URL, headers={"HX-Request": "true"})
    assert response.status_code == 200 and again.status_code == 200
    figures = response.context["figures"]
    assert figures.total_risk == 48  # the old rollup's figure: the request did not re-aggregate
    assert figures.stale and figures.age_seconds >= 2 * 3600
    assert "2\xa0hours old" in response.content.decode()
    assert len(enqueued) == 1  # one enqueue for the burst, not one per request


def test_a_fresh_rollup_enqueues_nothing(world, client_for, manager, monkeypatch, django_capture_on_commit_callbacks):
    _forbid_refresh(monkeypatch)
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = client_for(manager).get(URL)
    assert response.status_code == 200 and not response.context["figures"].stale
    assert "s ago; refreshed every minute" in response.content.decode()
    assert enqueued == []


def test_without_any_rollup_the_page_says_figures_are_being_computed(
    world, client_for, manager, monkeypatch, django_capture_on_commit_callbacks
):
    RollupRun.objects.all().delete()
    client = client_for(manager)
    with monkeypatch.context() as patched:
        _forbid_refresh(patched)
        with django_capture_on_commit_callbacks(execute=False) as enqueued:
            page = client.get(URL)
            api = client.get("/api/v1/overview/")
    body = page.content.decode()
    assert page.status_code == 200 and "The figures are being computed" in body
    assert 'hx-trigger="every 5s"' in body  # polls until they are ready
    assert "Total risk</div>" not in body  # no zeros passed off as figures
    assert api.status_code == 200 and api.json()["as_of"] is None
    assert len(enqueued) == 1
    enqueued[0]()  # the worker runs the task (eager in tests)
    assert RollupRun.objects.count() == 1
    ready = client.get(URL, headers={"HX-Request": "true"}).content.decode().strip()  # the poll
    assert ready.startswith('<div id="figures" class="overview">') and "Total risk</div>" in ready
    assert "being computed" not in ready
    assert client.get(URL).context["figures"].total_risk == 48


def test_a_refresh_attempt_while_another_runs_does_nothing(world, manager, monkeypatch):
    """Beat fires while the previous refresh is still running (or two workers take the same beat):
    exactly one refreshes."""
    runs_before = RollupRun.objects.count()
    real_refresh = overview.refresh_rollups
    second: list[object] = []

    def refresh_with_a_competitor():
        second.append(tasks.refresh_rollups())  # another worker runs the task mid-refresh
        return real_refresh()

    monkeypatch.setattr(overview, "refresh_rollups", refresh_with_a_competitor)
    first = tasks.refresh_rollups.delay().get()
    assert second == [None]  # the competitor found the lease taken and did nothing
    assert isinstance(first, int)
    assert RollupRun.objects.count() == runs_before + 1
    lease = RollupLease.objects.get()
    assert lease.holder == "" and lease.expires_at <= timezone.now()  # released: the next beat may run
    monkeypatch.setattr(overview, "refresh_rollups", real_refresh)
    assert isinstance(tasks.refresh_rollups.delay().get(), int)
    assert RollupRun.objects.count() == runs_before + 2


def test_the_lease_is_released_when_the_refresh_fails(world, monkeypatch):
    def boom():
        raise RuntimeError("database went away")

    monkeypatch.setattr(overview, "refresh_rollups", boom)
    with pytest.raises(RuntimeError):
        overview.refresh_rollups_once()
    assert overview.claim_lease() is not None


def test_a_dead_workers_lease_lapses(world):
    dead = overview.claim_lease()
    assert dead is not None
    assert overview.claim_lease() is None and overview.refresh_rollups_once() is None
    # The worker was killed (no release): its lease runs out after the task's time limit.
    RollupLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    alive = overview.claim_lease()
    assert alive is not None
    overview.release_lease(dead)  # the dead holder's late release does not free the new holder's lease
    assert overview.refresh_rollups_once() is None
    overview.release_lease(alive)
    assert overview.refresh_rollups_once() is not None
