"""`gate --dir` verifies a folder downloaded by huggingface_hub exactly as the Hub import recorded it.

The real client downloads from the suite's Hub-compatible server, both into a `local_dir` (which gets
`.cache/huggingface/` metadata next to the files) and into a cache (`snapshots/<sha>/` made of links
into `../../blobs/`). The same repo is imported through the Hub adapter, approved, and the gate asked.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from huggingface_hub import snapshot_download

from inventory import services as inventory_services
from policies import services
from tests.hubserver import TEST_TOKEN
from tests.hubserver.repos import safetensors_bytes, tiny_bert_repo

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(hub_env, security):
    """A repo with nested files and a .gitattributes, imported from the Hub and approved."""
    repo_id = f"gate-dir/bert-{uuid.uuid4().hex[:8]}"
    base = tiny_bert_repo(repo_id)
    files = {
        **base.files,
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
        "onnx/model.safetensors": safetensors_bytes({"w": ("F32", [4, 4])}),
        "tokenizer/vocab.txt": b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n",
    }
    commit = hub_env.add_repo(repo_id, files, card=base.card, downloads=10_000)
    version, created = inventory_services.import_from_hub(repo_id=repo_id, revision=commit)
    assert created and version.commit == commit
    services.approve_version(user=security, version=version, reason="reviewed")
    return hub_env, version


def _download(hub_env, version, **where) -> Path:
    return Path(
        snapshot_download(
            version.model.repo_id,
            revision=version.commit,
            endpoint=hub_env.endpoint,
            token=TEST_TOKEN,
            **where,
        )
    )


def _gate(version, folder: Path) -> tuple[int, dict]:
    out = io.StringIO()
    code = 0
    try:
        call_command(
            "gate",
            f"{version.model.repo_id}@{version.commit}",
            "--stage",
            "release",
            "--dir",
            str(folder),
            stdout=out,
        )
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, json.loads(out.getvalue())


def _tamper(path: Path) -> None:
    """Replace the file's content (through a link: a cache blob is shared, so write a new file instead)."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))


def test_local_dir_download_verifies_and_a_tampered_file_does_not(imported, tmp_path):
    hub_env, version = imported
    folder = _download(hub_env, version, local_dir=tmp_path / "download")
    metadata = list((folder / ".cache" / "huggingface").rglob("*.metadata"))
    assert metadata, "huggingface_hub wrote no local_dir metadata; the test would not test it"
    (folder / "onnx" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # Finder litter after a look at the folder

    code, result = _gate(version, folder)
    assert result["identity"] == {"verified": True, "mismatches": []}
    assert (code, result["action"]) == (0, "none")

    _tamper(folder / "onnx" / "model.safetensors")
    code, result = _gate(version, folder)
    assert code == 1 and result["identity"]["verified"] is False
    assert [(m["path"], m["reason"]) for m in result["identity"]["mismatches"]] == [
        ("onnx/model.safetensors", "hash differs")
    ]


def test_cache_snapshot_verifies_and_a_tampered_file_does_not(imported, tmp_path):
    hub_env, version = imported
    folder = _download(hub_env, version, cache_dir=tmp_path / "hf-cache")
    assert folder.parent.name == "snapshots" and (folder / "model.safetensors").is_symlink()
    assert (folder / "model.safetensors").resolve().parent.name == "blobs"

    code, result = _gate(version, folder)
    assert result["identity"] == {"verified": True, "mismatches": []}
    assert (code, result["action"]) == (0, "none")

    _tamper(folder / "config.json")
    code, result = _gate(version, folder)
    assert code == 1
    assert [(m["path"], m["reason"]) for m in result["identity"]["mismatches"]] == [("config.json", "hash differs")]


def test_link_leaving_the_snapshot_fails_the_identity_without_showing_where(imported, tmp_path):
    hub_env, version = imported
    folder = _download(hub_env, version, cache_dir=tmp_path / "hf-cache")
    secret = tmp_path / "private-place" / "config.json"
    secret.parent.mkdir()
    secret.write_bytes((folder / "config.json").read_bytes())  # same bytes: only where it lives is wrong
    (folder / "config.json").unlink()
    os.symlink(secret, folder / "config.json")

    code, result = _gate(version, folder)
    assert code == 1 and result["identity"]["verified"] is False
    (mismatch,) = result["identity"]["mismatches"]
    assert mismatch["path"] == "config.json" and mismatch["reason"].startswith("not read:")
    assert "private-place" not in json.dumps(result)


@pytest.mark.parametrize("where", ["local_dir", "cache_dir"])
def test_importing_the_download_records_the_files_the_hub_import_recorded(imported, tmp_path, where):
    """One walk: the folder import sees exactly the files (and hashes) the Hub import and the gate see."""
    hub_env, version = imported
    folder = _download(hub_env, version, **{where: tmp_path / where})
    from_hub = sorted(version.files.values_list("path", "size", "sha256"))
    local, _created = inventory_services.import_from_folder(folder=str(folder), repo_id=f"{version.model.repo_id}-copy")
    assert sorted(local.files.values_list("path", "size", "sha256")) == from_hub
    gate_view = services.hash_directory(folder)
    assert [(g["path"], g["sha256"]) for g in gate_view] == [(p, s) for p, _size, s in from_hub]
