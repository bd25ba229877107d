"""Development-time generator of ``pickle_inventory.json``: what each global of the trusted libraries really is.

Run it when the pinned library versions change (never at scan time; the scan only reads the JSON)::

    python -m scanning.scanners.pickle_inventory_gen            # rewrites pickle_inventory.json + pickle_history.json
    python -m scanning.scanners.pickle_inventory_gen --check    # exit 1 if either checked-in file is stale
    python -m scanning.scanners.pickle_inventory_gen --no-history   # current paths only (no wheel download)

The second file, ``pickle_history.json``, holds the *historical* module paths of the same objects (pickles
written by scikit-learn 0.20-1.3 name ``sklearn.tree.tree.DecisionTreeClassifier``…): built by
:mod:`scanning.scanners.pickle_history` from old wheels fetched with ``pip download`` (cached in ``--wheels``,
default ``~/.cache/modelgate-oldwheels``) and read with :mod:`ast`, never imported.

It imports every module of the trusted packages (scikit-learn, torch.nn/optim/…, scipy's model-bearing
subpackages, pandas, lightgbm, xgboost) and, for each attribute a pickle could name as
``(module, name)``, resolves the object it really is (its defining ``__module__``/``__qualname__``):

* **deny** — the object is (or subclasses) something that touches files, processes, threads or the network
  (``sklearn.datasets._base.NamedTemporaryFile`` is ``tempfile.NamedTemporaryFile``,
  ``sklearn.callback._transport.Listener`` is ``multiprocessing.connection.Listener``…), judged by
  :func:`scanning.scanners.pickle_rules.classify` on the *real* identity or by the dangerous bases below;
* **allow** — proven inert by what it is: a class defined inside the trusted package, outside its I/O
  modules, none of whose bases is dangerous (estimators, modules, optimizers, dtypes, arrays, indexes…),
  or a function of a pure numeric module (metrics, score functions, ``torch.nn.functional``), or a
  Cython/pandas reconstructor; a re-export is allowed only if its real identity is;
* anything else is left out: the scanner treats it as unknown (not allowed).
"""

from __future__ import annotations

import argparse
import enum
import importlib
import inspect
import json
import pkgutil
import re
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from scanning.scanners.pickle_rules import Decision, classify

OUT = Path(__file__).with_name("pickle_inventory.json")
HISTORY_OUT = Path(__file__).with_name("pickle_history.json")

# Packages walked (with their submodules). Order matters only for speed.
ROOTS: tuple[str, ...] = (
    "sklearn",
    "scipy.sparse",
    "scipy.stats",
    "scipy.interpolate",
    "scipy.spatial",
    "scipy._lib.array_api_compat",
    "pandas",
    "lightgbm",
    "xgboost",
    "torch.nn",
    "torch.optim",
    "torch.ao.nn",
    "torch.ao.quantization",
    "torch.distributions",
    "torch.return_types",
    "torch._C._nn",
)
# Modules that only this set of names of is needed (walking all of ``torch``/``torch._C`` is not wanted).
SINGLE_MODULES: tuple[str, ...] = ("torch.functional",)

