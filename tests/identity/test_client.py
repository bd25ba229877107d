"""The standalone client, installed into a fresh venv, run from a clean shell against the live server."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from policies.services import gate
from tests.client.test_walk import _download, _litter, _server_scan, repo_on_hub_fixture  # noqa: F401 - a fixture
from tests.identity.conftest import clean_env, create_token_through_ui, target
from tests.identity.test_reports import validate_sarif

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def run(venv, *args, cwd, **env):
    return subprocess.run(
        [str(venv / "bin" / "modelgate"), *args], cwd=cwd, env=clean_env(**env), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_the_client_venv_has_no_django(client_venv):
    r = subprocess.run([str(client_venv / "bin" / "python"), "-c", "import django"], env=clean_env(),
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode != 0 and "No module named 'django'" in r.stderr


def test_the_wheel_ships_core_files_alone_and_it_needs_no_django(client_venv, tmp_path):
    python = str(client_venv / "bin" / "python")
    probe = (
        "import json, pathlib, sys, core, core.files\n"
        "shipped = sorted(p.name for p in pathlib.Path(core.__file__).parent.glob('*.py'))\n"
        "print(json.dumps({'shipped': shipped, 'django': 'django' in sys.modules, 'files': core.files.__file__}))"
    )
    r = subprocess.run([python, "-c", probe], env=clean_env(), cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    assert found["shipped"] == ["__init__.py", "files.py"] and found["django"] is False
    assert str(client_venv) in found["files"]  # the installed copy, not the checkout
    models = subprocess.run([python, "-c", "import core.models"], env=clean_env(), cwd=tmp_path, capture_output=True,
                            text=True)  # fmt: skip
    assert models.returncode != 0 and "No module named 'core.models'" in models.stderr


def test_the_installed_client_walks_downloads_as_the_server(client_venv, repo_on_hub, monkeypatch, tmp_path):
    """The wheel's client (gate --dir listing, scan) against the server's gate and `manage.py scan`, on a
    huggingface_hub cache snapshot and a local_dir download with links out, a FIFO and a socket added."""
    folders = [
        _download(repo_on_hub, monkeypatch, cache_dir=tmp_path / "hf-cache"),
        _download(repo_on_hub, monkeypatch, local_dir=tmp_path / "local"),
    ]
    for i, folder in enumerate(folders):
        _litter(folder, tmp_path / f"private-place-{i}")
    listing = "import json, sys; from modelgate_client.cli import hash_directory; print(json.dumps(hash_directory(sys.argv[1])))"
    for folder in folders:
        r = subprocess.run([str(client_venv / "bin" / "python"), "-c", listing, str(folder)], env=clean_env(),
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        client_view = json.loads(r.stdout)
        assert client_view == gate.hash_directory(folder)
        assert {i["path"] for i in client_view if i.get("refused")} == {
            "dangling.bin",
            "leak.txt",
            "onnx/s.sock",
            "pipe.bin",
        }

    scan = run(client_venv, "scan", "--json", *map(str, folders), cwd=tmp_path)
    code, lines = _server_scan(*map(str, folders))
    assert (scan.returncode, [json.loads(x) for x in scan.stdout.splitlines()]) == (code, lines) and code == 1


def test_a_link_leaving_the_dir_fails_the_identity_as_the_server_gate_says(
    client_venv, live_server, gate_world, tmp_path
):
    w = gate_world
    browser = Client()
    browser.force_login(w["admin"])
    token = create_token_through_ui(browser, w["app"])
    folder = tmp_path / "work" / "good"
    shutil.copytree(w["good_dir"], folder)
    secret = tmp_path / "private-place" / "config.json"
    secret.parent.mkdir()
    secret.write_bytes((folder / "sub" / "config.json").read_bytes())  # same bytes: only where it lives is wrong
    (folder / "sub" / "config.json").unlink()
    os.symlink(secret, folder / "sub" / "config.json")
    os.mkfifo(folder / "pipe")

    common = [target(w["good"]), "--stage", "build", "--url", live_server.url, "--dir", str(folder)]
    answer = run(client_venv, "gate", *common, cwd=tmp_path, MODELGATE_TOKEN=token)
    assert answer.returncode == 1, answer.stderr
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("gate", target(w["good"]), "--stage", "build", "--application", "chatbot", "--dir", str(folder),
                     stdout=out)  # fmt: skip
    server = json.loads(out.getvalue())["identity"]
    client_identity = json.loads(answer.stdout)["identity"]
    assert client_identity == server and client_identity["verified"] is False
    assert [m["path"] for m in client_identity["mismatches"]] == ["pipe", "sub/config.json"]
    assert "private-place" not in answer.stdout + answer.stderr

    junit = run(client_venv, "gate", *common, "--format", "junit", cwd=tmp_path, MODELGATE_TOKEN=token)
    assert junit.returncode == 1 and "sub/config.json: not read:" in junit.stdout
    sarif = run(client_venv, "gate", *common, "--format", "sarif", cwd=tmp_path, MODELGATE_TOKEN=token)
    doc = json.loads(sarif.stdout)
    validate_sarif(doc)
    assert sarif.returncode == 1 and doc["runs"][0]["invocations"][0]["properties"]["verified"] is False
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for res in doc["runs"][0]["results"]
            for loc in res["locations"] if "physicalLocation" in loc}  # fmt: skip
    assert {"work/good/pipe", "work/good/sub/config.json"} <= uris
    assert Path(tmp_path / "work" / "good" / "model.safetensors").exists()


def test_gate_pass_fail_and_errors_from_a_clean_shell(client_venv, live_server, gate_world, tmp_path):
    w = gate_world
    browser = Client()
    browser.force_login(w["admin"])
    token = create_token_through_ui(browser, w["app"])
    common = ["--stage", "build", "--url", live_server.url]

    ok = run(client_venv, "gate", target(w["good"]), *common, "--dir", str(w["good_dir"]), cwd=tmp_path,
             MODELGATE_TOKEN=token)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["identity"]["verified"] is True

    bad = run(client_venv, "gate", target(w["bad"]), *common, "--dir", str(w["bad_dir"]), "--token", token,
              cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 1, bad.stderr
    assert json.loads(bad.stdout)["violations"][0]["policy"] == "Few downloads"

    # The same files with one byte changed: the policy passes, the identity does not.
    tampered = tmp_path / "tampered"
    shutil.copytree(w["good_dir"], tampered)
    (tampered / "sub" / "config.json").write_bytes(b"{ }")
    changed = run(client_venv, "gate", target(w["good"]), *common, "--dir", str(tampered), cwd=tmp_path,
                  MODELGATE_TOKEN=token)  # fmt: skip
    assert changed.returncode == 1
    assert json.loads(changed.stdout)["identity"]["mismatches"][0]["path"] == "sub/config.json"

    # SARIF into a file, located under the --dir relative to the working folder.
    shutil.copytree(w["bad_dir"], tmp_path / "models" / "bad")
    (tmp_path / "models" / "bad" / "model.safetensors").write_bytes(b"other weights")
    sarif = run(client_venv, "gate", target(w["bad"]), *common, "--dir", "models/bad", "--format", "sarif",
                "--output", "out.sarif", cwd=tmp_path, MODELGATE_TOKEN=token)  # fmt: skip
    assert sarif.returncode == 1 and sarif.stdout == ""
    doc = json.loads((tmp_path / "out.sarif").read_text())
    validate_sarif(doc)
    uris = [
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for res in doc["runs"][0]["results"]
        for loc in res["locations"]
        if "physicalLocation" in loc
    ]
    assert "models/bad/model.safetensors" in uris

    junit = run(client_venv, "gate", target(w["good"]), *common, "--dir", str(w["good_dir"]), "--format", "junit",
                cwd=tmp_path, MODELGATE_TOKEN=token)  # fmt: skip
    assert junit.returncode == 0 and "<testsuite" in junit.stdout

    # Usage and network errors: 2.
    assert run(client_venv, "gate", target(w["good"]), *common, cwd=tmp_path).returncode == 2  # no token
    wrong = run(client_venv, "gate", target(w["good"]), *common, cwd=tmp_path, MODELGATE_TOKEN=token + "x")
    assert wrong.returncode == 2 and "401" in wrong.stderr
    other = run(client_venv, "gate", target(w["good"]), *common, "--application", "other-app", cwd=tmp_path,
                MODELGATE_TOKEN=token)  # fmt: skip
    assert other.returncode == 2 and "403" in other.stderr
    down = run(client_venv, "gate", target(w["good"]), "--stage", "build", "--url", "http://127.0.0.1:9",
               cwd=tmp_path, MODELGATE_TOKEN=token)  # fmt: skip
    assert down.returncode == 2 and "cannot reach" in down.stderr
    assert run(client_venv, "gate", target(w["good"]), "--stage", "nope", cwd=tmp_path).returncode == 2


def test_scan_runs_the_pure_scanners_with_the_scan_contract(client_venv, tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("harmless",))  # a call on load: what the scanner must flag, never run

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Payload()))
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    safe = run(client_venv, "scan", "--json", "--no-progress", str(tmp_path / "config.json"), cwd=tmp_path)
    assert safe.returncode == 0
    line = json.loads(safe.stdout)
    assert set(line) == {"path", "format", "verdict", "sha256", "findings"} and line["verdict"] == "safe"
    flagged = run(client_venv, "scan", "--json", str(tmp_path), cwd=tmp_path)
    assert flagged.returncode == 1
    verdicts = {json.loads(x)["path"].rsplit("/", 1)[-1]: json.loads(x)["verdict"] for x in flagged.stdout.splitlines()}
    assert verdicts["config.json"] == "safe" and verdicts["evil.pkl"] in {"suspicious", "malicious"}
    assert run(client_venv, "scan", str(tmp_path / "missing"), cwd=tmp_path).returncode == 2
