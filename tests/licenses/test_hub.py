"""End to end through the local Hub server: import, read license files over HTTP, attribute."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tests.licenses.repos import readme, text

pytestmark = pytest.mark.django_db


def test_licenses_command_imports_and_reads_files_from_the_hub(hub_env):
    card = readme(
        {"license": "apache-2.0", "base_model": "meta-llama/Llama-2-7b-hf", "pipeline_tag": "text-generation"},
        "# Support bot\n\nA support-desk fine-tune of Llama 2 7B.\n",
    )
    hub_env.add_repo(
        "acme-licenses/support-ft",
        {
            "config.json": b'{"model_type": "llama"}',
            "LICENSE": text("llama2").encode(),
            "USE_POLICY.md": text("llama2-aup").encode(),
        },
        card=card,
    )
    out = StringIO()
    call_command("licenses", "acme-licenses/support-ft", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["declared"] == "apache-2.0"
    assert {(o["path"], o["license"], o["match"]) for o in data["observed"]} >= {
        ("LICENSE", "llama2", "exact"),
        ("USE_POLICY.md", "llama2-aup", "policy"),
    }
    assert data["inherited"] == [{"license": "llama2", "from": "meta-llama/Llama-2-7b-hf"}]
    assert data["effective"] == "llama2" and data["conflict"] is True
    assert any("declared apache-2.0 but LICENSE is the llama2 text" in c for c in data["conflicts"])


def _analyse_through_command(repo_id: str) -> dict:
    out = StringIO()
    call_command("licenses", repo_id, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_a_base_that_is_not_imported_passes_down_its_hub_card(hub_env, settings):
    """The base is never imported: its card metadata is read through the Hub adapter (real client, local Hub),
    cached, and named as the source."""
    from licenses.models import HubCardLicense

    settings.MODELGATE_LICENSE_HUB_LOOKUP = True
    hub_env.add_repo(
        "meta-llama-mirror/Llama-3.1-8B",
        {"config.json": b'{"model_type": "llama"}', "LICENSE": text("llama3.1").encode()},
        card=readme({"license": "llama3.1", "pipeline_tag": "text-generation"}, "# Llama 3.1 8B\n"),
    )
    hub_env.add_repo(
        "acme-licenses/helper-8b",
        {"config.json": b'{"model_type": "llama"}', "LICENSE": text("mit").encode()},
        card=readme({"license": "mit", "base_model": "meta-llama-mirror/Llama-3.1-8B"}, "# Helper\n"),
    )
    data = _analyse_through_command("acme-licenses/helper-8b")
    assert data["inherited"] == [{"license": "llama3.1", "from": "Hub card of meta-llama-mirror/Llama-3.1-8B"}]
    assert data["effective"] == "mit AND llama3.1"
    row = HubCardLicense.objects.get(repo_id="meta-llama-mirror/Llama-3.1-8B")
    assert row.found and row.license == "llama3.1" and len(row.commit) == 40
    from inventory.models import ModelVersion

    assert not ModelVersion.objects.filter(model__repo_id="meta-llama-mirror/Llama-3.1-8B").exists()
    # a second analysis reads the cache, not the Hub
    hub_env.requests.clear()
    from licenses import services

    version = ModelVersion.objects.get(model__repo_id="acme-licenses/helper-8b")
    services.analyse_version(version_id=version.pk)
    assert not [r for r in hub_env.requests if "meta-llama-mirror" in r.path]


def test_a_base_the_hub_does_not_know_stays_unknown(hub_env, settings):
    settings.MODELGATE_LICENSE_HUB_LOOKUP = True
    hub_env.add_repo(
        "acme-licenses/orphan-ft",
        {"config.json": b"{}", "LICENSE": text("apache-2.0").encode()},
        card=readme({"license": "apache-2.0", "base_model": "someone-gone/deleted-base"}, "# Orphan\n"),
    )
    data = _analyse_through_command("acme-licenses/orphan-ft")
    assert data["inherited"] == [{"license": "unknown", "from": "someone-gone/deleted-base"}]
    assert data["effective"] == "apache-2.0 AND unknown"


def test_hub_card_info_reads_card_metadata_only(hub_env):
    from inventory.hub import HubClient

    hub_env.add_repo(
        "acme-licenses/card-only",
        {"config.json": b"{}", "model.safetensors": b"x" * 2048},
        card=readme({"license": "other", "license_name": "yi-license", "base_model": ["a/b", "c/d"]}, "# Card\n"),
    )
    info = HubClient().card_info("acme-licenses/card-only")
    assert info.card_data["license_name"] == "yi-license" and info.base_models == ["a/b", "c/d"]
    assert len(info.commit) == 40 and "license:other" in info.tags
    [request] = [r for r in hub_env.requests if r.path.startswith("/api/models/acme-licenses/card-only")]
    assert "cardData" in (request.query.get("expand") or request.query.get("expand[]") or [])
