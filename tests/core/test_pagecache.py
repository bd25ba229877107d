"""The page and gate cache (core/pagecache.py), over HTTP: fresh after every write, never across audiences,
never another session's token, a miss computed once."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core import pagecache, roles
from identity import memberships
from policies import services
from policies.models import Violation
from tests import factories as f
from tests.policies.conftest import make_policy, make_version

pytestmark = pytest.mark.django_db

LIST = "/policies/violations/"
OVERVIEW = "/overview/"
CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
ANY_TOKEN = re.compile(rb'(csrfmiddlewaretoken" value="|"X-CSRFToken": ")[A-Za-z0-9]+')
USERBOX = re.compile(rb'<div class="userbox">.*?</div>', re.S)


def cache_state(response) -> str:  # type: ignore[no-untyped-def]
    return response.get(pagecache.HEADER, "")


@pytest.fixture
def world(db):
    make_policy()
    for _ in range(2):
        make_version(downloads=1)
    services.evaluate_versions()
    return Violation.objects.filter(policy__name="Few downloads", application=None).order_by("id")


def test_a_page_is_served_from_the_cache_until_a_write_then_shows_it(world, client_for, security, architect):
    c = client_for(security)
    first = c.get(LIST)
    assert cache_state(first) == "miss"
    again = c.get(LIST)
    assert cache_state(again) == "hit"
    # The same page, but for its CSRF token, masked afresh for every response.
    assert ANY_TOKEN.sub(b"", again.content) == ANY_TOKEN.sub(b"", first.content)
    assert CSRF.search(again.content)[1] != CSRF.search(first.content)[1]
    v = world.first()
    services.set_triage_due(user=architect, version=v.version, policy=v.policy, due_on=timezone.now().date())
    after = c.get(LIST)
    assert cache_state(after) == "miss"
    assert timezone.now().date().isoformat().encode() in after.content  # the new due date is on the page


def test_users_of_one_audience_share_a_page_with_their_own_name_and_token(world, make_user):
    a = make_user(roles.SECURITY_REVIEWER, username="alice-sec")
    b = make_user(roles.SECURITY_REVIEWER, username="bob-sec")
    clients = {}
    for user in (a, b):
        c = Client(enforce_csrf_checks=True)
        c.force_login(user)
        c.get("/accounts/login/")  # a CSRF cookie, as a browser has one after signing in
        clients[user.username] = c
    page_a = clients["alice-sec"].get(LIST)
    page_b = clients["bob-sec"].get(LIST)
    assert cache_state(page_a) == "miss" and cache_state(page_b) == "hit"
    box = USERBOX.search(page_b.content)[0]  # (both are in the page's "assign to" list)
    assert b"bob-sec" in box and b"alice-sec" not in box
    assert (
        pagecache.marks().csrf.encode() not in page_b.content and pagecache.marks().user.encode() not in page_b.content
    )
    token_a, token_b = CSRF.search(page_a.content)[1].decode(), CSRF.search(page_b.content)[1].decode()
    assert token_a != token_b
    # Bob's token is valid for Bob's session (the logout form works); Alice's is not.
    assert clients["bob-sec"].post("/accounts/logout/", {"csrfmiddlewaretoken": token_a}).status_code == 403
    assert clients["bob-sec"].post("/accounts/logout/", {"csrfmiddlewaretoken": token_b}).status_code == 302


def test_other_roles_and_organization_members_never_get_another_audiences_page(world, make_user, client_for):
    security = make_user(roles.SECURITY_REVIEWER, username="global-sec")
    assert cache_state(client_for(security).get(LIST)) == "miss"
    architect = make_user(roles.ARCHITECT, username="global-arch")
    assert cache_state(client_for(architect).get(LIST)) == "miss"  # another role: another audience

    # A member of one organization sees its applications' rows only: never the global page.
    org = f.OrganizationFactory(name="Team A")
    other = f.OrganizationFactory(name="Team B")
    mine, theirs = f.ApplicationFactory(organization=org), f.ApplicationFactory(organization=other)
    v = world.first()
    Violation.objects.create(policy=v.policy, version=v.version, application=theirs, state="open", matched={})
    admin = make_user(roles.ADMINISTRATOR, username="boss")
    member = make_user(None, username="member")
    memberships.grant(actor=admin, organization=org, role=roles.SECURITY_REVIEWER, user=member)
    assert cache_state(client_for(security).get(LIST + "?state=all")) == "miss"
    scoped = client_for(member).get(LIST + "?state=all")
    assert cache_state(scoped) == "miss"
    assert theirs.name.encode() not in scoped.content and mine is not None
    assert cache_state(client_for(member).get(LIST + "?state=all")) == "hit"  # their own entry


def test_assigned_to_me_is_each_users_own(world, make_user, client_for, architect):
    a = make_user(roles.SECURITY_REVIEWER, username="sec-a")
    b = make_user(roles.SECURITY_REVIEWER, username="sec-b")
    v = world.first()
    services.assign_triage(user=architect, version=v.version, policy=v.policy, assignee=a)
    url = LIST + "?assignee=me"
    page_a = client_for(a).get(url)
    page_b = client_for(b).get(url)
    assert cache_state(page_b) == "miss"  # not Alice's entry
    assert v.version.model.repo_id.encode() in page_a.content
    assert v.version.model.repo_id.encode() not in page_b.content


def test_no_approve_button_on_ones_own_waiver_request_from_a_shared_page(world, make_user, client_for):
    requester = make_user(roles.SECURITY_REVIEWER, username="requester")
    colleague = make_user(roles.SECURITY_REVIEWER, username="colleague")
    v = world.first()
    services.request_waiver(
        user=requester, policy=v.policy, scope="version", version=v.version, expires_on=timezone.now().date(),
        reason=f.WaiverReasonFactory(), source_violation=v,
    )  # fmt: skip
    seen_by_colleague = client_for(colleague).get(LIST)
    seen_by_requester = client_for(requester).get(LIST)
    assert cache_state(seen_by_colleague) == "miss" and cache_state(seen_by_requester) == "hit"
    assert b"Approve waiver" in seen_by_colleague.content
    assert b"Approve waiver" not in seen_by_requester.content
    assert pagecache.marks().unless_open.encode() not in seen_by_requester.content


def test_a_revoked_role_is_refused_though_the_page_is_cached(world, client_for, security):
    c = client_for(security)
    c.get(LIST)
    assert cache_state(c.get(LIST)) == "hit"
    security.groups.remove(Group.objects.get(name=roles.SECURITY_REVIEWER))
    assert c.get(LIST).status_code == 403


def test_pending_messages_are_shown_not_a_cached_page(world, client_for, architect):
    c = client_for(architect)
    c.get(LIST)
    v = world.first()
    done = c.post(
        reverse("policies:violation_bulk_triage"),
        {"ids": v.pk, "action": "due", "due_on": (timezone.now().date() + timedelta(days=3)).isoformat()},
    )
    assert done.status_code == 302
    shown = c.get(done["Location"])
    assert cache_state(shown) == "" and b"toast" in shown.content  # the flash message, rendered fresh
    assert cache_state(c.get(LIST)) == "miss"  # the write moved the generation


def test_the_overview_is_shared_by_managers_and_refreshed_by_writes(world, make_user, client_for):
    m1, m2 = make_user(roles.MANAGER, username="m1"), make_user(roles.MANAGER, username="m2")
    assert cache_state(client_for(m1).get(OVERVIEW)) == "miss"
    page = client_for(m2).get(OVERVIEW)
    assert cache_state(page) == "hit" and b"m2" in page.content
    make_version(downloads=1)
    services.evaluate_versions()
    assert cache_state(client_for(m2).get(OVERVIEW)) == "miss"


def test_a_miss_is_computed_once_while_the_others_wait():
    calls = []

    def slow() -> str:
        calls.append(1)
        time.sleep(0.3)
        return "value"

    results = []

    def ask() -> None:
        results.append(pagecache._get_or_compute("mg:test:once", slow, 60))

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(state for _value, state in results) == ["hit", "hit", "hit", "hit", "miss"]
    assert {value for value, _hit in results} == {"value"}


@pytest.mark.parametrize("enabled", [True, False])
def test_the_setting_turns_it_off(world, client_for, security, settings, enabled):
    settings.MODELGATE_PAGE_CACHE = enabled
    c = client_for(security)
    c.get(LIST)
    assert cache_state(c.get(LIST)) == ("hit" if enabled else "")


def test_while_a_page_is_recomputed_others_see_it_as_it_just_was_but_never_before_their_own_write(
    world, make_user, client_for, monkeypatch
):
    reader = make_user(roles.SECURITY_REVIEWER, username="reader")
    writer = make_user(roles.SECURITY_REVIEWER, username="writer")
    v = world.first()
    due = (timezone.now().date() + timedelta(days=9)).isoformat()
    assert cache_state(client_for(reader).get(LIST)) == "miss"
    writer_client = client_for(writer)
    done = writer_client.post(reverse("policies:violation_bulk_triage"), {"ids": v.pk, "action": "due", "due_on": due})
    assert done.status_code == 302
    writer_client.get(done["Location"])  # the flash message, shown and gone

    # Another request is recomputing the page for the new generation (it holds the entry's lock).
    real_add = pagecache.cache.add
    monkeypatch.setattr(
        pagecache.cache, "add", lambda k, *a, **kw: False if k.endswith(":lock") else real_add(k, *a, **kw)
    )
    seen = client_for(reader).get(LIST)
    assert cache_state(seen) == "stale" and due.encode() not in seen.content  # as it was a moment ago
    own = writer_client.get(LIST)
    assert cache_state(own) == "miss" and due.encode() in own.content  # the writer sees their write


def test_a_stale_page_is_only_a_recent_one(world, client_for, security, architect, monkeypatch):
    c = client_for(security)
    c.get(LIST)
    v = world.first()
    services.set_triage_due(user=architect, version=v.version, policy=v.policy, due_on=timezone.now().date())
    real_add = pagecache.cache.add
    monkeypatch.setattr(
        pagecache.cache, "add", lambda k, *a, **kw: False if k.endswith(":lock") else real_add(k, *a, **kw)
    )
    monkeypatch.setattr(pagecache, "_STALE", 0.0)
    time.sleep(0.01)
    assert cache_state(c.get(LIST)) == "miss"
