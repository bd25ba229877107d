"""Issue 11, item 4: a Content-Security-Policy (django-csp) and templates that need no inline script or style."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import roles
from tests import factories as f
from tests.factories import UserFactory

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
SCRIPT_WITH_BODY = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.I)
STYLE_ELEMENT = re.compile(r"<style\b", re.I)
JS_URL = re.compile(r"javascript:", re.I)


def _directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/work/", "/overview/", "/inventory/", "/policies/"])
def test_pages_carry_a_strict_policy(client, admin_user, url):
    if url != "/accounts/login/":
        client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 200
    policy = _directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no CDN
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_swagger_ui_is_served_from_our_static_files(client, admin_user):
    """The API docs page: our own scripts only; Swagger UI's inline styles are allowed there alone."""
    client.force_login(admin_user)
    response = client.get("/api/v1/docs/")
    policy = _directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'", "'unsafe-inline'"]
    html = response.content.decode()
    assert "cdn.jsdelivr.net" not in html
    assert not SCRIPT_WITH_BODY.search(re.sub(r"<script[^>]*\bsrc=[^>]*>\s*</script>", "", html))


def test_no_template_has_inline_script_or_style():
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for name, pattern in (
            ("inline handler", INLINE_HANDLER),
            ("inline script", SCRIPT_WITH_BODY),
            ("style attribute", STYLE_ATTRIBUTE),
            ("style element", STYLE_ELEMENT),
            ("javascript: URL", JS_URL),
        ):
            for match in pattern.finditer(text):
                offenders.append(f"{path.relative_to(TEMPLATES)}: {name}: {text[match.start() : match.start() + 60]!r}")
    assert offenders == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_raise_no_csp_violation_in_chromium(page, live_server):
    """Real Chromium reports every CSP violation on the console; the main pages must raise none."""
    UserFactory(username="csp-admin", role=roles.ADMINISTRATOR)
    version = f.ModelVersionFactory()
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text else None
    )
    page.goto("/accounts/login/")
    page.fill("#id_username", "csp-admin")
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")
    diff_url = f"/inventory/models/{version.model_id}/diff/"
    for url in ("/", "/inventory/", version.get_absolute_url(), diff_url, "/policies/", "/policies/violations/",
                "/api/v1/docs/"):  # fmt: skip
        page.goto(url)
        page.wait_for_load_state("networkidle")
    page.goto("/inventory/")
    page.fill("input[name=q]", "nothing-matches")
    page.press("input[name=q]", "Enter")  # an htmx request under the policy
    page.wait_for_load_state("networkidle")
    assert violations == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_delete_confirmation_still_asks_without_an_inline_handler(page, live_server):
    from policies.models import Policy
    from tests.policies.conftest import make_policy

    UserFactory(username="csp-architect", role=roles.ARCHITECT)
    policy = make_policy("Delete me")
    page.goto("/accounts/login/")
    page.fill("#id_username", "csp-architect")
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")
    page.goto(policy.get_absolute_url())
    page.once("dialog", lambda d: d.dismiss())
    page.click("form[data-confirm] button[type=submit]")
    page.wait_for_timeout(300)
    assert Policy.objects.filter(pk=policy.pk).exists()
    page.once("dialog", lambda d: d.accept())
    page.click("form[data-confirm] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert not Policy.objects.filter(pk=policy.pk).exists()
