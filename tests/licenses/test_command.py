from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tests.licenses.repos import mit, text

pytestmark = pytest.mark.django_db

# The DESIGN.md contract, plus the added `scopes` ({"weights", "code"} when a repo splits them, else {}).
KEYS = {
    "declared",
    "declared_name",
    "observed",
    "inherited",
    "effective",
    "obligations",
    "conflict",
    "conflicts",
    "scopes",
}


def run(*args: str) -> dict:
    out = StringIO()
    call_command("licenses", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_json_contract(repo):
    base = repo("meta-llama/Meta-Llama-3-8B", card={"license": "llama3"}, files={"LICENSE": text("llama3")})
    v = repo("acme/helpful-8b", card={"license": "mit"}, files={"LICENSE": mit()}, bases=[(base.model, "finetune")])
    data = run("acme/helpful-8b")
    assert set(data) == KEYS
    assert data["declared"] == "mit" and data["declared_name"] is None
    assert data["observed"] == [{"path": "LICENSE", "license": "mit", "match": "exact", "score": 1.0}]
    assert data["inherited"] == [{"license": "llama3", "from": "meta-llama/Meta-Llama-3-8B"}]
    assert data["effective"] == "mit AND llama3"
    assert data["scopes"] == {}
    assert "naming-requirement" in data["obligations"] and data["conflict"] is True
    assert run(f"acme/helpful-8b@{v.commit[:10]}") == data


def test_other_with_name_and_gated_prompt(repo):
    repo(
        "acme/custom",
        card={
            "license": "other",
            "license_name": "acme-eula",
            "extra_gated_prompt": "You agree to the Llama 3.1 Community License.",
        },
    )
    data = run("acme/custom")
    assert data["declared"] == "other" and data["declared_name"] == "acme-eula"
    assert {
        "path": "README.md#extra_gated_prompt",
        "license": "llama3.1",
        "match": "gated-prompt",
        "score": 0.7,
    } in data["observed"]


def test_from_dir_and_missing(tmp_path, capsys):
    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# x\n")
    (folder / "LICENSE").write_text(text("apache-2.0"))
    data = run("acme/from-dir", "--from-dir", str(folder))
    assert data["effective"] == "apache-2.0"
    with pytest.raises(SystemExit) as exc:
        call_command("licenses", "acme/missing@abc", "--json", "--from-dir", str(tmp_path / "nope"))
    assert exc.value.code == 1


def test_human_output(repo):
    repo("acme/plain", card={"license": "mit"}, files={"LICENSE": mit()})
    out = StringIO()
    call_command("licenses", "acme/plain", stdout=out)
    assert "effective: mit" in out.getvalue()
