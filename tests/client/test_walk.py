"""The standalone client reads folders through the server's one walk (`core.files`): the gate's `--dir`
listing and `modelgate scan`'s files are exactly the server's, for real huggingface_hub downloads.

The client's package is imported from `client/` (as the wheel lays it out: `modelgate_client` beside
`core` and `scanning`); tests/identity/test_client.py runs the installed wheel itself.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import socket
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest
from django.core.management import CommandError, call_command
from huggingface_hub import snapshot_download

from policies import gate_reports
from policies.services import gate
from tests import factories as f
from tests.hubserver import TEST_TOKEN
from tests.hubserver.repos import malicious_pickle_bytes, safetensors_bytes, tiny_bert_repo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(monkeypatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO / "client"))
    return importlib.import_module("modelgate_client.cli")


@pytest.fixture(name="repo_on_hub")
def repo_on_hub_fixture(hub_server):
    """A repo with nested files, a .gitattributes and a (harmless) pickle that calls on load."""
    repo_id = f"client-walk/bert-{uuid.uuid4().hex[:8]}"
    base = tiny_bert_repo(repo_id)
    files = {
        **base.files,
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
        "onnx/model.safetensors": safetensors_bytes({"w": ("F32", [4, 4])}),
        "legacy/pytorch_model.bin": malicious_pickle_bytes("true"),
    }
    commit = hub_server.add_repo(repo_id, files, card=base.card)
    return hub_server, repo_id, commit


def _download(repo_on_hub, monkeypatch, **where) -> Path:
    hub, repo_id, commit = repo_on_hub
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return Path(snapshot_download(repo_id, revision=commit, endpoint=hub.endpoint, token=TEST_TOKEN, **where))


def _litter(folder: Path, outside: Path) -> None:
    """What a CI workspace adds to a download: OS litter, bytecode, and links and special files the walk
    must refuse (leading out of the folder, dangling, a FIFO, a socket)."""
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.txt").write_bytes(b"not a model file")
    (folder / "onnx" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "__pycache__").mkdir(exist_ok=True)
    (folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\x00")
    os.symlink(outside / "secret.txt", folder / "leak.txt")
    os.symlink(folder / "no-such-file", folder / "dangling.bin")
    os.symlink("../config.json", folder / "onnx" / "config.json")  # inside: followed
    os.mkfifo(folder / "pipe.bin")
    here = Path.cwd()
    os.chdir(folder / "onnx")  # a socket's path is limited to ~100 bytes: bind it by a relative name
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind("s.sock")
    finally:
        os.chdir(here)


@pytest.mark.parametrize("where", ["local_dir", "cache_dir"])
def test_gate_listing_is_the_server_gates_for_huggingface_hub_downloads(cli, repo_on_hub, monkeypatch, tmp_path, where):
    folder = _download(repo_on_hub, monkeypatch, **{where: tmp_path / where})
    if where == "local_dir":
        assert list((folder / ".cache" / "huggingface").rglob("*.metadata")), "no local_dir metadata to skip"
    else:
        assert (folder / "config.json").is_symlink() and (folder / "config.json").resolve().parent.name == "blobs"
    _litter(folder, tmp_path / "private-place")

    client_view = cli.hash_directory(folder)
    assert client_view == gate.hash_directory(folder)

    paths = [item["path"] for item in client_view]
    assert ".gitattributes" in paths and "onnx/model.safetensors" in paths and "onnx/config.json" in paths
    assert not [p for p in paths if p.startswith((".cache", "__pycache__")) or p.endswith(".DS_Store")]
    refused = {item["path"] for item in client_view if item.get("refused")}
    assert refused == {"dangling.bin", "leak.txt", "onnx/s.sock", "pipe.bin"}
    assert "private-place" not in json.dumps(client_view)
    hashed = {item["path"]: item["sha256"] for item in client_view if not item.get("refused")}
    assert hashed["onnx/config.json"] == hashed["config.json"]
    assert set(hashed) >= {"config.json", "model.safetensors", "tokenizer.json", "legacy/pytorch_model.bin"}


def _server_scan(*paths: str) -> tuple[int, list[dict]]:
    out = io.StringIO()
    code = 0
    try:
        call_command("scan", "--json", *paths, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        code = int(exc.code or 0)
    except CommandError as exc:
        code = exc.returncode
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def _client_scan(cli, capsys, *paths: str) -> tuple[int, list[dict]]:
    capsys.readouterr()
    code = cli.main(["scan", "--json", *paths])
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_scan_collects_and_reports_exactly_what_manage_py_scan_does(cli, repo_on_hub, monkeypatch, tmp_path, capsys):
    cache = _download(repo_on_hub, monkeypatch, cache_dir=tmp_path / "hf-cache")
    local = _download(repo_on_hub, monkeypatch, local_dir=tmp_path / "local")
    _litter(cache, tmp_path / "private-place")
    _litter(local, tmp_path / "private-place-2")
    named_link = tmp_path / "named-link.safetensors"
    os.symlink(local / "model.safetensors", named_link)  # a file named on the command line: read via the link
    args = [str(cache), str(local), str(named_link), str(local / "pipe.bin")]

    server = _server_scan(*args)
    client = _client_scan(cli, capsys, *args)
    assert client == server

    code, lines = client
    by_path = {Path(line["path"]).relative_to(tmp_path).as_posix(): line for line in lines}
    assert code == 1
    assert by_path["local/legacy/pytorch_model.bin"]["verdict"] in {"suspicious", "malicious"}
    assert by_path["named-link.safetensors"]["verdict"] == "safe"
    assert by_path["local/pipe.bin"]["findings"][0]["rule"] == "file.refused"
    snapshot = cache.relative_to(tmp_path).as_posix()
    assert by_path[f"{snapshot}/config.json"]["verdict"] == "safe"  # a link into blobs/: followed
    assert by_path[f"{snapshot}/leak.txt"]["verdict"] == "unscannable"
    assert not [p for p in by_path if "/.cache/" in p or "__pycache__" in p or p.endswith(".DS_Store")]

    missing = [str(tmp_path / "missing")]
    assert _client_scan(cli, capsys, *missing)[0] == _server_scan(*missing)[0] == 2


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["json", "sarif", "junit"])
@pytest.mark.parametrize("hashed_too", [True, False], ids=["with-hashed-files", "only-refused"])
def test_refused_files_fail_the_identity_as_the_server_gate_reports_them(cli, tmp_path, fmt, hashed_too):
    """The API takes hashes only, so the client sends the hashed files and adds the refusals to the
    answer: the result is what the server's own `gate --dir` gives for the whole listing."""
    version = f.ModelVersionFactory()
    folder = tmp_path / "model"
    folder.mkdir()
    if hashed_too:
        (folder / "config.json").write_bytes(b"{}")
        (folder / "extra.bin").write_bytes(b"not reviewed")
        f.ModelFileFactory(version=version, path="config.json", sha256=gate.hash_directory(folder)[0]["sha256"])
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "w.safetensors").write_bytes(b"w")
    os.symlink(tmp_path / "elsewhere" / "w.safetensors", folder / "model.safetensors")
    os.mkfifo(folder / "a-pipe")

    listing = cli.hash_directory(folder)
    sent = [item for item in listing if not item.get("refused")]
    refused = [item for item in listing if item.get("refused")]
    assert [r["path"] for r in refused] == ["a-pipe", "model.safetensors"]

    def answer(supplied):
        result = {
            "action": "none",
            "violations": [],
            "identity": gate.verify_identity(version=version, supplied=supplied),
        }
        text, _media = gate_reports.render(result, fmt=fmt, target="acme/x@main", stage="build", policies=[],
                                           files=[i["path"] for i in supplied or []])  # fmt: skip
        return text

    server_side = answer(gate.hash_directory(folder))  # `manage.py gate --dir` on the server
    client_side = cli._add_refusals(answer(sent or None), fmt, refused, sent_files=bool(sent))
    if fmt == "junit":
        assert ET.canonicalize(client_side) == ET.canonicalize(server_side)
        assert "file identity not verified" in client_side and "a-pipe: not read:" in client_side
    else:
        assert json.loads(client_side) == json.loads(server_side)
    if fmt == "json":
        identity = json.loads(client_side)["identity"]
        assert identity["verified"] is False
        assert "elsewhere" not in json.dumps(identity)


def test_a_folder_that_cannot_be_walked_is_a_usage_error(cli, tmp_path, capsys):
    (tmp_path / "file.bin").write_bytes(b"x")
    common = ["gate", "acme/x@main", "--stage", "build", "--url", "http://127.0.0.1:9", "--token", "mg_x"]
    assert cli.main([*common, "--dir", str(tmp_path / "file.bin")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert cli.main([*common, "--dir", str(tmp_path / "missing")]) == 2
    assert "folder not found" in capsys.readouterr().err


def test_the_client_has_no_walk_of_its_own():
    """One walk: nothing under client/ lists folders itself."""
    sources = "\n".join(p.read_text() for p in (REPO / "client").rglob("*.py"))
    assert not (REPO / "client" / "modelgate_client" / "files.py").exists()
    for own_walk in ("os.walk", "os.scandir", "rglob(", ".iterdir(", "hashlib"):
        assert own_walk not in sources, own_walk
