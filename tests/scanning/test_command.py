"""`manage.py scan` per the DESIGN.md contract: JSON lines, exit codes 0/1/2, no database, human table + progress."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from tests.hubserver.repos import malicious_pickle_bytes, safetensors_bytes

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_KEYS = {"path", "format", "verdict", "sha256", "findings"}
FINDING_KEYS = {"rule", "category", "severity", "message", "evidence"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "model.safetensors").write_bytes(safetensors_bytes())
    (tmp_path / "nested" / "deeper" / "pytorch_model.bin").write_bytes(malicious_pickle_bytes("true"))
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_bytes(b"ref: refs/heads/main\n")
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("scan", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def no_db(monkeypatch):
    """Any attempt to reach the database fails the test (the command must not need one)."""

    def refuse(*args, **kwargs):
        raise AssertionError("manage.py scan touched the database")

    for alias in connections:
        monkeypatch.setattr(connections[alias], "ensure_connection", refuse)
        monkeypatch.setattr(connections[alias], "cursor", refuse)


def test_json_lines_per_file_recursively(folder, no_db):
    code, out, _err = run(str(folder), "--json")
    assert code == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert [Path(x["path"]).name for x in lines] == ["model.safetensors", "pytorch_model.bin"]  # .git skipped
    for line in lines:
        assert set(line) == CONTRACT_KEYS
        for finding in line["findings"]:
            assert set(finding) == FINDING_KEYS
    safe, bad = lines
    assert safe["verdict"] == "safe" and safe["format"] == "safetensors" and safe["findings"] == []
    assert safe["sha256"] == hashlib.sha256(safetensors_bytes()).hexdigest()
    assert bad["verdict"] == "malicious"
    assert any(f["category"] == "process" and "os.system" in f["evidence"] for f in bad["findings"])


def test_exit_zero_when_all_safe(folder, no_db):
    code, out, _ = run(str(folder / "model.safetensors"), "--json")
    assert code == 0 and json.loads(out)["verdict"] == "safe"


@pytest.mark.parametrize("args", [(), ("/definitely/not/here",), ("--json",), ("--max-seconds", "0", ".")])
def test_usage_errors_exit_two(args, no_db):
    code, out, err = run(*args)
    assert code == 2 and out == "" and err


def test_unscannable_exits_one(tmp_path, no_db):
    bomb = tmp_path / "huge.safetensors"
    bomb.write_bytes((2**40).to_bytes(8, "little") + b"{}")  # header length far beyond the file
    code, out, _ = run(str(bomb), "--json")
    line = json.loads(out)
    assert code == 1 and line["verdict"] != "safe" and line["findings"]


def test_human_table_and_progress_bar(folder, no_db):
    code, out, err = run(str(folder))
    assert code == 1
    assert "VERDICT" in out and "malicious" in out and "safe" in out and "os.system" in out
    assert "2 file(s)" in out
    assert "100%" in err and "2/2 files" in err  # the bytes-based progress bar, on stderr
    assert not out.lstrip().startswith("{")


def test_no_progress_flag(folder, no_db):
    _code, _out, err = run(str(folder), "--no-progress")
    assert err == ""


def test_command_makes_no_queries(folder, django_assert_num_queries, db):
    with django_assert_num_queries(0):
        code, _out, _err = run(str(folder), "--json")
    assert code == 1


@pytest.mark.slow  # three Django start-ups in subprocesses; the in-process tests above cover the same paths
def test_subprocess_contract(folder):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "manage.py", "scan", str(folder), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {x["verdict"] for x in lines} == {"safe", "malicious"}
    ok = subprocess.run(
        [sys.executable, "manage.py", "scan", str(folder / "model.safetensors"), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["verdict"] == "safe"
    usage = subprocess.run(
        [sys.executable, "manage.py", "scan"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert usage.returncode == 2 and usage.stdout == "" and usage.stderr


@pytest.mark.django_db
def test_import_model_wait_reports_the_scan(folder):
    """`import_model --wait` runs the scan step and prints `"scan": {"verdict", "findings": n}`."""
    out = io.StringIO()
    call_command(
        "import_model", "acme/local-evil", "--from-dir", str(folder), "--wait", stdout=out, stderr=io.StringIO()
    )
    summary = json.loads(out.getvalue())
    assert summary["scan"]["verdict"] == "malicious"
    assert summary["scan"]["findings"] >= 1


@pytest.mark.django_db
def test_rescan_outdated_command(tmp_path, django_capture_on_commit_callbacks):
    from scanning import services
    from scanning.models import ScanRun
    from tests.scanning.test_services import local_version

    version = local_version(tmp_path, {"model.safetensors": safetensors_bytes()})
    run = services.scan_version_now(version.pk)
    ScanRun.objects.filter(pk=run.pk).update(rules_version="1999.1.1")
    out = io.StringIO()
    with django_capture_on_commit_callbacks():
        call_command("rescan_outdated", stdout=out)
    assert json.loads(out.getvalue()) == {
        "rules_version": services.RULES_VERSION,
        "queued": 1,
        "versions": [version.pk],
    }


def test_progress_bar_on_a_terminal_redraws_in_place():
    import time

    from scanning.management.commands.scan import ProgressBar

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = ProgressBar(stream, total_bytes=4096, total_files=2)
    bar.update(0, 0, "big.safetensors")
    time.sleep(0.6)  # the ticker keeps the line alive while one file is scanned
    bar.update(2048, 1, "small.bin")
    bar.finish(4096, 2)
    text = stream.getvalue()
    assert text.count("\r") >= 3 and "big.safetensors" in text and text.endswith("\n")
    assert "[" + "#" * 28 + "] 100%" in text and "2/2 files" in text


def test_json_stays_valid_for_odd_file_names(tmp_path, no_db):
    (tmp_path / "modèle.safetensors").write_bytes(safetensors_bytes())
    with open(os.path.join(os.fsencode(tmp_path), b"bad-\xff.pkl"), "wb") as fh:
        fh.write(malicious_pickle_bytes())
    code, out, _ = run(str(tmp_path), "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(lines) == 2  # both lines parse
    assert any(x["path"].endswith("modèle.safetensors") and x["verdict"] == "safe" for x in lines)


def test_folder_walk_skips_hub_metadata_and_refuses_links_out_and_fifos(tmp_path, no_db):
    """The walk is core.files': .cache/huggingface metadata skipped, cache links into blobs/ followed,
    a link out of the repo folder and a FIFO reported unscannable (never opened, never a hang)."""
    repo = tmp_path / "hub" / "models--acme--m"
    snap = repo / "snapshots" / ("c" * 40)
    (repo / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    blob = repo / "blobs" / "b1"
    blob.write_bytes(safetensors_bytes())
    (snap / "model.safetensors").symlink_to(os.path.relpath(blob, snap))
    (snap / ".cache" / "huggingface" / "download").mkdir(parents=True)
    (snap / ".cache" / "huggingface" / "download" / "model.safetensors.metadata").write_text("c\ne\n1\n")
    secret = tmp_path / "private-place" / "evil.bin"
    secret.parent.mkdir()
    secret.write_bytes(malicious_pickle_bytes("true"))
    (snap / "leak.bin").symlink_to(secret)
    os.mkfifo(snap / "pipe")
    code, out, _err = run(str(snap), "--json")
    lines = {Path(d["path"]).name: d for d in map(json.loads, out.splitlines())}
    assert set(lines) == {"model.safetensors", "leak.bin", "pipe"}
    assert lines["model.safetensors"]["verdict"] == "safe"
    assert lines["model.safetensors"]["sha256"] == hashlib.sha256(safetensors_bytes()).hexdigest()
    for name in ("leak.bin", "pipe"):
        assert lines[name]["verdict"] == "unscannable" and lines[name]["sha256"] == ""
        (finding,) = lines[name]["findings"]
        assert set(finding) == FINDING_KEYS and finding["category"] == "unscannable"
        assert "private-place" not in json.dumps(lines[name])
    assert code == 1
