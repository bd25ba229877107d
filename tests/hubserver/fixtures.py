"""pytest plugin: the local Hub server and a per-test environment pointing Modelgate at it.

Registered by ``tests/conftest.py`` with ``pytest_plugins = ["tests.hubserver.fixtures"]``.

* ``hub_server`` (session): a started :class:`~tests.hubserver.server.HubServer` on 127.0.0.1.
  Repos persist for the session — use unique repo ids per test.
* ``hub_env`` (function): points ``settings.HF_ENDPOINT``/``HF_TOKEN``/``HF_TIMEOUT``/
  ``MODELGATE_DOWNLOAD_DIR`` (and the ``HF_*`` environment variables) at the server, resets injected
  faults and the request log, and clears Hub caches before and after the test. Yields the server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hubserver.server import TEST_TOKEN, HubServer


def _clear_hub_caches() -> None:
    try:
        from inventory import hub
    except ImportError:  # pragma: no cover - inventory.hub not importable yet
        return
    clear = getattr(hub, "clear_caches", None)
    if clear is not None:
        clear()


@pytest.fixture(scope="session")
def hub_server() -> Iterator[HubServer]:
    server = HubServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hub_env(hub_server: HubServer, settings, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[HubServer]:
    settings.HF_ENDPOINT = hub_server.endpoint
    settings.HF_TOKEN = TEST_TOKEN
    settings.HF_TIMEOUT = 5.0
    settings.MODELGATE_DOWNLOAD_DIR = tmp_path / "hub-downloads"
    # Environment too, for worker subprocesses started during the test (they read governance.settings).
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("HF_TIMEOUT", "5")
    monkeypatch.setenv("MODELGATE_DOWNLOAD_DIR", str(settings.MODELGATE_DOWNLOAD_DIR))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub_server.reset_faults()
    _clear_hub_caches()
    try:
        yield hub_server
    finally:
        hub_server.reset_faults()
        _clear_hub_caches()
