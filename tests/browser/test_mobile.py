"""At 400 px the navigation is a disclosure with every item, and no main page scrolls sideways."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core import roles
from tests.factories import UserFactory
from tests.ui.conftest import violation  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
PAGES = [
    "/",
    reverse("inventory:model_list"),
    reverse("inventory:import"),
    reverse("inventory:importjob_list"),
    reverse("policies:violation_list"),
    reverse("policies:policy_list"),
    reverse("policies:waiver_list"),
    reverse("licenses:queue"),
]


WIDEST = """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 401)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


@pytest.fixture(params=[True, False], ids=["js", "nojs"])
def narrow_page(request, browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 400, "height": 800}, java_script_enabled=request.param
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def test_narrow_screen_menu_and_no_sideways_scroll(narrow_page, violation):  # noqa: F811
    page = narrow_page
    UserFactory(username="boss", role=roles.ADMINISTRATOR)
    page.goto("/accounts/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("details.mobilenav")
    assert not page.is_visible("nav.mainnav")
    labels = page.eval_on_selector_all("details.mobilenav nav a", "els => els.map(e => e.textContent.trim())")
    assert len(labels) >= 5 and "Inventory" in labels
    page.click("details.mobilenav summary")
    page.click("details.mobilenav >> text=Inventory")
    page.wait_for_url("**/inventory/")
    for url in [*PAGES, reverse("policies:violation_detail", args=[violation.pk])]:
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate(WIDEST)
        assert width <= 400, f"{url} is {width} px wide: {wide}"
