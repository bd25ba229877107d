"""Mutated / truncated containers never crash the scanners (a malformed file is a finding)."""

from __future__ import annotations

import io
import pickle
import random

import numpy as np
import pytest

from scanning.scanners import scan_reader
from scanning.scanners.base import BytesReader, Limits, Verdict
from tests.scanning.corpus_pickle import legacy_tar, legacy_torch, npy_bytes, plain_zip, system, torch_zip


def _npz() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, a=np.arange(10), o=np.array([1, "x"], dtype=object))
    return buf.getvalue()


SEEDS = {
    "torch-zip": torch_zip({"data.pkl": pickle.dumps({"a": [1, 2]}, protocol=2), "data/0": b"\0" * 64}),
    "torch-zip-deflated": torch_zip({"data.pkl": system()}, deflate=True),
    "npz": _npz(),
    "npy-object": npy_bytes(
        {"descr": "|O", "fortran_order": False, "shape": (2,)}, pickle.dumps(np.array([1, 2], dtype=object))
    ),
    "legacy": legacy_torch(pickle.dumps({"x": 1}, protocol=2)),
    "legacy-tar": legacy_tar(),
    "zip-in-zip": plain_zip({"inner.zip": plain_zip({"a.pkl": pickle.dumps(1)})}),
}


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_mutations_never_crash(name: str) -> None:
    rng = random.Random(name)
    seed = SEEDS[name]
    limits = Limits(max_seconds=5, max_decompressed=16 * 1024 * 1024)
    for i in range(150):
        data = bytearray(seed)
        if i % 5 == 0:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        result = scan_reader(BytesReader(bytes(data)), f"fuzz.{name}")
        errors = [f for f in result.findings if f.rule == "scan.error"]
        assert not errors, (name, i, errors)
        if 64 <= len(data) < len(seed) and i % 5 == 0 and name != "legacy-tar":
            assert result.verdict >= Verdict.SUSPICIOUS or result.format == "empty", (name, len(data), result.findings)
        assert result.verdict is not None
    assert limits.max_seconds == 5


def _joblib_bytes() -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump({"a": np.arange(20.0), "o": np.array([1, "x"], dtype=object), "s": "text"}, buf)
    return buf.getvalue()


PICKLE_SEEDS = {
    "joblib": _joblib_bytes(),
    "numpy-p2": pickle.dumps({"a": np.arange(6).reshape(2, 3), "r": np.random.RandomState(0)}, protocol=2),
    "numpy-p5": pickle.dumps([np.float32(1), np.dtype([("a", "<f4")]), np.arange(3)], protocol=5),
    "text-p0": pickle.dumps({"k": [1, 2.5, "s", (None, True)], "s": {1, 2}}, protocol=0),
}


@pytest.mark.parametrize("name", sorted(PICKLE_SEEDS))
def test_pickle_mutations_never_crash(name: str) -> None:
    rng = random.Random(name)
    seed = PICKLE_SEEDS[name]
    for i in range(400):
        data = bytearray(seed)
        if i % 7 == 0:
            data = data[: rng.randrange(1, len(data))]
        else:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        result = scan_reader(BytesReader(bytes(data)), f"fuzz-{name}.pkl", limits=Limits(max_seconds=10))
        assert not [f for f in result.findings if f.rule in ("scan.error", "scan.limit")], (name, i, bytes(data))
