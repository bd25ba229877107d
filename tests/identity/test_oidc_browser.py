"""Issue 12, single sign-on in a real Chromium: Modelgate's login page → the provider's login form → back
in Modelgate, signed in with the roles of the user's groups (the test OIDC provider in a second process)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from identity.models import Membership

pytestmark = pytest.mark.browser


def test_sign_in_with_the_identity_provider_in_a_browser(page, live_server, sso):
    from playwright.sync_api import expect

    from tests import factories as f

    f.OrganizationFactory(slug="acme")
    sso.user("ivy", ["mg-architects", "acme-legal"])
    page.set_viewport_size({"width": 400, "height": 800})

    page.goto("/accounts/login/")
    button = page.get_by_role("link", name="Sign in with Test IdP")
    expect(button).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # fits a narrow screen
    button.click()

    expect(page).to_have_url(re.compile(re.escape(sso.url) + r"/accounts/login/"))
    page.fill("#op-username", "ivy")
    page.fill("#op-password", "op-password-1")
    page.click("#op-submit")

    expect(page).to_have_url(re.compile(re.escape(live_server.url) + r"/(?!accounts/login)"))
    expect(page.get_by_text("ivy", exact=False).first).to_be_visible()
    ivy = get_user_model().objects.get(username="ivy")
    assert set(ivy.groups.values_list("name", flat=True)) == {"architect"}
    assert Membership.objects.filter(user=ivy, organization__slug="acme", role="legal reviewer").exists()


def test_the_sso_only_login_page_in_a_browser(page, live_server, sso, settings):
    from playwright.sync_api import expect

    settings.MODELGATE_LOCAL_LOGIN = False
    page.set_viewport_size({"width": 400, "height": 800})
    page.goto("/accounts/login/")
    expect(page.get_by_role("link", name="Sign in with Test IdP")).to_be_visible()
    expect(page.locator("input[name=password]")).to_have_count(0)


def test_log_out_also_at_the_provider_in_a_browser(page, live_server, sso, settings):
    """RP-initiated logout: the page's CSP must let the logout form's redirect reach the provider (the
    form-action origin that governance/settings.py adds with MODELGATE_OIDC_LOGOUT=1; see test_sso_login)."""
    from playwright.sync_api import expect

    settings.MODELGATE_OIDC_LOGOUT = True
    settings.OIDC_STORE_ID_TOKEN = True
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {**directives, "form-action": [*directives["form-action"], sso.url]}
    }
    sso.user("jack", ["mg-architects"])
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.fill("#op-username", "jack")
    page.fill("#op-password", "op-password-1")
    page.click("#op-submit")
    expect(page).to_have_url(re.compile(re.escape(live_server.url) + r"/(?!accounts/login)"))

    page.get_by_role("button", name="Log out").first.click()

    expect(page).to_have_url(re.compile(re.escape(live_server.url) + r"/accounts/login/"))
    # Signed out at the provider too: signing in again asks for the password there.
    page.get_by_role("link", name="Sign in with Test IdP").click()
    expect(page).to_have_url(re.compile(re.escape(sso.url) + r"/accounts/login/"))