SKIP = re.compile(
    r"(^|\.)(tests?|testing|_testing|conftest|benchmarks?|_build_utils|__main__|setup|_pytest|_distributor_init)(\.|$)"
)
# Modules of trusted packages that read/write files, download, spawn or open sockets: nothing defined there is
# allowed, and a class defined there is denied when it is one of EXPLICIT_DENY.
IO_MODULES = re.compile(
    r"^(sklearn\.(datasets|callback|utils\._testing|utils\._show_versions|utils\.fixes|externals)"
    r"|pandas\.(io|plotting|util\._print_versions|util\._tester|_config\.localization|core\.computation\.eval|api\.io)"
    r"|torch\.(utils|hub|distributed|multiprocessing|package|testing|onnx|export|compiler|_dynamo|_inductor|jit)"
    r"|torch\.ao\.quantization\.(fx|pt2e|quantizer)"
    r"|xgboost\.(tracker|collective|dask|spark|federated|plotting|testing|_data_utils)"
    r"|lightgbm\.(dask|plotting)"
    r"|scipy\.(io|datasets|_lib\._testutils))(\.|$)"
)
# Modules whose *functions* are pure computations on numbers/arrays (a pickle may reference them: scorers,
# score functions of feature selectors, activation functions of modules, array-API helpers).
PURE_FUNCTION_MODULES = re.compile(
    r"^(sklearn\.metrics|sklearn\.feature_selection\._univariate_selection|sklearn\.feature_selection\._mutual_info"
    r"|sklearn\.gaussian_process\.kernels|sklearn\.cluster\._kmeans|sklearn\.utils\.extmath|sklearn\.neighbors\._base|sklearn\.preprocessing\._data"
    r"|torch\.nn\.functional|torch\._C\._nn|torch\.functional|torch\.nn\.init|torch\.distributions\.(utils|constraints)"
    r"|scipy\._lib\.array_api_compat|scipy\.stats\._(stats_py|morestats|distn_infrastructure))(\.|$)"
)
# Module attributes that are loop variables left over at import time (their value depends on set iteration
# order, so the table would differ between runs; no pickle names them).
LOOP_LEFTOVERS: frozenset[tuple[str, str]] = frozenset({("scipy.sparse._data", "npfunc")})
# Cython/pandas reconstructors: module-level functions that only rebuild a value from its state.
RECONSTRUCTOR = re.compile(r"^(__pyx_unpickle_\w+|\w*_unpickle\w*|_new_\w+|new_block\w*|_reconstruct\w*)$")

# Bases whose instances or calls touch the world (real identities, imported lazily; missing ones are skipped).
DANGEROUS_BASES: tuple[tuple[str, str, str], ...] = (
    ("io", "IOBase", "filesystem"),
    ("tempfile", "TemporaryDirectory", "filesystem"),
    ("tempfile", "_TemporaryFileWrapper", "filesystem"),
    ("zipfile", "ZipFile", "filesystem"),
    ("tarfile", "TarFile", "filesystem"),
    ("logging", "Handler", "filesystem"),
    ("mmap", "mmap", "filesystem"),
    ("shelve", "Shelf", "filesystem"),
    ("sqlite3", "Connection", "filesystem"),
    ("joblib.memory", "Memory", "filesystem"),
    ("joblib.memory", "MemorizedFunc", "filesystem"),
    ("socket", "socket", "network"),
    ("socketserver", "BaseServer", "network"),
    ("http.client", "HTTPConnection", "network"),
    ("urllib.request", "OpenerDirector", "network"),
    ("multiprocessing.connection", "Listener", "network"),
    ("multiprocessing.connection", "Connection", "network"),
    ("subprocess", "Popen", "process"),
    ("threading", "Thread", "process"),
    ("multiprocessing.process", "BaseProcess", "process"),
    ("concurrent.futures", "Executor", "process"),
    ("joblib.parallel", "Parallel", "process"),
)
# Objects defined inside trusted packages that act on the world when called (read or write files, serve).
EXPLICIT_DENY: dict[tuple[str, str], str] = {
    ("pandas.io.pytables", "HDFStore"): "filesystem",
    ("pandas.io.excel._base", "ExcelWriter"): "filesystem",
    ("pandas.io.excel._base", "ExcelFile"): "filesystem",
    ("pandas.io.stata", "StataWriter"): "filesystem",
    ("xgboost.tracker", "RabitTracker"): "network",
    ("sklearn.callback._transport", "Transport"): "network",
}


def _load_bases() -> list[tuple[type, str]]:
    out: list[tuple[type, str]] = []
    for mod, name, cat in DANGEROUS_BASES:
        try:
            obj = getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
        if isinstance(obj, type):
            out.append((obj, cat))
    return out


def _identity(obj: Any) -> tuple[str, str] | None:
    mod = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if isinstance(mod, str) and isinstance(qual, str):
        return mod, qual
    return None


