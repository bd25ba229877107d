"""Router: content detection, extension mismatch, hashing, failure handling, nested dispatch."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from scanning.scanners import FORMATS, detect, router, scan_file, scan_reader
from scanning.scanners.base import BytesReader, Limits, Verdict
from tests.scanning.corpus_pickle import npy_bytes, plain_zip, system, torch_zip


def _safetensors() -> bytes:
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    return struct.pack("<Q", len(hdr)) + hdr + b"\x00" * 8


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "fmt"),
    [
        (b"", "x.bin", "empty"),
        (system(), "model.pkl", "pickle"),
        (b"cos\nsystem\n(S'x'\ntR.", "x", "pickle"),
        (torch_zip({"data.pkl": pickle.dumps({})}), "model.bin", "pytorch-zip"),
        (torch_zip({"data.pkl": pickle.dumps({}), "constants.pkl": pickle.dumps(())}), "m.pt", "torchscript"),
        (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2), "old.pt", "pytorch-legacy"),
        (npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (1,)}, b"\0" * 4), "a.npy", "numpy"),
        (plain_zip({"a.npy": b"\x93NUMPY"}), "a.npz", "numpy-zip"),
        (plain_zip({"x.txt": b"hi"}), "a.zip", "zip"),
        (plain_zip({"config.json": b"{}", "model.weights.h5": b""}), "m.keras", "keras"),
        (_safetensors(), "model.safetensors", "safetensors"),
        (b"GGUF\x03\x00\x00\x00" + b"\x00" * 16, "m.gguf", "gguf"),
        (b"\x89HDF\r\n\x1a\n" + b"\x00" * 32, "m.h5", "hdf5"),
        (_tar({"a.txt": b"x"}), "a.tar", "tar"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 16, "a.gz", "gzip"),
        (b"BZh91AY&SY", "a.bz2", "bz2"),
        (b"\xfd7zXZ\x00\x00", "a.xz", "xz"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "a.7z", "7z"),
        (b"Rar!\x1a\x07\x01\x00", "a.rar", "rar"),
        (b"\x08\x07\x12\x04test", "model.onnx", "onnx"),
        (b"\x08\x01\x12\x04test", "saved_model.pb", "tensorflow-savedmodel"),
        (b"import os\n", "modeling_x.py", "python"),
        (b'{"a": 1}', "config.json", "json"),
        (b"# Title\n\nSome text.\n", "README.md", "text"),
        (b"\x00\x01\x02\x03\xff\xfe" * 10, "weights.bin", "unknown"),
    ],
)
def test_detect(data: bytes, name: str, fmt: str) -> None:
    assert fmt in FORMATS
    assert detect(BytesReader(data), name) == fmt


def test_extension_is_only_a_hint() -> None:
    result = scan_reader(BytesReader(system()), "model.safetensors")
    assert result.format == "pickle" and result.verdict is Verdict.MALICIOUS
    assert any(f.rule == "format.mismatch" for f in result.findings)
    result = scan_reader(BytesReader(pickle.dumps({"a": 1})), "config.json")
    assert result.verdict is Verdict.SUSPICIOUS
    assert [f.rule for f in result.findings] == ["format.mismatch"]
    result = scan_reader(BytesReader(plain_zip({"a.txt": b"x"})), "pytorch_model.bin")
    assert result.verdict is Verdict.SUSPICIOUS and result.format == "zip"


def test_text_and_empty_are_safe() -> None:
    assert scan_reader(BytesReader(b"hello\n"), "notes.txt").verdict is Verdict.SAFE
    result = scan_reader(BytesReader(b""), "x.pt")
    assert (result.format, result.verdict) == ("empty", Verdict.SAFE)


def test_unknown_binary_is_unscannable() -> None:
    result = scan_reader(BytesReader(b"\x00garbage\xff" * 20), "tokenizer.model")
    assert result.verdict is Verdict.UNSCANNABLE
    assert result.findings[0].rule == "format.unknown"


def test_scan_file_hash_matches(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    data = torch_zip({"data.pkl": pickle.dumps({"a": 1})}) * 1
    path.write_bytes(data)
    result = scan_file(path)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data) and result.verdict is Verdict.SAFE
    assert result.as_contract()["verdict"] == "safe"


def test_large_stored_members_are_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.pt"
    path.write_bytes(torch_zip({"data.pkl": pickle.dumps({}), "data/0": b"\x00" * (32 * 1024 * 1024)}))
    result = scan_file(path)
    assert result.verdict is Verdict.SAFE
    assert result.bytes_read < 1024 * 1024


def test_scanner_exception_becomes_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(router.pickle_scanner, "scan", boom)
    result = scan_reader(BytesReader(pickle.dumps(1)), "x.pkl")
    assert result.verdict is Verdict.UNSCANNABLE
    assert result.findings[0].rule == "scan.error" and "kaboom" in result.findings[0].message


def test_missing_format_module_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = router.importlib.import_module

    def fake(name: str, *a: object) -> object:
        if name.endswith(".gguf"):
            raise ImportError(name)
        return real_import(name, *a)

    monkeypatch.setattr(router.importlib, "import_module", fake)
    result = scan_reader(BytesReader(b"GGUF\x03\x00\x00\x00" + b"\x00" * 16), "m.gguf")
    assert result.verdict is Verdict.UNSCANNABLE
    assert result.findings[0].rule == "scan.unsupported"


def test_nested_archives_reach_pickles() -> None:
    inner = plain_zip({"deep/model.pkl": system()})
    tar = _tar({"bundle/inner.zip": inner})
    result = scan_reader(BytesReader(tar), "bundle.tar")
    assert result.verdict is Verdict.MALICIOUS
    mal = [f for f in result.findings if f.verdict is Verdict.MALICIOUS]
    assert mal[0].member == "bundle/inner.zip/deep/model.pkl"


def test_nesting_limit_is_unscannable() -> None:
    data = system()
    for i in range(6):
        data = plain_zip({f"l{i}.zip" if i else "x.pkl": data})
    result = scan_reader(BytesReader(data), "x.zip", limits=Limits(max_depth=3))
    assert any(f.rule == "scan.limit" for f in result.findings)
    assert result.verdict >= Verdict.UNSCANNABLE


def test_polyglot_pickle_with_zip_appended() -> None:
    data = pickle.dumps([1], protocol=2) + plain_zip({"a.pkl": system()})
    result = scan_reader(BytesReader(data), "x.pkl")
    rules = {f.rule for f in result.findings}
    assert "format.polyglot" in rules and result.verdict is Verdict.MALICIOUS


def test_zip_member_in_torch_archive_routed() -> None:
    data = torch_zip({"data.pkl": pickle.dumps({}), "extra/readme.txt": b"hello", "extra/blob": b"\x00\xff" * 8})
    result = scan_reader(BytesReader(data), "m.pt")
    assert result.verdict is Verdict.UNSCANNABLE
    assert {f.member for f in result.findings} == {"archive/extra/blob"}


def test_keras_zip_dispatch() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": []}}))
        z.writestr("metadata.json", "{}")
    result = scan_reader(BytesReader(buf.getvalue()), "m.keras")
    assert result.format == "keras"
    assert not any(f.rule in ("scan.error", "scan.unsupported") for f in result.findings), result.findings


def test_safetensors_header_length_that_looks_like_a_pickle_proto() -> None:
    import json as _json

    meta = {"__metadata__": {"pad": "x" * 200}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    hdr = _json.dumps(meta).encode()
    hdr += b" " * (0x180 - len(hdr))
    data = struct.pack("<Q", len(hdr)) + hdr + b"\x00" * 4
    assert data[:2] == b"\x80\x01"
    assert detect(BytesReader(data), "model.safetensors") == "safetensors"


def test_missing_file_is_unscannable(tmp_path: Path) -> None:
    result = scan_file(tmp_path / "nope.pt")
    assert result.verdict is Verdict.UNSCANNABLE and result.findings[0].rule == "scan.error"


def test_latin1_text_is_text() -> None:
    result = scan_reader(BytesReader("# Modèle\n\nDonnées d'entraînement.\n".encode("latin-1")), "README.md")
    assert (result.format, result.verdict) == ("text", Verdict.SAFE)


@pytest.mark.slow  # builds and scans the whole format corpus
def test_router_agrees_with_the_format_corpus(tmp_path: Path) -> None:
    """The other formats' corpus, scanned through the real router, keeps its expected verdicts."""
    from tests.scanning.corpus_formats import build_corpus as build_format_corpus

    differ = []
    for path, label in build_format_corpus(tmp_path):
        result = scan_file(path)
        if result.verdict.label != label:
            differ.append((path.name, label, result.format, result.verdict.label, [f.rule for f in result.findings]))
    assert not differ, differ


def test_compressed_pickle_under_pickle_extension_is_not_a_mismatch(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "model.pkl"
    path.write_bytes(gzip.compress(pickle.dumps({"a": 1})))
    result = scan_file(path)
    assert result.verdict is Verdict.SAFE, result.findings
