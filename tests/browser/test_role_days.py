"""Each role's working day in Chromium: land on "my work", follow a count to its list, do the role's core
decision with an invalid input first (the message is visible), then a valid one (the result is visible).

1366 px wide unless said otherwise; the administrator walks at 400 px; the legal and security reviewers'
core forms also run with JavaScript disabled. No silent failure: every step asserts on visible text.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from core import roles
from governance.overview import refresh_rollups
from inventory.models import Model
from licenses import services as license_services
from licenses.choices import ThreatGroup
from policies.models import Policy, Violation
from tests import factories as f
from tests.factories import UserFactory
from tests.policies.conftest import make_policy, make_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 400, "height": 800}


def _page(browser, live_server, *, js: bool = True, viewport=DESKTOP):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, java_script_enabled=js, viewport=viewport)
    context.set_default_timeout(15_000)
    return context, context.new_page()


@pytest.fixture
def open_page(browser, live_server):  # type: ignore[no-untyped-def]
    contexts = []

    def make(**kwargs):  # type: ignore[no-untyped-def]
        context, page = _page(browser, live_server, **kwargs)
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()


def _login(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _no_horizontal_overflow(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide"


def _queued_version(repo_id: str):  # type: ignore[no-untyped-def]
    """A version whose license waits in the legal queue (custom license terms)."""
    analysis = f.LicenseAnalysisFactory(
        version=f.ModelVersionFactory(model=f.ModelFactory(repo_id=repo_id)),
        declared="other",
        effective="other",
        effective_ids=["other"],
        is_other=True,
        threat_group=ThreatGroup.UNKNOWN,
        needs_review=True,
        risk=70,
    )
    Model.objects.filter(pk=analysis.version.model_id).update(latest_version=analysis.version)
    return analysis.version


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_legal_reviewer_day(open_page, js):
    license_services.seed_catalog_if_empty()
    Policy.objects.all().delete()
    UserFactory(username="lena", role=roles.LEGAL_REVIEWER)
    version = _queued_version("lab/custom-terms-7b")
    page = open_page(js=js)

    _login(page, "lena")
    assert page.url.endswith("/work/")  # the landing after login
    assert page.inner_text("nav.mainnav a >> nth=0") == "My work"
    legal = page.locator("#work-legal")
    assert legal.locator("[data-count]").inner_text() == "1"
    assert "lab/custom-terms-7b" in legal.inner_text()
    legal.locator("text=Open the list →").click()
    page.wait_for_url("**/licenses/**")
    page.click(f"a[href='{reverse('licenses:review', args=[version.pk])}'] >> nth=0")
    page.wait_for_selector("#conclusions")

    # Invalid first: a license that is not in the catalog.
    page.select_option("#conclusions select[name=status]", "overridden")
    page.fill("#conclusions input[name=license_expression]", "made-up-license-9")
    page.fill("#conclusions textarea[name=comment]", "Vendor terms read; treating as proprietary.")
    page.click("#conclusions button[type=submit]:has-text('Record conclusion')")
    alert = page.wait_for_selector("#conclusions [role=alert]")
    assert alert.is_visible()
    assert "Not in the catalog: made-up-license-9" in page.inner_text("#conclusions")

    # Then valid: confirm the detected license.
    page.select_option("#conclusions select[name=status]", "confirmed")
    page.fill("#conclusions input[name=license_expression]", "")
    page.fill("#conclusions textarea[name=comment]", "Custom terms allow internal use; confirmed.")
    page.click("#conclusions button[type=submit]:has-text('Record conclusion')")
    page.wait_for_selector("#conclusions td:has-text('Custom terms allow internal use; confirmed.')")
    if not js:
        assert "Conclusion recorded." in page.inner_text("#toasts")
    assert page.query_selector("#conclusions [role=alert]") is None

    # Back on "my work" the queue is empty and says so.
    page.goto(reverse("governance:work"))
    assert page.locator("#work-legal [data-count]").inner_text() == "0"
    assert "Nothing waiting" in page.inner_text("#work-legal")


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_security_reviewer_day(open_page, js):
    Policy.objects.all().delete()
    UserFactory(username="sam", role=roles.SECURITY_REVIEWER)
    version = _queued_version("acme/awaiting-7b")
    page = open_page(js=js)

    _login(page, "sam")
    assert page.url.endswith("/work/")
    approvals = page.locator("#work-approvals")
    assert approvals.locator("[data-count]").inner_text() == "1"
    approvals.locator(f"text={version.short_commit}").click()
    page.wait_for_selector("#legal-open-warning")
    assert "The legal review of this version is open." in page.inner_text("#legal-open-warning")

    # Approve without the confirmation: refused, with the reason next to the checkbox.
    page.fill("textarea[name=reason]", "Scanned clean; safetensors only.")
    page.click("button[name=decision][value=approve]")
    page.wait_for_selector("main [role=alert]")
    assert "The legal review of this version is open" in page.inner_text("main [role=alert]")
    assert page.get_attribute("#id_despite_open_legal_review", "aria-invalid") == "true"
    version.refresh_from_db()
    assert version.review_status == "pending"

    # With the explicit confirmation: approved, and the page says so.
    page.fill("textarea[name=reason]", "Scanned clean; safetensors only.")
    page.check("#id_despite_open_legal_review")
    page.click("button[name=decision][value=approve]")
    page.wait_for_selector("#toasts:has-text('approved')")
    assert "Approved" in page.inner_text("h1")
    version.refresh_from_db()
    assert version.review_status == "approved"


def test_architect_day(open_page):
    Policy.objects.all().delete()
    UserFactory(username="ari", role=roles.ARCHITECT)
    policy = make_policy("Few downloads", value=100)
    matching = [make_version(downloads=3), make_version(downloads=7)]
    make_version(downloads=50_000)
    page = open_page()

    _login(page, "ari")
    assert page.url.endswith("/work/")
    assert "You have not imported anything yet." in page.inner_text("#work-imports")
    page.click("nav.mainnav >> text=Policies")
    page.click(f"a[href='{policy.get_absolute_url()}'] >> nth=0")
    page.click("text=Edit")
    page.wait_for_selector("#policy-form")

    page.fill("#id_threat_level", "11")  # invalid: the scale ends at 10
    page.click("#policy-form button.btn-primary[type=submit]")
    page.wait_for_selector("#policy-form [role=alert]")
    assert "less than or equal to 10" in page.inner_text("#policy-form")

    page.fill("#id_threat_level", "6")
    page.click("#policy-form button:has-text('Preview impact')")
    page.wait_for_selector("#impact:has-text('2 versions match')")
    listed = page.inner_text("#impact")
    for v in matching:
        assert f"{v.model.repo_id}@{v.short_commit}" in listed

    page.click("#policy-form button.btn-primary[type=submit]")
    page.wait_for_selector("#toasts:has-text('Saved Few downloads')")
    policy.refresh_from_db()
    assert policy.threat_level == 6


def test_manager_day(open_page):
    Policy.objects.all().delete()
    UserFactory(username="meg", role=roles.MANAGER)
    policy = f.PolicyFactory(name="Critical pickle", conditions=[], threat_level=9)
    for i in range(3):
        f.ViolationFactory(policy=policy, version=f.ModelVersionFactory(model=f.ModelFactory(repo_id=f"acme/m{i}")))
    refresh_rollups()
    page = open_page()

    _login(page, "meg")
    page.wait_for_url("**/overview/")  # no queue of their own: the overview is the landing
    assert "My work" not in page.inner_text("nav.mainnav")
    count = page.inner_text(".stat:has-text('Open violations') .value")
    assert count == str(Violation.objects.filter(state="open").count()) == "3"
    page.click(".stat:has-text('Open violations') .value a")
    page.wait_for_url("**/policies/violations/**")
    rows = page.locator("#results tbody tr[id^='violation-']")
    assert rows.count() == int(count)  # the drill-down shows as many rows as the count said
    assert "acme/m0" in page.inner_text("#results")


def test_administrator_day_at_400px(open_page):
    Policy.objects.all().delete()
    UserFactory(username="ada", role=roles.ADMINISTRATOR)
    app = f.ApplicationFactory(name="Support bot")
    page = open_page(viewport=PHONE)

    _login(page, "ada")
    assert page.url.endswith("/work/")
    assert page.is_visible("h1:has-text('My work')")
    for key in ("legal", "waivers", "violations", "imports", "approvals"):
        assert page.is_visible(f"#work-{key}")
    _no_horizontal_overflow(page)
    assert not page.is_visible("nav.mainnav")  # narrow: the links are behind "Menu"
    page.click("details.mobilenav summary")
    page.click("details.mobilenav >> text=Applications")
    page.wait_for_url("**/inventory/applications/**")
    page.click(f"a[href='{app.get_absolute_url()}'] >> nth=0")
    page.click("text=CI gate")
    page.wait_for_selector("h1:has-text('CI gate · Support bot')")
    assert re.search(r"/identity/applications/\d+/gate/$", page.url)
    _no_horizontal_overflow(page)


def test_compare_revisions_without_javascript_at_400px(open_page):
    Policy.objects.all().delete()
    UserFactory(username="sec2", role=roles.SECURITY_REVIEWER)
    model = f.ModelFactory(repo_id="acme/two-revs")
    old = f.ModelVersionFactory(model=model, commit="a" * 40)
    new = f.ModelVersionFactory(model=model, commit="b" * 40)
    f.ModelFileFactory(version=old, path="model.safetensors", sha256="1" * 64)
    f.ModelFileFactory(version=new, path="model.safetensors", sha256="2" * 64)
    f.ModelFileFactory(version=new, path="tokenizer.json", sha256="3" * 64)
    page = open_page(js=False, viewport=PHONE)

    _login(page, "sec2")
    page.goto(reverse("inventory:version_detail", args=[new.pk]))
    page.click("#compare-previous")
    page.wait_for_selector("#diff-files")
    assert "tokenizer.json" in page.inner_text("#diff-files") and "added" in page.inner_text("#diff-files")
    _no_horizontal_overflow(page)
    # The two selects are a plain GET form: the same revision twice is a visible error.
    page.select_option("#diff-from", new.short_commit)
    page.click("button:has-text('Compare')")
    page.wait_for_selector("[role=alert]:has-text('Pick two different revisions.')")