def _walk(root: str) -> list[ModuleType]:
    try:
        pkg = importlib.import_module(root)
    except Exception:
        return []
    mods = [pkg]
    path = getattr(pkg, "__path__", None)
    if path is None:
        return mods
    for info in pkgutil.walk_packages(path, root + ".", onerror=lambda _name: None):
        if SKIP.search(info.name):
            continue
        try:
            mods.append(importlib.import_module(info.name))
        except Exception:  # noqa: S112 - optional backends (dask, spark, cupy…) that are not installed
            continue
    return mods


def _trusted(module: str) -> bool:
    return any(module == r or module.startswith(r + ".") for r in ("sklearn", "scipy", "pandas", "lightgbm", "xgboost"))


def _torch_trusted(module: str) -> bool:
    return (
        module.startswith(
            ("torch.nn", "torch.optim", "torch.ao.nn", "torch.ao.quantization", "torch.distributions", "torch._C._nn")
        )
        or module == "torch.functional"
    )


def _judge(obj: Any, bases: list[tuple[type, str]]) -> tuple[str, str, str] | None:
    """(decision, kind-or-category, real identity) for one object, or None when it is not inventoried."""
    if not callable(obj) and not inspect.ismodule(obj) and not isinstance(obj, type):
        return _judge_value(obj, bases)
    ident = _identity(obj)
    if ident is None or inspect.ismodule(obj):
        return None
    real_mod, real_qual = ident
    real = f"{real_mod}:{real_qual}"
    if (real_mod, real_qual) in EXPLICIT_DENY:
        return "deny", EXPLICIT_DENY[(real_mod, real_qual)], real
    if isinstance(obj, type):
        for base, cat in bases:
            try:
                if issubclass(obj, base):
                    return "deny", cat, real
            except TypeError:
                continue
    verdict = classify(real_mod, real_qual, inventory=False)
    if verdict.decision is Decision.DENY:
        return "deny", str(verdict.category), real
    if verdict.decision is Decision.ALLOW and verdict.reason == "allowlist":
        return "allow", "allowlisted", real
    if IO_MODULES.search(real_mod) or "<locals>" in real_qual:
        return None
    own = _trusted(real_mod) or _torch_trusted(real_mod) or real_mod == "torch.return_types"
    if not own:
        return None
    if isinstance(obj, type):
        if issubclass(obj, enum.Enum):
            return "allow", "enum", real
        if issubclass(obj, BaseException):
            return None
        return "allow", "class", real
    if callable(obj) and "." not in real_qual:
        if RECONSTRUCTOR.match(real_qual):
            return "allow", "reconstructor", real
        if PURE_FUNCTION_MODULES.search(real_mod):
            return "allow", "pure function", real
    return None


def _judge_value(obj: Any, bases: list[tuple[type, str]]) -> tuple[str, str, str] | None:
    """A module-level constant a pickle names by reference (``pandas.NA``, ``pandas.NaT``): judged by its type."""
    t = type(obj)
    ident = _identity(t)
    if ident is None:
        return None
    real = f"{ident[0]}:{ident[1]}"
    for base, cat in bases:
        if issubclass(t, base):
            return "deny", cat, f"instance of {real}"
    if IO_MODULES.search(ident[0]):
        return None
    if _trusted(ident[0]) or _torch_trusted(ident[0]):
        return "allow", "value", f"instance of {real}"
    return None


def _methods(cls: type, real: str, kind: str, names: set[str] | None = None) -> dict[str, list[str]]:
    """Methods a pickle reaches as bound methods of an instance (``getattr(obj, 'name')``).

    scipy.stats distribution generators keep ``numpy.vectorize(getattr(dist, '_entropy'))``; lazy torch modules
    keep ``getattr(module, '_infer_parameters')`` hooks. ``names`` defaults to the class's own attributes.
    """
    out: dict[str, list[str]] = {}
    for name in sorted(names if names is not None else set(vars(cls))):
        value = getattr(cls, name, None)
        if name.startswith("__") or not callable(value) or isinstance(value, type):
            continue
        out[f"{real}.{name}"] = ["allow", kind, f"{real}.{name}"]
    return out


