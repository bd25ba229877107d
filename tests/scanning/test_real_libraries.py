"""Benign corpus written by the REAL libraries: every file is ``safe`` with no finding above ``info``.

Objects are built and pickled by scikit-learn, scipy, pandas, lightgbm, xgboost, torch, numpy, joblib and the
stdlib in the formats real repos hold (pickle, joblib with and without compression, torch zip and legacy).
The fast set is a representative subset; the sweeps (every scikit-learn estimator that fits a tiny dataset,
torch modules/optimizers/schedulers in every format) are ``slow``.
"""

from __future__ import annotations

import datetime
import decimal
import fractions
import http
import ipaddress
import pathlib
import pickle
import time
import uuid
import warnings
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import torch
import xgboost as xgb
from scipy import stats
from scipy.interpolate import CubicSpline, UnivariateSpline, make_interp_spline
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.datasets import make_classification
from sklearn.feature_selection import SelectKBest, f_classif, mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from torch import nn

from scanning.scanners import scan_file

X, Y = make_classification(n_samples=60, n_features=6, n_informative=3, random_state=0)
FRAME = pd.DataFrame(
    {
        "a": [1, 2, 3],
        "b": ["x", "y", "z"],
        "when": pd.to_datetime(["2020-01-01", "2021-06-01", "2022-12-31"]).tz_localize("Europe/Paris"),
        "cat": pd.Categorical(["u", "v", "u"]),
        "n": pd.array([1, None, 3], dtype="Int64"),
        "s": pd.array(["a", None, "c"], dtype="string"),
    }
)

WRITERS: dict[str, Callable[[Any, Path], None]] = {
    "pickle": lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=4)),
    "pickle-p2": lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=2)),
    "joblib": lambda obj, path: joblib.dump(obj, path),
    "joblib-zlib": lambda obj, path: joblib.dump(obj, path, compress=3),
    "torch": lambda obj, path: torch.save(obj, path),
    "torch-legacy": lambda obj, path: torch.save(obj, path, _use_new_zipfile_serialization=False),
}


def assert_clean(obj: Any, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"obj.{fmt}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        WRITERS[fmt](obj, path)
    result = scan_file(path)
    loud = [(f.rule, f.severity.value, f.message, f.evidence) for f in result.findings if f.severity.value != "info"]
    assert result.verdict.label == "safe" and not loud, (result.format, loud)


def _torch_modules() -> dict[str, Any]:
    seq = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.LazyLinear(4), nn.GELU(), nn.Dropout(0.1)
    )
    lin = nn.Linear(3, 3)
    opt = torch.optim.AdamW(lin.parameters(), lr=1e-3)
    return {
        "transformer": nn.TransformerEncoderLayer(8, 2, 16, batch_first=True),
        "sequential": seq,
        "lstm+embedding": nn.ModuleDict(
            {"emb": nn.Embedding(5, 3), "rnn": nn.LSTM(3, 4), "mha": nn.MultiheadAttention(4, 2)}
        ),
        "weight_norm": torch.nn.utils.weight_norm(nn.Linear(3, 3)),
        "spectral_norm": torch.nn.utils.spectral_norm(nn.Linear(3, 3)),
        "quantized": torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(4, 4)), {nn.Linear}, torch.qint8),
        "optimizer+scheduler": {
            "opt": opt,
            "sched": torch.optim.lr_scheduler.StepLR(opt, 3),
            "onecycle": torch.optim.lr_scheduler.OneCycleLR(
                torch.optim.SGD(lin.parameters(), lr=0.1), 1.0, total_steps=9
            ),
        },
        "functional": {"relu": torch.nn.functional.relu, "gelu": torch.nn.functional.gelu},
        "return_types": torch.max(torch.randn(3, 3), 0),
        "generator": torch.Generator().manual_seed(1),
        "tensors": {"t": torch.randn(2, 2), "p": nn.Parameter(torch.ones(2)), "h": torch.ones(2, dtype=torch.float16)},
    }


def _sklearn_objects() -> dict[str, Any]:
    return {
        "grid-search+f1-scorer": GridSearchCV(
            LogisticRegression(max_iter=300), {"C": [0.1, 1]}, cv=2, scoring=make_scorer(f1_score)
        ).fit(X, Y),
        "random-search+scipy-dists": RandomizedSearchCV(
            SVC(), {"C": stats.loguniform(1e-2, 1e2), "gamma": stats.uniform(0, 1)}, n_iter=2, cv=2, random_state=0
        ).fit(X, Y),
        "random-search+randint": RandomizedSearchCV(
            LogisticRegression(max_iter=300), {"C": stats.randint(1, 5)}, n_iter=2, cv=2, random_state=0, scoring="f1"
        ).fit(X, Y),
        "select-k-best": [SelectKBest(f_classif, k=3).fit(X, Y), SelectKBest(mutual_info_classif, k=3).fit(X, Y)],
        "column-selector": ColumnTransformer(
            [
                ("num", StandardScaler(), make_column_selector(dtype_include="number")),
                ("cat", OneHotEncoder(), make_column_selector(dtype_include=object)),
            ]
        ).fit(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})),
        "kmeans": KMeans(3, n_init=2, random_state=0).fit(X),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X, Y),
        "splines": [
            make_interp_spline(np.arange(10.0), np.arange(10.0) ** 2),
            UnivariateSpline(np.arange(10.0), np.arange(10.0) ** 2),
            CubicSpline(np.arange(10.0), np.arange(10.0) ** 2),
        ],
        "frozen-dist": stats.norm(0, 1),
    }


