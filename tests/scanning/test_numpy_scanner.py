"""NumPy .npy / .npz scanning without numpy loading anything."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from scanning.scanners import numpy as npy
from scanning.scanners import scan_reader
from scanning.scanners.base import BytesReader, Verdict
from tests.scanning.corpus_pickle import npy_bytes, plain_zip, system


def saved(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(10, dtype=np.int16),
        np.zeros((2, 3), dtype=np.complex128),
        np.array(["a", "bcd"]),
        np.array([b"x", b"yz"]),
        np.zeros(2, dtype=[("a", "<f4"), ("b", "<i8", (3,)), ("c", "S2")]),
        np.array([np.datetime64("2024-01-01")]),
        np.array([1, "two", None], dtype=object),
        np.zeros((0, 5)),
        np.float32(3.0).reshape(()),
    ],
)
def test_real_arrays_are_safe(arr: np.ndarray) -> None:
    result = scan_reader(BytesReader(saved(arr)), "a.npy")
    assert result.format == "numpy"
    assert result.verdict is Verdict.SAFE, result.findings


def test_descr_info() -> None:
    assert npy.descr_info("<f8") == (8, False)
    assert npy.descr_info("<U3") == (12, False)
    assert npy.descr_info("|O") == (8, True)
    assert npy.descr_info([("a", "<f4"), ("b", "|O")]) == (12, True)
    assert npy.descr_info([("a", "<i2", (2, 2))]) == (8, False)


def test_object_array_payload_and_trailing_data() -> None:
    bad = npy_bytes({"descr": "|O", "fortran_order": False, "shape": (1,)}, system(proto=4))
    assert scan_reader(BytesReader(bad), "x.npy").verdict is Verdict.MALICIOUS
    extra = saved(np.arange(4)) + b"hidden"
    result = scan_reader(BytesReader(extra), "x.npy")
    assert result.verdict is Verdict.SUSPICIOUS and result.findings[0].rule == "numpy.trailing-data"
    truncated = saved(np.arange(100))[:-8]
    assert scan_reader(BytesReader(truncated), "x.npy").verdict is Verdict.UNSCANNABLE


def test_npz_members() -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, a=np.arange(5), b=np.array([{"k": 1}], dtype=object))
    result = scan_reader(BytesReader(buf.getvalue()), "x.npz")
    assert (result.format, result.verdict) == ("numpy-zip", Verdict.SAFE), result.findings
    bad = npy_bytes({"descr": "|O", "fortran_order": False, "shape": (1,)}, pickle.dumps(1) + b"")
    ok = scan_reader(BytesReader(plain_zip({"x.npy": bad})), "x.npz")
    assert ok.verdict is Verdict.SAFE
    evil = npy_bytes({"descr": "|O", "fortran_order": False, "shape": (1,)}, system())
    result = scan_reader(BytesReader(plain_zip({"a.npy": saved(np.arange(3)), "x.npy": evil})), "x.npz")
    assert result.verdict is Verdict.MALICIOUS
    assert {f.member for f in result.findings if f.verdict is Verdict.MALICIOUS} == {"x.npy"}


def test_malformed_headers() -> None:
    for data in (
        b"\x93NUMPY\x09\x00",
        b"\x93NUMPY\x01\x00\xff\xff{",
        npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (-1,)}, b""),
        b"\x93NUMPY\x01\x00\x20\x00__import__('os').system('x')    \n",
    ):
        result = scan_reader(BytesReader(data), "x.npy")
        assert result.verdict is Verdict.UNSCANNABLE, (data, result.findings)
