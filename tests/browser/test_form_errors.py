"""Invalid input shows its message in place, with JavaScript on (htmx swaps the 422) and off.

One test per form: import, inline waiver, violation-page waiver, license conclusion, policy save,
version decide. The error is announced (role=alert) and the first invalid field has the focus.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from core import roles
from tests.factories import UserFactory
from tests.ui.conftest import violation  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


@pytest.fixture
def admin(db):
    return UserFactory(username="boss", role=roles.ADMINISTRATOR)


@pytest.fixture
def nojs_page(browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def _login(page, username: str = "boss") -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.mainnav")


def _focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def _sees_error(page, scope: str, text: str, field_id: str, *, js: bool = True) -> None:
    alert = page.wait_for_selector(f"{scope} [role=alert]")
    assert text in page.inner_text(scope)
    assert page.get_attribute(f"#{field_id}", "aria-invalid") == "true"
    assert alert.is_visible()
    if js:
        page.wait_for_function(f"document.activeElement && document.activeElement.id === '{field_id}'")


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_import_form(request, admin, js):
    page = request.getfixturevalue("page" if js else "nojs_page")
    _login(page)
    page.goto(reverse("inventory:import"))
    page.click("#import-area button[type=submit]")
    _sees_error(page, "#import-area", "Give a repository id", "id_repo_id", js=js)
    assert _focused_id(page) == "id_repo_id"  # autofocus, honoured on page load and after an htmx swap


def test_inline_waiver_form(page, admin, violation):  # noqa: F811
    _login(page)
    page.goto(reverse("policies:violation_list"))
    page.click(f"#violation-{violation.pk} >> text=Waive…")
    page.wait_for_selector(f"#violation-{violation.pk} select[name=preset]")
    page.select_option(f"#violation-{violation.pk} select[name=preset]", "7")
    page.click(f"#violation-{violation.pk} button[type=submit]")
    _sees_error(page, f"#violation-{violation.pk}", "This field is required", "id_reason")


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_violation_page_waiver_form(request, admin, violation, js):  # noqa: F811
    page = request.getfixturevalue("page" if js else "nojs_page")
    _login(page)
    page.goto(reverse("policies:violation_detail", args=[violation.pk]))
    page.click("text=Request a waiver")
    page.wait_for_selector("h1:has-text('Request a waiver')")
    page.select_option("select[name=preset]", "7")
    page.click("main button[type=submit]")
    _sees_error(page, "main", "This field is required", "id_reason", js=js)
    assert _focused_id(page) == "id_reason"


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_license_conclusion_form(request, admin, violation, js):  # noqa: F811
    page = request.getfixturevalue("page" if js else "nojs_page")
    _login(page)
    page.goto(reverse("licenses:review", args=[violation.version_id]))
    page.click("#conclusions button[type=submit]")
    _sees_error(page, "#conclusions", "This field is required", "id_comment", js=js)


def test_policy_save_form(page, admin):
    _login(page)
    page.goto(reverse("policies:policy_create"))
    page.click("#policy-form button.btn-primary[type=submit]")
    _sees_error(page, "#policy-form", "This field is required", "id_name")


def test_version_decide_form(page, admin, violation):  # noqa: F811
    _login(page)
    page.goto(reverse("policies:version_review", args=[violation.version_id]))
    page.click("button[name=decision][value=reject]")
    _sees_error(page, "main", "This field is required", "id_reason")