def _boosters() -> dict[str, Any]:
    return {
        "lightgbm-sklearn": lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, Y),
        "lightgbm-booster": lgb.train({"verbose": -1}, lgb.Dataset(X, Y), 3),
        "xgboost-sklearn": xgb.XGBClassifier(n_estimators=3).fit(X, Y),
        "xgboost-booster": xgb.train({}, xgb.DMatrix(X, Y), 3),
    }


def _pandas_objects() -> dict[str, Any]:
    return {
        "dataframe": FRAME,
        "series": FRAME["a"],
        "multiindex": FRAME.set_index(["a", "b"]),
        "intervals": pd.interval_range(0, 5),
        "periods": pd.period_range("2020-01", periods=3, freq="M"),
        "timedeltas": pd.to_timedelta([1, 2], unit="D"),
        "sparse": pd.arrays.SparseArray([0, 0, 1]),
        "scalars": [pd.Timestamp("2020-01-01", tz="UTC"), pd.Timedelta(1, "h"), pd.NaT, pd.NA, pd.Period("2020Q1")],
    }


def _stdlib_values() -> Any:
    return {
        "struct_time": time.gmtime(0),
        "status": http.HTTPStatus.OK,
        "zone": zoneinfo.ZoneInfo("Europe/Paris"),
        "ips": [ipaddress.ip_address("10.0.0.1"), ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_interface("::1/64")],
        "when": [datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC), datetime.date(2020, 1, 1), datetime.timedelta(1)],
        "numbers": [decimal.Decimal("1.5"), fractions.Fraction(1, 3), complex(1, 2)],
        "ids": uuid.UUID("12345678123456781234567812345678"),
        "paths": [pathlib.PurePosixPath("/a/b"), pathlib.PureWindowsPath("c:/x"), pathlib.Path("/tmp/x")],
    }


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


def _sweep_cases() -> list[tuple[str, str, str]]:
    cases: list[tuple[str, str, str]] = []
    for group, names in [
        ("sklearn", ["grid-search+f1-scorer", "random-search+scipy-dists", "random-search+randint", "select-k-best",
                     "column-selector", "kmeans", "pipeline", "splines", "frozen-dist"]),
        ("boosters", ["lightgbm-sklearn", "lightgbm-booster", "xgboost-sklearn", "xgboost-booster"]),
        ("pandas", ["dataframe", "series", "multiindex", "intervals", "periods", "timedeltas", "sparse", "scalars"]),
    ]:  # fmt: skip
        for name in names:
            for fmt in ("pickle", "pickle-p2", "joblib", "joblib-zlib"):
                cases.append((group, name, fmt))
    for name in [
        "transformer", "sequential", "lstm+embedding", "weight_norm", "spectral_norm", "quantized",
        "optimizer+scheduler", "functional", "return_types", "generator", "tensors",
    ]:  # fmt: skip
        for fmt in ("torch", "torch-legacy", "pickle", "joblib"):
            cases.append(("torch", name, fmt))
    return cases


_GROUPS: dict[str, Callable[[], dict[str, Any]]] = {
    "sklearn": _sklearn_objects,
    "boosters": _boosters,
    "pandas": _pandas_objects,
    "torch": _torch_modules,
}
_BUILT: dict[str, dict[str, Any]] = {}


def built(group: str) -> dict[str, Any]:
    """Each group of real objects is built (fitted) once per test session."""
    if group not in _BUILT:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _BUILT[group] = _GROUPS[group]()
    return _BUILT[group]


@pytest.mark.slow
@pytest.mark.parametrize(("group", "name", "fmt"), _sweep_cases(), ids=["-".join(c) for c in _sweep_cases()])
def test_real_library_sweep(group: str, name: str, fmt: str, tmp_path: Path) -> None:
    obj = built(group)[name]
    if fmt == "torch-legacy" and name == "quantized":
        fmt = "torch"  # ScriptObject packed params cannot be written by the legacy serializer
    assert_clean(obj, fmt, tmp_path)


def _fitted_estimators() -> list[tuple[str, Any]]:
    """Every scikit-learn estimator that fits cheaply on a tiny dataset with its default parameters."""
    from sklearn.utils import all_estimators

    Xc, yc = make_classification(n_samples=40, n_features=5, n_informative=3, random_state=0)
    Xc = np.abs(Xc)  # some estimators (chi2-based, NMF…) need non-negative input
    out: list[tuple[str, Any]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, cls in all_estimators():
            try:
                est = cls()
                est.fit(Xc, yc)
            except Exception:  # noqa: S112 - estimators needing parameters/special input are skipped
                continue
            out.append((name, est))
    return out


@pytest.mark.slow
def test_every_cheaply_fitted_sklearn_estimator_is_safe(tmp_path: Path) -> None:
    fitted = _fitted_estimators()
    assert len(fitted) >= 120, len(fitted)
    flagged = []
    for name, est in fitted:
        for fmt in ("pickle", "joblib-zlib"):
            path = tmp_path / f"{name}.{fmt}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                WRITERS[fmt](est, path)
            result = scan_file(path)
            loud = [(f.rule, f.message[:120]) for f in result.findings if f.severity.value != "info"]
            if result.verdict.label != "safe" or loud:
                flagged.append((name, fmt, result.verdict.label, loud[:3]))
    assert not flagged, flagged
