"""Real-library corpus: benign files written by the REAL libraries, and pickle attacks with harmless payloads.

Benign: objects built and pickled by scikit-learn, scipy, pandas, lightgbm, xgboost, torch, numpy, joblib and the
stdlib in the formats real repos hold (pickle protocol 2/4, joblib with and without zlib, torch zip and legacy),
plus every scikit-learn estimator that fits a tiny dataset with its default parameters.
Attacks: hand-assembled opcode streams (re-exports of dangerous objects under trusted package paths, format
abuse that crashes/exhausts the loader, PROTO-less and protocol-0 streams, gadget tricks). They are NEVER
loaded; payloads are harmless anyway (``echo``).

``build_corpus(dirpath) -> list[tuple[Path, str]]``: every file and its expected verdict label (used by
``tests/scanning/test_real_libraries.py`` and ``bench/scan/detection.py``).
"""

from __future__ import annotations

import datetime
import decimal
import fractions
import http
import ipaddress
import pathlib
import pickle
import struct
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

from tests.scanning.corpus_pickle import call, legacy_torch, p2, p4, sg, tup, u

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

WRITERS: dict[str, Callable[[Any, Path], object]] = {
    "pickle": lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=4)),
    "pickle-p2": lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=2)),
    "joblib": lambda obj, path: joblib.dump(obj, path),
    "joblib-zlib": lambda obj, path: joblib.dump(obj, path, compress=3),
    "torch": lambda obj, path: torch.save(obj, path),
    "torch-legacy": lambda obj, path: torch.save(obj, path, _use_new_zipfile_serialization=False),
}


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


GROUPS: dict[str, Callable[[], dict[str, Any]]] = {
    "sklearn": _sklearn_objects,
    "boosters": _boosters,
    "pandas": _pandas_objects,
    "torch": _torch_modules,
}
_BUILT: dict[str, dict[str, Any]] = {}


def built(group: str) -> dict[str, Any]:
    """Each group of real objects is built (fitted) once per process."""
    if group not in _BUILT:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _BUILT[group] = GROUPS[group]()
    return _BUILT[group]


