"""Property tests for the non-pickle format scanners, plus the corpus regression.

* random and mutated bytes into every scanner (called directly, no router) never raise anything but
  ``LimitExceeded`` and finish within a time bound;
* truncated copies of valid binary files and random data without the format's magic are never SAFE;
* every corpus file (benign and attack) gets its expected verdict.
"""

from __future__ import annotations

import functools
import io
import tarfile
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanning.scanners import archives, gguf, jinja, keras, onnx, remote_code, safetensors, tensorflow
from scanning.scanners.base import BytesReader, LimitExceeded, Limits, ScanContext, Verdict, verdict_of
from tests.scanning.corpus_formats import build_corpus, mini_router, scan_path, verdict_label

pytestmark = pytest.mark.slow  # hypothesis sweeps over every format scanner and the format corpus

SCANNERS = {
    "safetensors": safetensors.scan,
    "gguf": gguf.scan,
    "onnx": onnx.scan,
    "tensorflow": tensorflow.scan,
    "keras": keras.scan,
    "keras-zip": keras.scan,
    "tar": archives.scan_tar,
    "gzip": archives.scan_gzip,
    "bz2": archives.scan_bz2,
    "xz": archives.scan_xz,
    "archive": archives.scan,
    "python": remote_code.scan_python,
    "json": remote_code.scan_json,
}
SECONDS = 2.0
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# HDF5 is read in a child interpreter (see h5worker): each example costs a process start.
FUZZ_HDF5 = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def corpus() -> list[tuple[Path, str]]:
    return build_corpus(Path(tempfile.mkdtemp(prefix="modelgate-formats-")))


@functools.cache
def sample(name: str) -> bytes:
    return next(p for p, _ in corpus() if p.name == name).read_bytes()


SAMPLES = {  # format -> a valid file of it
    "safetensors": "model.safetensors",
    "gguf": "chatml.gguf",
    "onnx": "mlp.onnx",
    "tensorflow": "saved_model.pb",
    "keras": "model.h5",
    "keras-zip": "model.keras",
    "gzip": "bundle.tar.gz",
    "bz2": "config.json.bz2",
    "xz": "config.json.xz",
    "tar": "bundle.tar",
}


def scan(fmt: str, data: bytes, name: str = "fuzzed") -> ScanContext:
    ctx = ScanContext(
        limits=Limits(max_seconds=SECONDS, max_decompressed=64 * 1024**2), path=name, scan_nested=mini_router
    )
    started = time.monotonic()
    try:
        SCANNERS[fmt](BytesReader(data), ctx)
    except LimitExceeded:
        ctx.unscannable("scan.limit", "limit")
    assert time.monotonic() - started < SECONDS + 2
    return ctx


@pytest.mark.parametrize("fmt", sorted(SCANNERS))
@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_never_crash(fmt, data):
    scan(fmt, data)


HDF5_FORMATS = {"keras", "keras-zip"}


