"""The API docs page works offline: Swagger UI comes from our static files, not a CDN."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

STATIC_URL_PREFIX = "/static/"


def _asset_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(
        r"""(?:url|js|css)\s*:\s*["']([^"']+\.(?:js|css|png))["']""", html
    )


def test_docs_page_references_only_same_origin_assets(client_for, manager):
    response = client_for(manager).get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = _asset_urls(html)
    assert any("swagger-ui" in u for u in urls), urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"off-site asset {url}"
    # No CDN anywhere in the page (also catches URLs built inside inline scripts).
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
    # And the referenced static assets really exist.
    statics = [u for u in urls if u.startswith(STATIC_URL_PREFIX)]
    assert statics
    for url in statics:
        assert finders.find(url.removeprefix(STATIC_URL_PREFIX)), f"missing static file {url}"