def write(obj: Any, fmt: str, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        WRITERS[fmt](obj, path)


def sweep_cases() -> list[tuple[str, str, str]]:
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


def fitted_estimators() -> list[tuple[str, Any]]:
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


# -- attacks (harmless payloads; never loaded) --------------------------------------------------------------

# (module a pickle names, name): re-exports of dangerous objects under trusted package paths
REEXPORTS: list[tuple[str, str, str]] = [
    ("sklearn.datasets._base", "NamedTemporaryFile", "tempfile.NamedTemporaryFile"),
    ("sklearn.datasets._covtype", "TemporaryDirectory", "tempfile.TemporaryDirectory"),
    ("sklearn.datasets._base", "makedirs", "os.makedirs"),
    ("sklearn.datasets._lfw", "Memory", "joblib.memory.Memory"),
    ("sklearn.callback._transport", "Listener", "multiprocessing.connection.Listener"),
    ("sklearn.callback._transport", "Client", "multiprocessing.connection.Client"),
    ("sklearn.callback._progressbar", "Thread", "threading.Thread"),
    ("sklearn.datasets._openml", "urlopen", "urllib.request.urlopen"),
    ("lightgbm.basic", "NamedTemporaryFile", "tempfile.NamedTemporaryFile"),
]

ABUSE: dict[str, bytes] = {
    "frame-2-63": b"\x80\x04\x95" + struct.pack("<Q", 2**63) + u("a") + b"\x94.",
    "frame-2-63-then-payload": b"\x80\x04\x95"
    + struct.pack("<Q", 2**63 - 1)
    + call(sg("os", "system"), u("echo hi"))
    + b".",
    "long-binput-ffffffff": b"\x80\x04" + u("a") + b"r" + struct.pack("<I", 0xFFFFFFFF) + b".",
    "text-put-huge-index": b"S'a'\np99999999999\n.",
    "binbytes8-petabyte": b"\x80\x04\x8e" + struct.pack("<Q", 2**50) + b"abc.",
    "memo-overwrite": p4(
        sg("collections", "OrderedDict") + b"q\x010" + sg("os", "system") + b"q\x01h\x01" + u("echo hi") + b"\x85R"
    ),
}

SNIFFED: dict[str, bytes] = {
    "p0-global": b"cos\nsystem\n(S'echo hi'\ntR.",
    "p0-long-first-string": b"S'" + b"A" * 200_000 + b"'\np0\n0cos\nsystem\n(S'echo hi'\ntR.",
    "p0-unicode-first": b"Vhello\np0\n0cos\nsystem\n(Vecho hi\ntR.",
    "p1-binstring-first": b"U\x05hello0cos\nsystem\n(U\x07echo hitR.",
    "p4-opcodes-without-proto": u("hello") + b"0" + sg("os", "system") + u("echo hi") + b"\x85R.",
    "frame-without-proto": b"\x95\x1e" + b"\x00" * 7 + sg("os", "system") + u("echo hi") + b"\x85R.",
}


def _module_pid(module: str, name: str) -> bytes:
    return tup(u("module"), sg(module, name), u("/x.py"), u("class X: pass")) + b"Q"


def gadgets() -> dict[str, bytes]:
    bad_inner = legacy_torch(p2(call(sg("os", "system"), u("echo hi"))))
    return {
        "getattr-path-write-text": p4(
            call(
                call(sg("builtins", "getattr"), call(sg("pathlib", "PosixPath"), u("/tmp/x")), u("write_text")), u("x")
            )
        ),
        "getattr-unresolvable": p4(
            call(call(sg("builtins", "getattr"), call(sg("builtins", "dict")), call(sg("builtins", "str"))), u("x"))
        ),
        "load-from-bytes-payload": p4(
            call(sg("torch.storage", "_load_from_bytes"), b"B" + struct.pack("<I", len(bad_inner)) + bad_inner)
        ),
        "load-from-bytes-computed": p4(
            call(sg("torch.storage", "_load_from_bytes"), call(sg("builtins", "bytes"), u("x")))
        ),
        "legacy-module-persid-os-system": legacy_torch(p2(_module_pid("os", "system") + tup(u("echo hi")) + b"R")),
        "build-setstate-hijack": p4(
            sg("numpy", "vectorize") + b")\x81}" + u("__setstate__") + sg("os", "system") + b"sb"
        ),
    }


def attack_samples() -> list[tuple[str, bytes, str]]:
    out: list[tuple[str, bytes, str]] = []
    for module, name, _real in REEXPORTS:
        out.append((f"reexport-{module}.{name}.pkl", p4(call(sg(module, name), u("/tmp/modelgate-test"))), "malicious"))
    out += [(f"abuse-{k}.pkl", v, "malicious") for k, v in ABUSE.items()]
    out += [(f"sniff-{k}.bin", v, "malicious") for k, v in SNIFFED.items()]
    out += [(f"gadget-{k}.pkl", v, "malicious") for k, v in gadgets().items()]
    return out


def build_corpus(dirpath: Path | str, *, estimators: bool = True) -> list[tuple[Path, str]]:
    """Write every sample into ``dirpath``; returns (file, expected label)."""
    root = Path(dirpath)
    root.mkdir(parents=True, exist_ok=True)
    items: list[tuple[Path, str]] = []
    for name, data, label in attack_samples():
        path = root / name
        path.write_bytes(data)
        items.append((path, label))
    for group, name, fmt in sweep_cases():
        obj = built(group)[name]
        if fmt == "torch-legacy" and name == "quantized":
            continue  # the legacy serializer cannot write ScriptObject packed params
        path = root / f"real-{group}-{name}.{fmt}"
        write(obj, fmt, path)
        items.append((path, "safe"))
    for fmt in ("pickle", "pickle-p2"):
        path = root / f"real-stdlib-values.{fmt}"
        write(_stdlib_values(), fmt, path)
        items.append((path, "safe"))
    if estimators:
        for name, est in fitted_estimators():
            for fmt in ("pickle", "joblib-zlib"):
                path = root / f"real-sklearn-estimator-{name}.{fmt}"
                write(est, fmt, path)
                items.append((path, "safe"))
    return items