def _mutate(fmt: str, data) -> bytes:
    original = bytearray(sample(SAMPLES[fmt]))
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(original) - 1))
        kind = data.draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        if kind == "flip":
            original[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set":
            original[pos] = data.draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif kind == "insert":
            original[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        elif len(original) > 1:
            del original[pos]
    return bytes(original)


@pytest.mark.parametrize("fmt", sorted(set(SAMPLES) - HDF5_FORMATS))
@FUZZ
@given(data=st.data())
def test_mutated_files_never_crash(fmt, data):
    scan(fmt, _mutate(fmt, data))


@pytest.mark.parametrize("fmt", sorted(HDF5_FORMATS))
@FUZZ_HDF5
@given(data=st.data())
def test_mutated_hdf5_never_crash(fmt, data):
    scan(fmt, _mutate(fmt, data))


@pytest.mark.parametrize("fmt", sorted(set(SAMPLES) - HDF5_FORMATS))
@FUZZ
@given(data=st.data())
def test_truncated_binary_files_are_never_safe(fmt, data):
    _truncated(fmt, data)


@pytest.mark.parametrize("fmt", sorted(HDF5_FORMATS))
@FUZZ_HDF5
@given(data=st.data())
def test_truncated_hdf5_files_are_never_safe(fmt, data):
    _truncated(fmt, data)


def _truncated(fmt: str, data) -> None:
    full = sample(SAMPLES[fmt])
    end = len(full)
    if fmt == "tar":  # the zero blocks after the last member carry nothing: cutting them loses no content
        with tarfile.open(fileobj=io.BytesIO(full)) as tf:
            end = max(m.offset_data + m.size for m in tf.getmembers())
    cut = data.draw(st.integers(0, end - 1))
    if fmt == "tar" and cut % 512 == 0:
        cut += 1  # tar has no length field: a cut exactly at a member boundary is a valid shorter archive
    ctx = scan(fmt, full[:cut])
    assert verdict_of(ctx.findings) >= Verdict.SUSPICIOUS, (cut, ctx.findings)


MAGIC = {
    "safetensors": lambda d: len(d) < 9 or d[8:9] != b"{",
    "gguf": lambda d: not d.startswith(b"GGUF"),
    "keras": lambda d: not d.startswith((b"\x89HDF", b"PK")),
    "gzip": lambda d: not d.startswith(b"\x1f\x8b"),
    "bz2": lambda d: not d.startswith(b"BZh"),
    "xz": lambda d: not d.startswith(b"\xfd7zXZ"),
}


@pytest.mark.parametrize("fmt", sorted(MAGIC))
@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_data_without_magic_is_never_safe(fmt, data):
    if MAGIC[fmt](data):
        assert verdict_of(scan(fmt, data).findings) >= Verdict.SUSPICIOUS


@pytest.mark.parametrize("fmt", ["gguf", "safetensors"])
@FUZZ
@given(data=st.binary(max_size=512))
def test_magic_then_garbage_never_crashes(fmt, data):
    prefix = {"gguf": b"GGUF\x03\x00\x00\x00", "safetensors": b"\x40\x00\x00\x00\x00\x00\x00\x00{"}[fmt]
    scan(fmt, prefix + data)


@FUZZ
@given(template=st.text(alphabet=st.sampled_from(list("{}%#'\"_.|()[]~+ \\xabcglos0123=,-")), max_size=300))
def test_jinja_analyser_never_crashes(template):
    for issue in jinja.analyse(template):
        assert issue.rule.startswith("jinja.")


@FUZZ
@given(template=st.text(max_size=500))
def test_jinja_analyser_total_on_any_text(template):
    jinja.analyse(template)


@FUZZ
@given(name=st.text(min_size=2, max_size=12, alphabet="abcdefghijklmnopqrstuvwxyz"))
def test_dunder_anywhere_in_an_expression_is_malicious(name):
    template = "{{ x.__" + name + "__ }}"
    assert max(i.verdict for i in jinja.analyse(template)) == Verdict.MALICIOUS


# --------------------------------------------------------------------------- corpus regression


@pytest.mark.parametrize("index", range(len(corpus())), ids=lambda i: str(corpus()[i][0].name))
def test_corpus_file_has_expected_verdict(index):
    path, label = corpus()[index]
    ctx = scan_path(path)
    assert verdict_label(ctx) == label, [(f.rule, f.verdict.label, f.evidence) for f in ctx.findings]


# --------------------------------------------------------------------------- memory stays bounded


def _peak(fn) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _scan_file(path: Path, fmt: str) -> ScanContext:
    from scanning.scanners.base import FileReader

    ctx = ScanContext(path=str(path), scan_nested=mini_router)
    with FileReader(path) as reader:
        SCANNERS[fmt](reader, ctx)
    return ctx


def test_memory_independent_of_size_safetensors_and_gguf(tmp_path):
    import json
    import struct

    big = 512 * 1024 * 1024  # sparse: costs no disk
    st_path = tmp_path / "big.safetensors"
    header = json.dumps({"w": {"dtype": "U8", "shape": [big], "data_offsets": [0, big]}}).encode()
    with open(st_path, "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + big)
    assert _peak(lambda: _scan_file(st_path, "safetensors")) < 2 * 1024 * 1024

    gg_path = tmp_path / "big.gguf"
    name = b"w"
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + struct.pack("<Q", 1) + name + struct.pack("<IQIQ", 1, big, 24, 0)
    head += bytes(-len(head) % 32)
    with open(gg_path, "wb") as fh:
        fh.write(head)
        fh.truncate(len(head) + big)
    assert _peak(lambda: _scan_file(gg_path, "gguf")) < 2 * 1024 * 1024


def test_memory_bounded_for_tar_and_gzip_members(tmp_path):
    import gzip
    import json
    import struct

    from tests.scanning.corpus_formats import tar_bytes

    size = 64 * 1024 * 1024
    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode()
    payload = struct.pack("<Q", len(header)) + header + bytes(size)
    gz = tmp_path / "big.safetensors.gz"
    gz.write_bytes(gzip.compress(payload, compresslevel=1))
    assert _peak(lambda: _scan_file(gz, "gzip")) < 24 * 1024 * 1024  # 8 MiB spool in memory + 4 MiB chunks
    tar = tmp_path / "big.tar"
    tar.write_bytes(tar_bytes([("model.safetensors", "file", payload)]))
    assert _peak(lambda: _scan_file(tar, "tar")) < 4 * 1024 * 1024
