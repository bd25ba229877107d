"""Pickles naming scikit-learn's *historical* module paths (``sklearn.tree.tree``…) are judged by what they are.

The pickles are written by today's scikit-learn and joblib, then their GLOBAL / STACK_GLOBAL module names are
rewritten in the opcode stream to the paths older releases used (the way old pickles read: same objects,
old module names). The table behind it (``pickle_history.json``) is generated from the old wheels by
``pickle_history``; its static analysis is tested here on a hand-made wheel, with no download.
"""

from __future__ import annotations

import io
import json
import pickle
import pickletools
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from scanning.scanners import pickle_history, scan_reader
from scanning.scanners.base import BytesReader, Verdict
from scanning.scanners.pickle_rules import Decision, _current_inventory, _inventory, classify
from tests.scanning.corpus_pickle import call, g, p2, u

# today's defining module -> the path scikit-learn 0.20-0.22 pickles name (and the class checked)
OLD_PATHS = {
    "sklearn.tree._classes": "sklearn.tree.tree",
    "sklearn.ensemble._forest": "sklearn.ensemble.forest",
    "sklearn.linear_model._logistic": "sklearn.linear_model.logistic",
    "sklearn.svm._classes": "sklearn.svm.classes",
    "sklearn.preprocessing._data": "sklearn.preprocessing.data",
    "sklearn.neighbors._classification": "sklearn.neighbors.classification",
    "sklearn.neighbors._kd_tree": "sklearn.neighbors.kd_tree",
    "joblib.numpy_pickle": "sklearn.externals.joblib.numpy_pickle",
}


def rename_modules(data: bytes, renames: dict[str, str]) -> bytes:
    """Re-emit a pickle with module names replaced in GLOBAL and in the strings STACK_GLOBAL pops (no FRAMEs)."""
    out = bytearray()
    ops = list(pickletools.genops(data))
    for i, (op, arg, pos) in enumerate(ops):
        assert pos is not None
        end = ops[i + 1][2] if i + 1 < len(ops) else len(data)
        if op.name == "FRAME":
            continue
        if op.name == "GLOBAL":
            module, name = str(arg).split(" ", 1)
            out += b"c" + renames.get(module, module).encode() + b"\n" + name.encode() + b"\n"
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE") and arg in renames:
            out += u(renames[arg])
        else:
            out += data[pos:end]
    return bytes(out)


def fitted() -> dict[str, object]:
    rs = np.random.RandomState(0)
    x, y = rs.rand(40, 3), np.arange(40) % 2
    return {
        "tree": DecisionTreeClassifier(max_depth=3).fit(x, y),
        "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
        "logistic": LogisticRegression().fit(x, y),
        "svc": SVC().fit(x, y),
        "pipeline": make_pipeline(StandardScaler(), KNeighborsClassifier(algorithm="kd_tree")).fit(x, y),
    }


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("name", ["tree", "forest", "logistic", "svc", "pipeline"])
def test_old_sklearn_paths_are_safe(name: str, protocol: int) -> None:
    data = rename_modules(pickle.dumps(fitted()[name], protocol=protocol), OLD_PATHS)
    named = {f"{m}:{n}" for m, n in _globals(data)}
    old = {k for k in named if k.split(":")[0] in OLD_PATHS.values()}
    assert old, named  # the stream really names old paths …
    assert not old & set(_current_inventory())  # … that today's inventory alone does not know
    result = scan_reader(BytesReader(data), "model.pkl")
    assert result.verdict is Verdict.SAFE, result.findings


def test_old_joblib_file_with_vendored_numpy_wrapper_is_safe() -> None:
    buf = io.BytesIO()
    joblib.dump({"coef": np.arange(10.0), "model": fitted()["logistic"]}, buf, protocol=2)
    # raw array bytes follow each wrapper (no opcode walk): protocol 2 GLOBALs are plain text lines
    data = buf.getvalue()
    for new, old in OLD_PATHS.items():
        data = data.replace(b"c" + new.encode() + b"\n", b"c" + old.encode() + b"\n")
    assert b"csklearn.externals.joblib.numpy_pickle\nNumpyArrayWrapper\n" in data
    result = scan_reader(BytesReader(data), "model.joblib")
    assert result.verdict is Verdict.SAFE, result.findings


@pytest.mark.parametrize(
    ("module", "name", "real"),
    [
        ("sklearn.externals.joblib", "Memory", "joblib:Memory"),  # vendored joblib: Memory writes a cache dir
        ("sklearn.externals.joblib.memory", "Memory", "joblib.memory:Memory"),
        ("sklearn.externals.joblib", "Parallel", "joblib:Parallel"),
        ("sklearn.datasets.base", "urlretrieve", "urllib.request:urlretrieve"),  # an old re-export
    ],
)
def test_dangerous_old_paths_stay_malicious(module: str, name: str, real: str) -> None:
    assert classify(module, name).decision is Decision.DENY
    data = p2(call(g(module, name), u("/tmp/cache")))
    result = scan_reader(BytesReader(data), "model.pkl")
    assert result.verdict is Verdict.MALICIOUS, result.findings
    assert any(real.replace(":", ".") in f.message for f in result.findings), result.findings


