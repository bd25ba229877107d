"""Issue 11 item 4 and the format-abuse half of issue 10 part B: FIFOs/devices, bombs, broken HDF5.

Bombs follow the published techniques: the recursive 42.zip layout and David Fifield's
overlapping-member bomb ("A better zip bomb", WOOT 2019), both with a zero-filled kernel.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from scanning.scanners import scan_file, scan_reader
from scanning.scanners.base import BytesReader, Limits, Verdict
from tests.scanning import real_formats as rf

ROOT = Path(__file__).resolve().parents[2]


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


# --------------------------------------------------------------------------- FIFO / devices


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "pytorch_model.bin"
    os.mkfifo(path)
    return path


def _in_thread(fn, timeout: float = 10.0):
    """Run ``fn`` in a daemon thread; fail (instead of hanging the suite) if it blocks."""
    box: dict[str, object] = {}
    thread = threading.Thread(target=lambda: box.setdefault("value", fn()), daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        # unblock the reader so the thread can end, then fail
        pytest.fail(f"blocked for more than {timeout}s")
    return box["value"]


def test_scan_file_refuses_a_fifo_without_opening_it(fifo):
    result = _in_thread(lambda: scan_file(fifo))
    assert result.verdict == Verdict.UNSCANNABLE
    assert rules(result) == {"file.not_regular"}
    assert "FIFO" in result.findings[0].message


def test_scan_file_refuses_a_character_device():
    result = _in_thread(lambda: scan_file("/dev/zero"))  # a read would never end
    assert result.verdict == Verdict.UNSCANNABLE
    assert "character device" in result.findings[0].message


def test_scan_command_reports_a_fifo_in_a_folder_and_keeps_going(fifo, no_db):
    (fifo.parent / "config.json").write_text('{"model_type": "bert"}')
    out = io.StringIO()

    def run():
        try:
            call_command("scan", str(fifo.parent), "--json", stdout=out, stderr=io.StringIO())
        except SystemExit as exc:
            return exc.code
        return 0

    code = _in_thread(run)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    by_name = {Path(line["path"]).name: line for line in lines}
    assert code == 1
    assert by_name["config.json"]["verdict"] == "safe"
    assert by_name["pytorch_model.bin"]["verdict"] == "unscannable"
    assert by_name["pytorch_model.bin"]["findings"][0]["rule"] == "file.refused"  # the command's walk (core.files)


@pytest.mark.slow  # a fresh interpreter + Django setup
def test_scan_command_on_a_fifo_argument_ends(fifo):
    proc = subprocess.run(
        [sys.executable, "manage.py", "scan", str(fifo), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )
    assert proc.returncode == 1
    line = json.loads(proc.stdout.strip())
    assert line["verdict"] == "unscannable"
    assert line["findings"][0]["rule"] == "file.refused"  # refused by the command before scan_file


@pytest.fixture
def no_db(monkeypatch):
    from django.db import connections

    def refuse(*args, **kwargs):
        raise AssertionError("scan must not touch the database")

    for conn in connections.all():
        monkeypatch.setattr(conn, "ensure_connection", refuse)


# --------------------------------------------------------------------------- bombs


@pytest.mark.slow
def test_nested_zip_bomb_is_judged_malicious_within_seconds(tmp_path):
    path = rf.nested_zip_bomb(tmp_path / "bomb.zip")  # 4 layers x 10 copies of 20 MiB of zeros: 20 GiB
    assert path.stat().st_size < 22 * 1024
    started = time.process_time()  # CPU seconds: the shared CI machine's load does not count
    result = scan_file(path)
    elapsed = time.process_time() - started
    assert result.verdict == Verdict.MALICIOUS
    bomb = [f for f in result.findings if f.rule == "archive.bomb"]
    assert len(bomb) == 1
    assert bomb[0].category == "format-abuse"
    assert str(path.stat().st_size) in bomb[0].evidence
    assert elapsed < 8, elapsed  # was ~2 minutes before (inflated up to the 4 GiB limit)


def test_nested_bomb_stops_every_enclosing_walk(tmp_path):
    """With a small budget the same layout ends at the first layer that crosses it, reported once."""
    path = rf.nested_zip_bomb(tmp_path / "bomb.zip", layers=3, fanout=8, leaf_mb=2)
    result = scan_file(path, limits=Limits(bomb_floor=8 * 1024**2))
    assert result.verdict == Verdict.MALICIOUS
    assert [f.rule for f in result.findings].count("archive.bomb") == 1
    assert not any(f.rule == "scan.limit" for f in result.findings)


def test_overlapping_member_bomb_is_judged_before_inflating(tmp_path):
    path = rf.overlap_zip_bomb(tmp_path / "zbsm.zip")  # 200 entries share one 20 MiB kernel
    started = time.monotonic()
    result = scan_file(path)
    assert time.monotonic() - started < 2
    assert result.verdict == Verdict.MALICIOUS
    (bomb,) = [f for f in result.findings if f.rule == "archive.bomb"]
    assert "200 compressed members" in bomb.evidence
    assert "199 entries reuse another entry's data" in bomb.evidence


def test_xz_bomb_is_malicious_and_fast():
    import lzma

    data = lzma.compress(b"\0" * (48 * 1024 * 1024), preset=1)  # ~7 KB -> 48 MiB
    started = time.monotonic()
    result = scan_reader(BytesReader(data), "weights.bin.xz", limits=Limits(bomb_floor=16 * 1024**2))
    assert time.monotonic() - started < 2
    assert result.verdict == Verdict.MALICIOUS
    assert "archive.bomb" in rules(result)


def test_honest_compression_is_not_a_bomb(tmp_path):
    """A real np.savez_compressed of mostly-zero weights stays below the ratio bound."""
    import numpy as np

    path = tmp_path / "weights.npz"
    np.savez_compressed(path, a=np.zeros((512, 1024), dtype=np.float32), b=np.arange(1000, dtype=np.int64))
    result = scan_file(path)
    assert result.verdict == Verdict.SAFE, result.findings


def test_bomb_ratio_is_a_limit_setting(tmp_path):
    path = rf.overlap_zip_bomb(tmp_path / "zbsm.zip", files=20, kernel_mb=4)
    assert scan_file(path, limits=Limits(bomb_floor=1024**3)).verdict != Verdict.MALICIOUS
    assert scan_file(path, limits=Limits(bomb_floor=1024**2)).verdict == Verdict.MALICIOUS


# --------------------------------------------------------------------------- HDF5 that h5py cannot open


def _h5(path: Path) -> bytes:
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": []}})
        f["w"] = np.ones(1000)
    return path.read_bytes()


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda d: d[: len(d) // 3], id="truncated"),
        pytest.param(lambda d: d[:8] + b"\xff" * 2000, id="bad-superblock"),
        pytest.param(lambda d: d[:96], id="superblock-only"),
    ],
)
def test_hdf5_that_h5py_cannot_open_is_never_safe(tmp_path, mangle):
    data = mangle(_h5(tmp_path / "ok.h5"))
    path = tmp_path / "model.h5"
    path.write_bytes(data)
    result = scan_file(path)
    assert result.verdict >= Verdict.UNSCANNABLE
    assert "hdf5.malformed" in rules(result)


def test_hdf5_with_a_user_block_is_read(tmp_path):
    """h5py/libhdf5 find the superblock at 512/1024/2048…: a user block must not hide the config."""
    import base64

    import h5py

    lam = {
        "class_name": "Lambda",
        "config": {"name": "l", "function": [base64.b64encode(b"\xe3\x00\x02os\xda\x06system").decode(), None, None]},
    }
    path = tmp_path / "model.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": [lam]}})
    result = scan_file(path)
    assert result.format == "hdf5"
    assert result.verdict == Verdict.MALICIOUS
    assert "keras.lambda.dangerous" in rules(result)


# --------------------------------------------------------------------------- GGUF / safetensors made to break loaders


def _gguf_tensor(name: bytes, dims: list[int], ttype: int = 0, offset: int = 0) -> bytes:
    import struct

    return (
        struct.pack("<Q", len(name))
        + name
        + struct.pack("<I", len(dims))
        + struct.pack(f"<{len(dims)}Q", *dims)
        + struct.pack("<IQ", ttype, offset)
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(rf.gguf_raw(2**40, 0), id="tensor-count"),
        pytest.param(rf.gguf_raw(0, 2**63), id="kv-count"),
        pytest.param(rf.gguf_raw(0, 1, (2**60).to_bytes(8, "little") + b"k"), id="key-length"),
        pytest.param(rf.gguf_raw(1, 0, _gguf_tensor(b"w", [1] * 100)), id="n_dims"),
        pytest.param(rf.gguf_raw(1, 0, _gguf_tensor(b"w", [2**40, 2**40])), id="dims-overflow"),
        pytest.param(
            rf.gguf_raw(0, 1, rf.gguf_string(b"tokenizer.ggml.tokens") + (9).to_bytes(4, "little") + b"\x08\0\0\0")
            + (2**62).to_bytes(8, "little"),
            id="array-count",
        ),
    ],
)
def test_gguf_made_to_break_loaders_is_malicious(data):
    result = scan_reader(BytesReader(data), "model.gguf")
    assert result.verdict == Verdict.MALICIOUS
    (finding,) = [f for f in result.findings if f.rule == "gguf.header.abuse"]
    assert finding.category == "format-abuse"
    assert finding.evidence


def test_real_gguf_is_safe_and_its_truncations_are_not_called_malicious(tmp_path):
    path = rf.gguf_model(tmp_path / "model.gguf", tensors=3)
    assert scan_file(path).verdict == Verdict.SAFE
    data = path.read_bytes()
    for cut in range(24, len(data), 97):
        result = scan_reader(BytesReader(data[:cut]), "model.gguf")
        assert Verdict.SUSPICIOUS <= result.verdict <= Verdict.UNSCANNABLE, (cut, result.findings)


def test_real_safetensors_duplicate_key_and_length_abuse(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    path = tmp_path / "model.safetensors"
    save_file({"a": np.ones(4, dtype=np.float32), "b": np.zeros(2, dtype=np.float32)}, str(path))
    data = path.read_bytes()
    assert scan_file(path).verdict == Verdict.SAFE
    n = int.from_bytes(data[:8], "little")
    header = data[8 : 8 + n]
    dup = header.replace(b'"b"', b'"a"')  # same length: offsets stay valid, the key repeats
    bad = tmp_path / "dup.safetensors"
    bad.write_bytes(data[:8] + dup + data[8 + n :])
    result = scan_file(bad)
    assert result.verdict == Verdict.MALICIOUS
    assert {f.rule for f in result.findings} == {"safetensors.header.duplicate_key"}
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes((2**40).to_bytes(8, "little") + data[8:])
    result = scan_file(huge)
    assert result.format == "safetensors"
    assert result.verdict == Verdict.MALICIOUS
    assert "1099511627776" in result.findings[0].evidence
