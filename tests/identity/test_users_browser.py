"""An administrator creates a user with a global role and an organization membership in the browser
(an invalid submission first: the error shows in place), then that user logs in and sees the role's
navigation. The same pages without JavaScript, at 400 px wide."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from core import roles
from identity import accounts
from identity.models import Membership
from tests import factories as f
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "newcomer-passphrase-1"


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("header .userbox")


def nav_labels(page) -> list[str]:
    return page.eval_on_selector_all("nav.mainnav a", "els => els.map(e => e.textContent.trim())")


def fill_new_user(page, password: str, org_name: str) -> None:
    page.fill("#id_username", "newcomer")
    page.fill("#id_first_name", "New")
    page.fill("#id_email", "newcomer@example.com")
    page.check("input[name=roles][value='legal reviewer']")
    page.select_option("#id_organization", label=org_name)
    page.select_option("#id_organization_role", roles.ARCHITECT)
    page.check("input[name=access][value=password]")
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)


def test_admin_creates_a_user_who_then_sees_the_roles_navigation(page):
    UserFactory(username="boss", role=roles.ADMINISTRATOR)
    org = f.OrganizationFactory(name="Acme Research")
    log_in(page, "boss", PASSWORD)
    page.click("header .userbox >> text=Users")
    page.wait_for_selector("h1:has-text('Users')")
    page.click("text=New user")
    page.wait_for_selector("h1:has-text('New user')")

    fill_new_user(page, "short", org.name)
    page.click("#user-form button[type=submit]")
    error = page.wait_for_selector("#id_password1_error, #user-form .errorlist")
    assert "at least 12 characters" in page.inner_text("#user-form")
    assert page.url.endswith("/identity/users/new/")  # swapped in place, no navigation
    assert page.locator("h1").count() == 1 and error.is_visible()
    assert page.input_value("#id_username") == "newcomer"  # what was typed is kept
    assert page.get_attribute("#id_password1", "aria-invalid") == "true"
    assert not get_user_model().objects.filter(username="newcomer").exists()

    page.fill("#id_password1", NEW_PASSWORD)
    page.fill("#id_password2", NEW_PASSWORD)
    page.click("#user-form button[type=submit]")
    page.wait_for_selector("h1:has-text('newcomer')")
    assert "Acme Research" in page.inner_text("#user-memberships")
    user = get_user_model().objects.get(username="newcomer")
    assert [g.name for g in user.groups.all()] == [roles.LEGAL_REVIEWER]
    assert Membership.objects.get(user=user).organization == org

    page.click("text=Log out")
    page.wait_for_selector("#id_username")
    log_in(page, "newcomer", NEW_PASSWORD)
    labels = nav_labels(page)
    assert "Legal queue" in labels and "Licenses" in labels  # the legal reviewer's pages
    assert page.locator("header .userbox >> text=Users").count() == 0  # not an administrator
    response = page.goto("/identity/users/")
    assert response is not None and response.status == 403


WIDEST = """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 401)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def test_without_javascript_at_400px(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 400, "height": 800}, java_script_enabled=False
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        boss = UserFactory(username="boss", role=roles.ADMINISTRATOR)
        org = f.OrganizationFactory(name="Acme Research")
        team = accounts.create_team(actor=boss, name="Machine learning platform engineering")
        accounts.add_membership(actor=boss, organization=org, role=roles.SECURITY_REVIEWER, team=team)
        log_in(page, "boss", PASSWORD)
        page.goto("/identity/users/new/")
        fill_new_user(page, NEW_PASSWORD, org.name)
        page.fill("#id_password2", "something-else-entirely")
        page.click("#user-form button[type=submit]")
        page.wait_for_selector("h1:has-text('New user')")
        assert "The two passwords differ" in page.inner_text("#user-form")
        page.fill("#id_password1", NEW_PASSWORD)
        page.fill("#id_password2", NEW_PASSWORD)
        page.click("#user-form button[type=submit]")
        page.wait_for_selector("h1:has-text('newcomer')")
        user = get_user_model().objects.get(username="newcomer")
        page.select_option("#id_organization", label=org.name)
        page.select_option("#id_role", roles.MANAGER)
        page.click("#membership-form button[type=submit]")
        page.wait_for_selector("#user-memberships td:has-text('manager')")
        assert Membership.objects.filter(user=user).count() == 2

        for url in [
            "/identity/users/",
            "/identity/users/new/",
            f"/identity/users/{user.pk}/",
            "/identity/users/teams/",
            f"/identity/users/teams/{team.pk}/",
        ]:
            page.goto(url)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 400, f"{url} is {width} px wide: {page.evaluate(WIDEST)}"
    finally:
        context.close()
