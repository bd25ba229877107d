"""Pickles inside containers: joblib interleaved arrays, PyTorch archives, legacy checkpoints."""

from __future__ import annotations

import io
import pickle
import zlib
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch

from scanning.scanners import scan_file, scan_reader
from scanning.scanners import torch as torch_scanner
from scanning.scanners.base import BytesReader, Verdict
from tests.scanning.corpus_pickle import legacy_torch, system, torch_zip


def dump(obj: object, **kw: object) -> bytes:
    buf = io.BytesIO()
    joblib.dump(obj, buf, **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def test_joblib_arrays_are_skipped_exactly() -> None:
    obj = {
        "f": np.arange(1000.0),
        "i": np.arange(7, dtype=np.int8),
        "fortran": np.asfortranarray(np.ones((3, 4))),
        "u": np.array(["x", "yy"]),
        "o": np.array([1, None, "z"], dtype=object),
        "empty": np.zeros((0, 3)),
        "scalar": np.array(5.0),
        "rec": np.zeros(2, dtype=[("a", "<f4"), ("b", "S3")]),
    }
    result = scan_reader(BytesReader(dump(obj)), "x.joblib")
    assert (result.format, result.verdict) == ("joblib", Verdict.SAFE), result.findings


def test_joblib_hidden_pickle_in_array_bytes() -> None:
    hidden = np.frombuffer(b"xx" + b"cos\nsystem\n(S'true'\ntR." + b"yy", dtype=np.uint8)
    result = scan_reader(BytesReader(dump({"a": hidden})), "x.joblib")
    assert result.verdict is Verdict.MALICIOUS
    assert any(f.rule == "joblib.hidden-global" and f.evidence == "os.system" for f in result.findings)


def test_joblib_object_array_payload() -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, ("true",))

    data = dump({"a": np.array([1, Evil()], dtype=object)})
    result = scan_reader(BytesReader(data), "x.joblib")
    assert result.verdict is Verdict.MALICIOUS
    assert any(f.evidence == "posix.system('true')" for f in result.findings)


@pytest.mark.parametrize("compress", [3, ("gzip", 3), ("bz2", 1), ("xz", 1)])
def test_compressed_joblib(tmp_path: Path, compress: object) -> None:
    path = tmp_path / "m.joblib"
    joblib.dump({"a": np.arange(50), "b": [1, 2]}, path, compress=compress)
    result = scan_file(path)
    assert result.verdict is Verdict.SAFE, (result.format, result.findings)


def test_joblib_corrupt_zlib_is_unscannable() -> None:
    data = zlib.compress(pickle.dumps({"a": 1}))[:-6] + b"\x00\x00\x00\x00\x00\x00"
    assert scan_reader(BytesReader(data), "x.joblib").verdict is Verdict.UNSCANNABLE


def test_torch_zip_members_named() -> None:
    data = torch_zip({"data.pkl": pickle.dumps({}), "data/0": system(), "weird/extra.pkl": system()})
    result = scan_reader(BytesReader(data), "m.pt")
    # raw storages are never unpickled by torch; every other pickle is
    members = {f.member for f in result.findings if f.verdict is Verdict.MALICIOUS}
    assert members == {"archive/weird/extra.pkl"}


def test_torchscript_real_archive_is_safe_and_custom_ops_flagged(tmp_path: Path) -> None:
    path = tmp_path / "ts.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    assert scan_file(path).verdict is Verdict.SAFE
    code = b"def forward(self, x):\n    return torch.ops.evil.run(x)\n"
    data = torch_zip({"data.pkl": pickle.dumps({}), "constants.pkl": pickle.dumps(()), "code/__torch__.py": code})
    result = scan_reader(BytesReader(data), "ts.pt")
    assert result.format == "torchscript"
    assert any(f.rule == "torchscript.custom-op" for f in result.findings)


def test_legacy_checkpoint_real_and_trailing(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    torch.save({"a": torch.ones(3), "b": torch.zeros(2, dtype=torch.int64)}, path, _use_new_zipfile_serialization=False)
    assert scan_file(path).verdict is Verdict.SAFE
    data = path.read_bytes() + b"\x80\x02cos\nsystem\n."
    result = scan_reader(BytesReader(data), "old.pt")
    assert result.verdict is Verdict.SUSPICIOUS
    assert any(f.rule == "torch.legacy.trailing-data" for f in result.findings)


def test_legacy_detection() -> None:
    assert torch_scanner.is_legacy(legacy_torch(pickle.dumps({}))[:64])
    assert not torch_scanner.is_legacy(pickle.dumps({})[:64])


def test_joblib_unaligned_array_bytes_that_parse_as_pickle() -> None:
    from tests.scanning.corpus_pickle import call, p4, sg, tup, u

    # pickle.load (not joblib.load) parses the "array bytes" as opcodes: memo-based STACK_GLOBAL, no
    # text patterns for a byte search to find; the probe walk of the region finds it.
    payload = u("os") + b"q\xc8" + b"0" + u("system") + b"q\xc9" + b"0" + b"h\xc8h\xc9\x93" + tup(u("true")) + b"R0"
    dtype = (
        call(sg("numpy", "dtype"), u("u1"), b"\x89", b"\x88")
        + tup(b"K\x03", u("|"), b"NNN", b"J\xff\xff\xff\xff" * 2, b"K\x00")
        + b"b"
    )
    state = (
        b"}(" + u("shape") + b"K" + bytes([len(payload)]) + b"\x85" + u("dtype") + dtype + u("order") + u("C") + b"u"
    )
    wrapper = sg("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"b"
    data = p4(wrapper + payload)
    result = scan_reader(BytesReader(data), "x.joblib")
    assert result.verdict is Verdict.MALICIOUS, result.findings
    assert any(f.rule == "joblib.hidden-global" and "os.system" in f.evidence for f in result.findings)
