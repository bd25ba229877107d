"""In a real Chromium: a legal reviewer works the queue end to end through the htmx pages."""

from __future__ import annotations

import pytest

from core import roles
from inventory.models import ApplicationModel
from licenses import services
from licenses.models import LicenseConclusion, ObligationStatus
from tests.factories import ApplicationFactory, OrganizationFactory, UserFactory
from tests.licenses.repos import make_version, mit, text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def test_legal_reviewer_works_the_queue(page, tmp_path):
    services.seed_catalog_if_empty()
    UserFactory(username="lawyer", role=roles.LEGAL_REVIEWER)
    app = ApplicationFactory(organization=OrganizationFactory(), name="Support bot", commercial_use=True)
    bad = make_version(tmp_path, "acme/chat-7b", card={"license": "apache-2.0"}, files={"LICENSE": text("llama2")})
    clean = make_version(tmp_path, "acme/tiny", card={"license": "mit"}, files={"LICENSE": mit()})
    for v in (bad, clean):
        services.analyse_version(version_id=v.pk)
    ApplicationModel.objects.create(application=app, version=bad)

    page.goto("/accounts/login/")
    page.fill("#id_username", "lawyer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.mainnav")
    page.goto("/licenses/")
    page.wait_for_selector("#results >> text=acme/chat-7b")
    assert page.locator("#results >> text=acme/tiny").count() == 0
    # htmx filter: swaps the results only
    page.select_option("select[name=conflict]", "false")
    page.wait_for_selector("#results >> text=Nothing to review")
    page.select_option("select[name=conflict]", "true")
    page.wait_for_selector("#results >> text=acme/chat-7b")
    page.click("#results >> text=acme/chat-7b")
    page.wait_for_selector("h1:has-text('Licenses of acme/chat-7b')")
    page.wait_for_selector("text=declared apache-2.0 but LICENSE is the llama2 text")
    # evidence opens in place with the matched lines highlighted
    page.click("#observed-title >> xpath=following::a[1]")
    page.wait_for_selector("#evidence-view .lines .hl")
    assert "LLAMA 2 COMMUNITY LICENSE" in page.inner_text("#evidence-view")
    # conclude (htmx swap of the conclusions card)
    page.select_option("select[name=status]", "confirmed")
    page.fill("textarea[name=comment]", "The shipped Llama 2 text governs.")
    page.click("#conclusions button[type=submit]")
    page.wait_for_selector("#conclusions >> text=The shipped Llama 2 text governs.")
    assert LicenseConclusion.objects.get().status == "confirmed"
    # the obligation checklist of the application
    page.click("text=Support bot")
    page.wait_for_selector("h1:has-text('License obligations of Support bot')")
    row = page.locator("#checklist tr", has_text="attribution-notice")
    row.locator("select[name=status]").select_option("fulfilled")
    row.locator("input[name=note]").fill("NOTICE shipped in the app bundle")
    with page.expect_response(lambda r: "/checklist/" in r.url and r.request.method == "POST"):
        row.locator("button[type=submit]").click()
    page.wait_for_selector(
        "#checklist tr:has-text('attribution-notice') option[value=fulfilled][selected]", state="attached"
    )
    assert ObligationStatus.objects.get().status == "fulfilled"
    page.click("text=Attribution report")
    page.wait_for_selector("text=Llama 2 is licensed under the LLAMA 2 Community License")
