"""The triage list and a row's page in Chromium, at 1366 px and at 400 px: sort by a column, assign and
comment (JavaScript on, htmx swaps the triage panel), dismiss (JavaScript off, plain forms), a bulk
action; the page never scrolls sideways."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core import roles
from inventory.choices import NO_APPLICATION
from inventory.models import ApplicationModel
from policies.models import Policy, TriageComment, TriageItem
from tests import factories as f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
LIST = "/policies/violations/"


@pytest.fixture
def world(db):
    Policy.objects.all().delete()
    boss = f.UserFactory(username="boss", role=roles.ARCHITECT)
    f.UserFactory(username="sec", role=roles.SECURITY_REVIEWER)
    org = f.OrganizationFactory(name="Acme")
    apps = [f.ApplicationFactory(organization=org, name=n) for n in ("Chatbot", "Search")]
    version = f.ModelVersionFactory(model=f.ModelFactory(repo_id="acme/a-very-long-model-name-for-narrow-screens"))
    for app in apps:
        ApplicationModel.objects.create(application=app, version=version)
    crit = f.PolicyFactory(name="Critical pickle", threat_level=9, category="security", conditions=[])
    legal = f.PolicyFactory(name="A legal policy", threat_level=5, category="legal", conditions=[])
    root = f.ViolationFactory(policy=crit, version=version)
    for app in apps:
        f.ViolationFactory(policy=crit, version=version, application=app)
    other = f.ViolationFactory(policy=legal, version=version, application=apps[0])
    return {"boss": boss, "root": root, "other": other}


@pytest.fixture(params=[1366, 400], ids=["wide", "narrow"])
def width(request) -> int:
    return int(request.param)


def _context(browser, live_server, width: int, js: bool = True):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": width, "height": 900}, java_script_enabled=js
    )
    context.set_default_timeout(15_000)
    return context


def _login(page) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("main")


def _no_sideways_scroll(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_sort_by_a_column(browser, live_server, world, width):
    context = _context(browser, live_server, width)
    page = context.new_page()
    try:
        _login(page)
        page.goto(LIST)
        rows = page.locator("#triage-table tbody tr")
        assert rows.count() == 2  # one row per problem, not per context
        assert "Chatbot" in rows.first.inner_text() and NO_APPLICATION in rows.first.inner_text()
        _no_sideways_scroll(page, width)
        page.evaluate("window.__stay = 1")  # an htmx swap keeps the page (and this variable)
        page.click("#triage-table thead >> text=Policy")
        page.wait_for_url("**sort=policy**")
        page.wait_for_selector("#triage-table th[aria-sort=ascending] >> text=Policy")
        names = page.locator("#triage-table tbody tr td:nth-child(3) a").all_inner_texts()
        assert names == ["A legal policy", "Critical pickle"]
        assert page.evaluate("window.__stay") == 1
        page.click("#triage-table thead >> text=Policy")
        page.wait_for_selector("#triage-table th[aria-sort=descending] >> text=Policy")
        names = page.locator("#triage-table tbody tr td:nth-child(3) a").all_inner_texts()
        assert names == ["Critical pickle", "A legal policy"]
        assert "sort=-policy" in page.url
        _no_sideways_scroll(page, width)
    finally:
        context.close()


def test_assign_and_comment_with_javascript(browser, live_server, world, width):
    context = _context(browser, live_server, width)
    page = context.new_page()
    try:
        _login(page)
        page.goto(reverse("policies:violation_detail", args=[world["root"].pk]))
        _no_sideways_scroll(page, width)
        page.evaluate("window.__stay = 1")
        page.select_option("#assign-form select[name=assignee]", label="sec")
        page.click("#assign-form button[type=submit]")
        page.wait_for_selector("#assignee >> text=sec")
        page.fill("#comment-form textarea[name=text]", "Checked the pickle: it calls os.system.")
        page.click("#comment-form button[type=submit]")
        page.wait_for_selector("#comments >> text=it calls os.system")
        assert page.evaluate("window.__stay") == 1  # swapped in place, no reload
        page.click("#comment-form button[type=submit]")  # empty: the error in place, announced
        page.wait_for_selector("#comment-form [role=alert]")
        assert "This field is required" in page.inner_text("#comment-form")
        assert TriageItem.objects.get().assignee.username == "sec"
        assert TriageComment.objects.count() == 1
        _no_sideways_scroll(page, width)
    finally:
        context.close()


def test_dismiss_without_javascript(browser, live_server, world, width):
    context = _context(browser, live_server, width, js=False)
    page = context.new_page()
    try:
        _login(page)
        page.goto(reverse("policies:violation_detail", args=[world["root"].pk]))
        page.select_option("#dismiss-form select[name=dismiss_reason]", "accepted_risk")
        page.fill("#dismiss-form textarea[name=note]", "The business accepts it.")
        page.click("#dismiss-form button[type=submit]")
        page.wait_for_selector("#dismiss-form [role=alert]")
        assert "request a waiver instead" in page.inner_text("#dismiss-form")
        _no_sideways_scroll(page, width)
        page.select_option("#dismiss-form select[name=dismiss_reason]", "false_positive")
        page.fill("#dismiss-form textarea[name=note]", "The finding is in a test fixture.")
        page.click("#dismiss-form button[type=submit]")
        page.wait_for_selector("#reopen-form")
        assert "False positive" in page.inner_text("#dismissed")
        page.goto(LIST + "?dismissed=hide")
        assert page.locator("#triage-table tbody tr[id^=violation-]").count() == 1
        _no_sideways_scroll(page, width)
    finally:
        context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_bulk_assign(browser, live_server, world, width, js):
    context = _context(browser, live_server, width, js=js)
    page = context.new_page()
    try:
        _login(page)
        page.goto(LIST)
        page.click("#bulk summary")
        for box in page.locator("#triage-table tbody input[name=ids]").all():
            box.check()
        page.select_option("#bulk-triage select[name=assignee]", label="sec")
        page.click("#bulk-triage button[value=assign]")
        page.wait_for_selector("text=Assign: 2 row(s)")
        cells = page.locator("#triage-table tbody tr td:nth-child(9)").all_inner_texts()
        assert cells == ["sec", "sec"]
        assert TriageItem.objects.filter(assignee__username="sec").count() == 2
        _no_sideways_scroll(page, width)
    finally:
        context.close()