def build() -> dict[str, Any]:
    warnings.simplefilter("ignore")
    bases = _load_bases()
    entries: dict[str, list[str]] = {}
    seen: set[str] = set()
    modules: list[ModuleType] = []
    for root in ROOTS:
        modules.extend(_walk(root))
    for name in SINGLE_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    try:
        from scipy.stats import rv_continuous, rv_discrete
    except ImportError:  # pragma: no cover
        rv_continuous = rv_discrete = None  # type: ignore[assignment,misc]
    torch_module: type | None
    try:
        from torch.nn import Module as torch_module
    except ImportError:  # pragma: no cover
        torch_module = None
    for mod in modules:
        if mod.__name__ in seen:
            continue
        seen.add(mod.__name__)
        for attr, obj in list(vars(mod).items()):
            if attr.startswith("__") and not attr.startswith("__pyx_unpickle_"):
                continue
            if (mod.__name__, attr) in LOOP_LEFTOVERS:
                continue
            judged = _judge(obj, bases)
            if judged is None:
                continue
            entries[f"{mod.__name__}:{attr}"] = list(judged)
            if judged[0] != "allow" or not isinstance(obj, type):
                continue
            if rv_continuous is not None and issubclass(obj, rv_continuous | rv_discrete):
                for key, val in _methods(obj, judged[2], "distribution method").items():
                    entries.setdefault(key, val)
            elif torch_module is not None and issubclass(obj, torch_module) and obj is not torch_module:
                # what the subclass (and its mixins: LazyModuleMixin…) adds to nn.Module: hooks, forward, init
                extra = set(dir(obj)) - set(dir(torch_module))
                for key, val in _methods(obj, judged[2], "module method", extra).items():
                    entries.setdefault(key, val)
    versions = {}
    for lib in ("sklearn", "scipy", "pandas", "lightgbm", "xgboost", "torch", "numpy"):
        loaded = sys.modules.get(lib)
        if loaded is not None:
            versions[lib] = str(getattr(loaded, "__version__", "?"))
    return {
        "about": "generated by scanning/scanners/pickle_inventory_gen.py; do not edit by hand",
        "versions": versions,
        "entries": dict(sorted(entries.items())),
    }


def _dump(data: dict[str, Any]) -> str:
    """One entry per line: small diffs when a library version changes."""
    lines = ["{"]
    lines += [f"{json.dumps(key)}: {json.dumps(val)}," for key, val in data.items() if key != "entries"]
    lines.append('"entries": {')
    items = list(data["entries"].items())
    for i, (key, val) in enumerate(items):
        lines.append(f"{json.dumps(key)}: {json.dumps(val)}{',' if i < len(items) - 1 else ''}")
    lines += ["}", "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a checked-in table is stale")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--history-out", type=Path, default=HISTORY_OUT)
    parser.add_argument("--no-history", action="store_true", help="skip the historical paths (no wheel download)")
    parser.add_argument("--wheels", type=Path, default=None, help="cache of old wheels (downloaded when missing)")
    args = parser.parse_args(argv)
    data = build()
    outputs = [(args.out, _dump(data))]
    if not args.no_history:
        from scanning.scanners import pickle_history

        history = pickle_history.build(args.wheels or pickle_history.DEFAULT_WHEELS, data["entries"])
        outputs.append((args.history_out, _dump(history)))
    if args.check:
        stale = [path for path, text in outputs if (path.read_text() if path.exists() else "") != text]
        for path in stale:
            print(f"{path} is stale; re-run python -m scanning.scanners.pickle_inventory_gen", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs:
        path.write_text(text)
    counts: dict[str, int] = {}
    for decision, kind, _real in data["entries"].values():
        counts[f"{decision}/{kind}"] = counts.get(f"{decision}/{kind}", 0) + 1
    print(f"wrote {args.out}: {len(data['entries'])} entries {counts}")
    if len(outputs) > 1:
        print(f"wrote {args.history_out}: {len(history['entries'])} historical paths")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
