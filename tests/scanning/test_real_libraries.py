"""Benign corpus written by the REAL libraries: every file is ``safe`` with no finding above ``info``.

The objects and writers are in :mod:`tests.scanning.corpus_real` (shared with the detection bench). The fast
set is a representative subset; the sweeps (every group in every format, every scikit-learn estimator that fits
a tiny dataset) are ``slow``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from scanning.scanners import scan_file
from tests.scanning.corpus_real import FRAME, _stdlib_values, built, fitted_estimators, sweep_cases, write


def assert_clean(obj: Any, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"obj.{fmt}"
    write(obj, fmt, path)
    result = scan_file(path)
    loud = [(f.rule, f.severity.value, f.message, f.evidence) for f in result.findings if f.severity.value != "info"]
    assert result.verdict.label == "safe" and not loud, (result.format, loud)


# -- fast representative subset -------------------------------------------------------------------------------

FAST: list[tuple[str, Callable[[], Any], str]] = [
    ("pandas dataframe", lambda: FRAME, "pickle"),
    ("pandas dataframe", lambda: FRAME, "joblib"),
    ("grid search + scorer", lambda: built("sklearn")["grid-search+f1-scorer"], "joblib"),
    ("random search + scipy dists", lambda: built("sklearn")["random-search+randint"], "pickle"),
    ("lightgbm", lambda: built("boosters")["lightgbm-sklearn"], "joblib-zlib"),
    ("xgboost", lambda: built("boosters")["xgboost-booster"], "pickle"),
    ("torch whole module", lambda: nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), "torch"),
    ("torch whole module legacy", lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.LazyLinear(2)), "torch-legacy"),
    ("torch whole module via pickle", lambda: torch.nn.utils.weight_norm(nn.Linear(3, 3)), "pickle"),
    (
        "torch quantized",
        lambda: torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(4, 4)), {nn.Linear}, torch.qint8),
        "torch",
    ),
    ("stdlib values", _stdlib_values, "pickle"),
    ("stdlib values", _stdlib_values, "pickle-p2"),
]


@pytest.mark.parametrize(("what", "build", "fmt"), FAST, ids=[f"{w}-{f}" for w, _, f in FAST])
def test_real_library_object_is_safe(what: str, build: Callable[[], Any], fmt: str, tmp_path: Path) -> None:
    assert_clean(build(), fmt, tmp_path)


# -- sweeps -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("group", "name", "fmt"), sweep_cases(), ids=["-".join(c) for c in sweep_cases()])
def test_real_library_sweep(group: str, name: str, fmt: str, tmp_path: Path) -> None:
    obj = built(group)[name]
    if fmt == "torch-legacy" and name == "quantized":
        fmt = "torch"  # ScriptObject packed params cannot be written by the legacy serializer
    assert_clean(obj, fmt, tmp_path)


@pytest.mark.slow
def test_every_cheaply_fitted_sklearn_estimator_is_safe(tmp_path: Path) -> None:
    fitted = fitted_estimators()
    assert len(fitted) >= 120, len(fitted)
    flagged = []
    for name, est in fitted:
        for fmt in ("pickle", "joblib-zlib"):
            path = tmp_path / f"{name}.{fmt}"
            write(est, fmt, path)
            result = scan_file(path)
            loud = [(f.rule, f.message[:120]) for f in result.findings if f.severity.value != "info"]
            if result.verdict.label != "safe" or loud:
                flagged.append((name, fmt, result.verdict.label, loud[:3]))
    assert not flagged, flagged
