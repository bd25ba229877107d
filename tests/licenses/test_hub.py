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
