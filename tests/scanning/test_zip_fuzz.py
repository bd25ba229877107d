"""Mutated / truncated containers never crash the scanners (a malformed file is a finding)."""

from __future__ import annotations

import io
import json
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


# What each unmutated seed is: a fuzz run over seeds that are not what we think proves nothing.
SEED_VERDICTS = {
    "torch-zip": ("pytorch-zip", Verdict.SAFE),
    "torch-zip-deflated": ("pytorch-zip", Verdict.MALICIOUS),
    "npz": ("numpy-zip", Verdict.SAFE),
    "npy-object": ("numpy", Verdict.SAFE),
    "legacy": ("pytorch-legacy", Verdict.SAFE),
    "legacy-tar": ("pytorch-legacy", Verdict.SAFE),
    "zip-in-zip": ("zip", Verdict.SAFE),
}
CATEGORIES = {"code-execution", "process", "network", "filesystem", "obfuscation", "format-abuse", "remote-code",
              "unscannable"}  # fmt: skip
SEVERITIES = {"critical", "high", "medium", "low", "info"}


def _check_contract(result) -> None:
    """The `scan --json` line of any result, however broken the file, is valid (DESIGN.md contract)."""
    line = json.loads(json.dumps(result.as_contract()))
    assert set(line) == {"path", "format", "verdict", "sha256", "findings"}
    assert line["verdict"] in {"safe", "suspicious", "malicious", "unscannable"}
    for finding in line["findings"]:
        assert set(finding) == {"rule", "category", "severity", "message", "evidence"}, finding
        assert finding["category"] in CATEGORIES and finding["severity"] in SEVERITIES, finding
    if result.format == "unknown":
        assert result.verdict >= Verdict.UNSCANNABLE, result.findings  # fail closed, never safe


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seeds_are_what_the_fuzzer_assumes(name: str) -> None:
    result = scan_reader(BytesReader(SEEDS[name]), f"fuzz.{name}")
    assert (result.format, result.verdict) == SEED_VERDICTS[name], result.findings


@pytest.mark.slow
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
        result = scan_reader(BytesReader(bytes(data)), f"fuzz.{name}", limits=limits)
        errors = [f for f in result.findings if f.rule == "scan.error"]
        assert not errors, (name, i, errors)
        _check_contract(result)
        assert result.seconds < limits.max_seconds, (name, i, result.seconds)
        if 64 <= len(data) < len(seed) and i % 5 == 0 and name != "legacy-tar":
            assert result.verdict >= Verdict.SUSPICIOUS or result.format == "empty", (name, len(data), result.findings)
        if SEED_VERDICTS[name][1] == Verdict.MALICIOUS:
            assert result.verdict > Verdict.SAFE, (name, i, result.findings)  # damage never launders a payload


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


@pytest.mark.slow
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
        _check_contract(result)
