"""In a real Chromium: the scan panel's Rescan button swaps the panel through htmx; the scan run page renders."""

from __future__ import annotations

import pytest

from core import roles
from scanning.models import ScanRun
from tests.factories import UserFactory
from tests.hubserver.repos import malicious_pickle_bytes, safetensors_bytes
from tests.scanning.test_services import local_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def _login(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.mainnav")


def test_scan_now_from_the_version_page(page, tmp_path):
    UserFactory(username="sec", role=roles.SECURITY_REVIEWER)
    version = local_version(
        tmp_path, {"model.safetensors": safetensors_bytes(), "pytorch_model.bin": malicious_pickle_bytes("true")}
    )
    _login(page, "sec")
    page.goto(version.get_absolute_url())
    page.wait_for_selector("#scan-panel >> text=not been scanned")
    page.click("#scan-panel >> button:has-text('Scan now')")
    # htmx swaps the panel in place (the eager task has run on commit): verdict and findings appear.
    page.wait_for_selector("#scan-panel .badge-malicious")
    page.wait_for_selector("#scan-panel >> text=os.system")
    assert ScanRun.objects.filter(version=version).count() == 1
    assert "/inventory/versions/" in page.url  # no navigation: a swap
    page.screenshot(path=str(tmp_path / "version.png"), full_page=True)
    page.click("#scan-panel >> text=History")
    page.wait_for_selector("#results >> text=Malicious")
    page.click("#results a >> nth=0")
    page.wait_for_selector("h1:has-text('Scan #')")
    page.select_option("select[name=category]", "network")
    page.wait_for_url("**category=network**")  # hx-push-url keeps the filter in the address bar
    page.wait_for_selector("#findings >> text=No findings match these filters")
    page.select_option("select[name=category]", "process")
    page.wait_for_selector("#findings >> text=pickle.global.denied")
    page.screenshot(path=str(tmp_path / "scanrun.png"), full_page=True)