def test_history_agrees_with_the_current_public_names() -> None:
    current = _current_inventory()
    inv = _inventory()
    for old, public in [
        ("sklearn.tree.tree:DecisionTreeClassifier", "sklearn.tree:DecisionTreeClassifier"),
        ("sklearn.ensemble.forest:RandomForestClassifier", "sklearn.ensemble:RandomForestClassifier"),
        ("sklearn.linear_model.logistic:LogisticRegression", "sklearn.linear_model:LogisticRegression"),
        ("sklearn.svm.classes:SVC", "sklearn.svm:SVC"),
        ("sklearn.preprocessing.data:StandardScaler", "sklearn.preprocessing:StandardScaler"),
        ("sklearn.neighbors.kd_tree:KDTree", "sklearn.neighbors:KDTree"),
    ]:
        assert old not in current
        assert inv[old] == current[public], old


def _globals(data: bytes) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    strings: list[str] = []
    for op, arg, _pos in pickletools.genops(data):
        if op.name == "GLOBAL":
            module, name = str(arg).split(" ", 1)
            out.append((module, name))
        elif isinstance(arg, str):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            out.append((strings[-2], strings[-1]))
    return out


# --- the static analysis, on a hand-made "old wheel" ---------------------------------------------------------


def _wheel(tmp_path: Path) -> Path:
    path = tmp_path / "scikit_learn-0.0.1-cp38-cp38-manylinux1_x86_64.whl"
    files = {
        "sklearn/__init__.py": "",
        "sklearn/base.py": "class BaseEstimator(object):\n    pass\n",
        "sklearn/tree/__init__.py": "from .tree import DecisionTreeClassifier\n__all__ = ['DecisionTreeClassifier']\n",
        "sklearn/tree/tree.py": (
            "from __future__ import division\nfrom ..base import BaseEstimator\nfrom tempfile import mkdtemp\n"
            "import threading as th\ntry:\n    from ._helpers import *\nexcept ImportError:\n    pass\n"
            "class DecisionTreeClassifier(BaseEstimator):\n    pass\n"
            "class Worker(th.Thread):\n    pass\n"
        ),
        "sklearn/tree/_helpers.py": "def helper():\n    pass\ndef _private():\n    pass\n",
        "sklearn/tree/tests/test_tree.py": "class Fake(object):\n    pass\n",
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        # an extension module: Cython embeds "<module>.<Class>" and the reconstructor's name
        zf.writestr(
            "sklearn/neighbors/kd_tree.cpython-38-x86_64-linux-gnu.so",
            b"\x7fELF\x00sklearn.neighbors.kd_tree.KDTree\x00__pyx_unpickle_KDTree\x00",
        )
    return path


def test_static_analysis_of_an_old_wheel(tmp_path: Path) -> None:
    modules = pickle_history.read_wheel(_wheel(tmp_path), "sklearn")
    assert "sklearn.tree.tests.test_tree" not in modules
    rel = pickle_history.Release("0.0.1", "sklearn", modules)
    assert rel.resolve("sklearn.tree", "DecisionTreeClassifier") == (
        "def",
        "sklearn.tree.tree",
        "DecisionTreeClassifier",
        "class",
    )
    assert rel.resolve("sklearn.tree.tree", "mkdtemp") == ("ext", "tempfile", "mkdtemp")
    assert rel.resolve("sklearn.tree.tree", "helper") == ("def", "sklearn.tree._helpers", "helper", "function")
    assert rel.resolve("sklearn.neighbors.kd_tree", "KDTree") == ("def", "sklearn.neighbors.kd_tree", "KDTree", "class")
    current = {
        "sklearn.tree:DecisionTreeClassifier": ["allow", "class", "sklearn.tree._classes:DecisionTreeClassifier"],
        "sklearn.tree._classes:DecisionTreeClassifier": [
            "allow",
            "class",
            "sklearn.tree._classes:DecisionTreeClassifier",
        ],
        "sklearn.neighbors._kd_tree:KDTree": ["allow", "class", "sklearn.neighbors._kd_tree:KDTree"],
    }
    entries = pickle_history.history_entries([rel], current)
    assert entries["sklearn.tree.tree:DecisionTreeClassifier"] == current["sklearn.tree:DecisionTreeClassifier"]
    assert entries["sklearn.neighbors.kd_tree:KDTree"] == current["sklearn.neighbors._kd_tree:KDTree"]
    assert entries["sklearn.tree.tree:mkdtemp"][:2] == ["deny", "filesystem"]  # a re-export of tempfile
    assert entries["sklearn.tree.tree:Worker"][0] == "deny"  # defined there, but a threading.Thread
    assert "threading:Thread" in entries["sklearn.tree.tree:Worker"][2]
    assert "sklearn.tree.tree:helper" not in entries  # no current object known: stays unknown (not allowed)
    assert "sklearn.tree:DecisionTreeClassifier" not in entries  # the current table already has it


def test_committed_history_table_is_well_formed() -> None:
    from scanning.scanners.base import Category
    from scanning.scanners.pickle_rules import HISTORY_PATH

    assert HISTORY_PATH.stat().st_size < 400_000  # committed: keep it small
    data = json.loads(HISTORY_PATH.read_text())
    assert data["releases"][0] == "scikit-learn==0.20.4" and len(data["releases"]) >= 9
    entries = data["entries"]
    current = _current_inventory()
    assert len(entries) > 1000
    for key, (decision, kind, real) in entries.items():
        assert key not in current, key  # only paths today's table lacks
        assert decision in ("allow", "deny"), key
        if decision == "deny":
            Category(kind)
        else:  # nothing from an I/O module of the old release or of today is allowed
            assert not pickle_history.OLD_IO_MODULES.search(real.split(":")[0]), key
            assert not real.startswith(("sklearn.datasets", "sklearn.externals", "joblib.memory")), key
