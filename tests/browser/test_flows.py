"""The htmx pages really work in a browser: log in, import a model, see it in the list, open it."""

from __future__ import annotations

import pytest

from core import roles
from tests.factories import UserFactory
from tests.hubserver.repos import tiny_bert_repo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def _login(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.mainnav")


def test_login_import_list_and_open(page, hub_env):
    UserFactory(username="reviewer", role=roles.SECURITY_REVIEWER)
    tiny_bert_repo("browser/tiny-bert").add_to(hub_env)

    _login(page, "reviewer")
    page.click("nav.mainnav >> text=Inventory")
    page.wait_for_url("**/inventory/")
    page.click("text=Import a model")
    page.fill("#id_repo_id", "browser/tiny-bert")
    page.click("#import-area button[type=submit]")
    # htmx swaps in the live status; it polls until the job is done, then links the version.
    link = page.wait_for_selector("#version-link")
    assert "browser/tiny-bert@" in link.inner_text()
    assert "/inventory/imports/" in page.url  # hx-push-url

    page.click("nav.mainnav >> text=Inventory")
    page.fill("input[name=q]", "tiny")
    page.wait_for_selector("#results >> text=browser/tiny-bert")
    page.click("#results >> text=browser/tiny-bert")
    page.wait_for_selector("h1:has-text('browser/tiny-bert')")
    page.click("text=Versions >> xpath=following::a[contains(@class,'sha')][1]")
    page.wait_for_selector("text=model.safetensors")


def test_wrong_password_is_refused(page):
    UserFactory(username="someone", role=roles.MANAGER)
    page.goto("/accounts/login/")
    page.fill("#id_username", "someone")
    page.fill("#id_password", "wrong-password")
    page.click("button[type=submit]")
    page.wait_for_selector("text=didn't match")
    page.goto("/inventory/")
    assert "/accounts/login/" in page.url
