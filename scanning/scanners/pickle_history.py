"""Development-time: the *historical* module paths of trusted classes, read statically from old wheels.

Pickles written by older scikit-learn name the module a class lived in *then*
(``sklearn.tree.tree.DecisionTreeClassifier``, ``sklearn.ensemble.forest.RandomForestClassifier``,
``sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper``); today's libraries (and so
``pickle_inventory.json``) only know the current paths. This module downloads older wheels from the package
registry (``pip download``, cached) and reads them **without importing anything**:

* every ``.py`` module is parsed with :mod:`ast`: top-level ``class``/``def`` (also inside ``if``/``try``),
  ``from X import Y [as Z]`` (relative imports resolved), ``from X import *`` (expanded from X's names)
  and ``import X.Y as Z`` bindings;
* extension modules (``.so``) contribute the ``<module>.<Class>`` type names Cython embeds in the binary
  (``sklearn.neighbors.kd_tree.BinaryTree``) and their ``__pyx_unpickle_*`` reconstructors;
* each old ``module:name`` is followed through its imports to where it was *defined* in that release, or to
  the outside module it came from (``tempfile.mkdtemp``, ``joblib.Memory``; the vendored
  ``sklearn.externals.joblib`` is the real ``joblib``);
* the definition is then matched to today's object: the same ``module:name`` in the current inventory, else
  one of the definition's own public aliases of that release (``sklearn.tree:DecisionTreeClassifier``),
  else a class of that name defined in a module with the same base name (``kd_tree`` → ``_kd_tree``).
  Outside objects are judged by :func:`~scanning.scanners.pickle_rules.classify` on their real identity.

The old path then gets the current object's judgement (allow / deny, with the real identity), so an old
re-export of ``tempfile``/``joblib.Memory`` stays denied exactly as the current one is. Old definitions in I/O
modules (datasets, externals, testing) and classes whose bases resolve to a denied object are never allowed.
Only paths the current inventory does not already hold are written (``pickle_history.json``).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanning.scanners.pickle_rules import ALLOW, Decision, classify

# (distribution, import package, releases, python version of the wheel). Several releases per major layout
# change: 0.20 (vendored joblib, sklearn.tree.tree), 0.22 (private modules, old paths deprecated), 0.24 (old
# paths removed), 1.x (further moves: _loss, metrics._dist_metrics, hist gradient boosting out of experimental).
RELEASES: tuple[tuple[str, str, str, str], ...] = (
    ("scikit-learn", "sklearn", "0.20.4", "3.7"),
    ("scikit-learn", "sklearn", "0.21.3", "3.7"),
    ("scikit-learn", "sklearn", "0.22.2.post1", "3.8"),
    ("scikit-learn", "sklearn", "0.23.2", "3.8"),
    ("scikit-learn", "sklearn", "0.24.2", "3.8"),
    ("scikit-learn", "sklearn", "1.0.2", "3.8"),
    ("scikit-learn", "sklearn", "1.1.3", "3.8"),
    ("scikit-learn", "sklearn", "1.2.2", "3.8"),
    ("scikit-learn", "sklearn", "1.3.2", "3.8"),
)
PLATFORMS = ("manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64")
DEFAULT_WHEELS = Path.home() / ".cache" / "modelgate-oldwheels"
# Vendored copies inside old releases: the same objects as the real package (judged as such).
VENDORED: dict[str, str] = {"sklearn.externals.joblib": "joblib", "sklearn.externals._joblib": "joblib"}
SKIP = re.compile(r"(^|\.)(tests?|testing|_build_utils|__check_build|conftest|setup|_pytest|benchmarks?)(\.|$)")
# Old modules that read/write files, download or spawn: nothing defined there is allowed.
OLD_IO_MODULES = re.compile(
    r"^sklearn\.(datasets|externals|utils\.(testing|_testing|_show_versions|fixes|_joblib)|_build_utils)(\.|$)"
)
_CYTHON_NAME = re.compile(rb"(sklearn(?:\.[A-Za-z_]\w*)+)")
_PYX_UNPICKLE = re.compile(rb"__pyx_unpickle_[A-Za-z_]\w*")
_IDENTIFIER = re.compile(rb"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]{2,63}(?![A-Za-z0-9_])")


@dataclass
class Module:
    name: str
    is_package: bool = False
    extension: bool = False
    defs: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # name -> (class|function, bases)
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, name) it came from
    modules: dict[str, str] = field(default_factory=dict)  # local name -> module bound by ``import``
    stars: list[str] = field(default_factory=list)
    all_names: list[str] | None = None
    strings: set[str] = field(default_factory=set)  # extension modules: identifiers in the binary


# Resolution results: ("def", module, name, kind) | ("ext", module, name)
Target = tuple[str, ...]


def fetch(wheels: Path, releases: Iterable[tuple[str, str, str, str]] = RELEASES) -> list[tuple[str, Path]]:
    """The wheel of each release (``pip download`` into ``wheels`` when missing): [(version, path)]."""
    wheels.mkdir(parents=True, exist_ok=True)
    out: list[tuple[str, Path]] = []
    for dist, _pkg, version, python in releases:
        stem = dist.replace("-", "_")
        found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
        if not found:
            cmd = [sys.executable, "-m", "pip", "download", f"{dist}=={version}", "--no-deps"]
            cmd += ["--only-binary=:all:", "--python-version", python, "-d", str(wheels), "-q"]
            for plat in PLATFORMS:
                cmd += ["--platform", plat]
            subprocess.run(cmd, check=True)  # fixed arguments: the registry's ordinary client
            found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
        if not found:
            raise FileNotFoundError(f"no wheel for {dist}=={version} in {wheels}")
        out.append((version, found[0]))
    return out


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, target] if target else base)


def _dotted(node: ast.expr) -> str:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _top_level(body: list[ast.stmt]) -> Iterable[ast.stmt]:
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _top_level(stmt.body)
            yield from _top_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from _top_level(stmt.body)
            for handler in stmt.handlers:
                yield from _top_level(handler.body)
            yield from _top_level(stmt.orelse)


def parse_module(name: str, source: bytes, is_package: bool) -> Module:
    mod = Module(name, is_package)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return mod
    for stmt in _top_level(tree.body):
        if isinstance(stmt, ast.ClassDef):
            mod.defs[stmt.name] = ("class", [_dotted(b) for b in stmt.bases])
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mod.defs[stmt.name] = ("function", [])
        elif isinstance(stmt, ast.ImportFrom):
            source_mod = _absolute(name, is_package, stmt.level, stmt.module)
            for alias in stmt.names:
                if alias.name == "*":
                    mod.stars.append(source_mod)
                else:
                    mod.imports[alias.asname or alias.name] = (source_mod, alias.name)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    mod.modules[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    mod.modules[top] = top
        elif (
            isinstance(stmt, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in stmt.targets)
            and isinstance(stmt.value, (ast.List, ast.Tuple))
        ):
            mod.all_names = [
                e.value for e in stmt.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
    return mod


def read_wheel(path: Path, package: str) -> dict[str, Module]:
    """Every module of ``package`` in the wheel, parsed (never imported)."""
    mods: dict[str, Module] = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            fname = info.filename
            if not fname.startswith(package + "/"):
                continue
            stem, _, ext = fname.rpartition(".")
            if ext == "py":
                parts = stem.split("/")
                is_package = parts[-1] == "__init__"
                modname = ".".join(parts[:-1] if is_package else parts)
                if SKIP.search(modname):
                    continue
                mods[modname] = parse_module(modname, zf.read(info), is_package)
            elif ext in ("so", "pyd"):
                modname = fname.split(".", 1)[0].replace("/", ".")
                if SKIP.search(modname):
                    continue
                mods[modname] = _extension(modname, zf.read(info))
    return mods


def _extension(modname: str, binary: bytes) -> Module:
    """Type names Cython embeds (``<module>.<Class>``) and ``__pyx_unpickle_*`` reconstructors."""
    mod = Module(modname, extension=True)
    prefix = modname.encode() + b"."
    for m in _CYTHON_NAME.finditer(binary):
        dotted = m.group(1)
        if dotted.startswith(prefix):
            rest = dotted[len(prefix) :].decode()
            if "." not in rest:
                mod.defs[rest] = ("class", [])
    for m in _PYX_UNPICKLE.finditer(binary):
        mod.defs[m.group(0).decode()] = ("function", [])
    # module-level functions (``newObj``) are plain strings in the binary: kept as candidates, used only when
    # today's module of the same name defines or allowlists that name
    mod.strings = {m.group(0).decode() for m in _IDENTIFIER.finditer(binary)}
    return mod


class Release:
    """One release's module graph: resolves an old ``module:name`` to its definition or outside origin."""

    def __init__(self, version: str, package: str, modules: dict[str, Module]) -> None:
        self.version = version
        self.package = package
        self.modules = modules

    def _vendored(self, module: str) -> str | None:
        for old, new in VENDORED.items():
            if module == old or module.startswith(old + "."):
                return new + module[len(old) :]
        return None

    def resolve(self, module: str, name: str, depth: int = 0) -> Target | None:
        if depth > 20:
            return None
        real = self._vendored(module)
        if real is not None:
            return ("ext", real, name)
        mod = self.modules.get(module)
        if mod is None:
            if module == self.package or module.startswith(self.package + "."):
                return None  # a module of the package this release does not have (or a skipped test module)
            return ("ext", module, name)
        if name in mod.defs:
            return ("def", module, name, mod.defs[name][0])
        if mod.extension and name in mod.strings:
            return ("def", module, name, "extension")
        if name in mod.imports:
            src_mod, src_name = mod.imports[name]
            if f"{src_mod}.{src_name}" in self.modules:
                return None  # a submodule, not a global
            return self.resolve(src_mod, src_name, depth + 1)
        for star in mod.stars:
            star_mod = self.modules.get(star)
            if star_mod is not None and star_mod.all_names is not None and name not in star_mod.all_names:
                continue
            hit = self.resolve(star, name, depth + 1)
            if hit is not None:
                return hit
        return None

    def names(self, module: str) -> set[str]:
        """The globals a pickle could name in ``module`` (definitions, imports, star-imported names)."""
        mod = self.modules[module]
        out = set(mod.defs) | set(mod.imports)
        for star in mod.stars:
            star_mod = self.modules.get(star)
            if star_mod is not None:
                out |= set(star_mod.all_names or [n for n in star_mod.defs if not n.startswith("_")])
        return {n for n in out if not n.startswith("__") or n.startswith("__pyx_unpickle_")}

    def base_targets(self, module: str, bases: list[str]) -> list[Target]:
        """Where a class's bases come from (``threading.Thread``, ``tempfile._TemporaryFileWrapper``)."""
        mod = self.modules.get(module)
        out: list[Target] = []
        for base in bases:
            if not base or mod is None:
                continue
            head, _, rest = base.partition(".")
            if not rest:
                hit = self.resolve(module, head)
            elif head in mod.modules:
                parent, _, attr = f"{mod.modules[head]}.{rest}".rpartition(".")
                hit = self.resolve(parent, attr)
            else:
                hit = None
            if hit is not None:
                out.append(hit)
        return out


def _judge_outside(module: str, name: str, current: dict[str, list[str]]) -> list[str] | None:
    known = current.get(f"{module}:{name}")
    if known is not None:
        return list(known)
    verdict = classify(module, name, inventory=False)
    if verdict.decision is Decision.DENY:
        return ["deny", str(verdict.category), f"{module}:{name}"]
    if verdict.decision is Decision.ALLOW:
        return ["allow", "allowlisted", f"{module}:{name}"]
    return None


class Matcher:
    """Today's judgement of an old definition, found by the current inventory's keys and real identities."""

    def __init__(self, current: dict[str, list[str]]) -> None:
        self.current = current
        self.by_name: dict[str, set[tuple[str, ...]]] = {}
        self.modules_by_base: dict[str, set[str]] = {}
        for key, value in current.items():
            module, name = key.rsplit(":", 1)
            self._add_module(module)
            real_qual = value[2].partition(":")[2]
            if real_qual == name and value[1] in ("class", "enum", "pure function", "reconstructor"):
                self.by_name.setdefault(name, set()).add(tuple(value))
        for module, _name in ALLOW:
            self._add_module(module)

    def _add_module(self, module: str) -> None:
        self.modules_by_base.setdefault(_base(module), set()).add(module)

    def names_for_base(self, module: str) -> set[str]:
        """Names today's modules of the same base name hold (inventory or allowlist)."""
        mods = self._same_base(module)
        out = {k.rsplit(":", 1)[1] for k in self.current if k.rsplit(":", 1)[0] in mods}
        return out | {n for m, n in ALLOW if m in mods}

    def _same_base(self, module: str) -> set[str]:
        top = module.split(".")[0]
        return {m for m in self.modules_by_base.get(_base(module), set()) if m.split(".")[0] == top}

    def match(self, module: str, name: str, aliases: list[str]) -> list[str] | None:
        for key in (f"{module}:{name}", *aliases):
            known = self.current.get(key)
            if known is not None:
                return list(known)
        # the same module renamed (``kd_tree`` -> ``_kd_tree``, ``dist_metrics`` -> ``metrics._dist_metrics``)
        found: set[tuple[str, ...]] = set()
        same = self._same_base(module)
        parent = module.rsplit(".", 1)[0]
        near = {m for m in same if m.rsplit(".", 1)[0] == parent}  # same package first (svm.base -> svm._base)
        for cur in near if any(f"{m}:{name}" in self.current or (m, name) in ALLOW for m in near) else same:
            known = self.current.get(f"{cur}:{name}")
            if known is not None:
                found.add(tuple(known))
            elif (cur, name) in ALLOW:
                found.add(("allow", "allowlisted", f"{cur}:{name}"))
        if not found:
            found = {v for v in self.by_name.get(name, ()) if _base(v[2].partition(":")[0]) == _base(module)}
        if len(found) == 1:
            return list(next(iter(found)))
        if not found and not name.endswith("64") and name[:1].isupper():
            # scikit-learn 1.3 split the Cython distance metrics into 32/64-bit classes: the old
            # ``EuclideanDistance`` pickles are the float64 one
            return self.match(module, f"{name}64", [])
        return None


def _base(module: str) -> str:
    return module.rsplit(".", 1)[-1].lstrip("_")


def _public_rank(key: str) -> tuple[int, int]:
    module = key.split(":", 1)[0]
    return sum(p.startswith("_") for p in module.split(".")), len(module)


def history_entries(releases: list[Release], current: dict[str, list[str]]) -> dict[str, list[str]]:
    """Old ``module:name`` -> [allow|deny, kind or category, real identity] for paths ``current`` lacks."""
    matcher = Matcher(current)
    out: dict[str, list[str]] = {}
    for rel in releases:
        resolved: dict[str, Target] = {}
        for module, mod in rel.modules.items():
            names = rel.names(module)
            if mod.extension:
                names |= mod.strings & matcher.names_for_base(module)
            for name in names:
                hit = rel.resolve(module, name)
                if hit is not None:
                    resolved[f"{module}:{name}"] = hit
        aliases: dict[Target, list[str]] = {}
        for key, hit in resolved.items():
            aliases.setdefault(hit, []).append(key)
        for key, hit in resolved.items():
            if key in current:
                continue
            value = _judge_old(rel, hit, sorted(aliases[hit], key=_public_rank), matcher, current)
            if value is None:
                continue
            prev = out.get(key)
            if prev is None or (prev[0] == "allow" and value[0] == "deny"):
                out[key] = value  # the same old path judged differently by two releases: deny wins
    return dict(sorted(out.items()))


def _judge_old(
    rel: Release, hit: Target, aliases: list[str], matcher: Matcher, current: dict[str, list[str]]
) -> list[str] | None:
    if hit[0] == "ext":
        return _judge_outside(hit[1], hit[2], current)
    _, module, name, kind = hit
    mod = rel.modules[module]
    for base in rel.base_targets(module, mod.defs[name][1]) if kind == "class" else []:
        judged = _judge_outside(base[1], base[2], current) if base[0] == "ext" else None
        if judged is not None and judged[0] == "deny":
            return ["deny", judged[1], f"{module}:{name} (subclass of {judged[2]})"]
    value = matcher.match(module, name, aliases)
    if value is None:
        return None
    if OLD_IO_MODULES.search(module) and value[0] == "allow":
        return None
    return value


def build(wheels: Path = DEFAULT_WHEELS, current: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The history table (``pickle_history.json`` content) from the cached/downloaded old wheels."""
    if current is None:
        from scanning.scanners.pickle_rules import _current_inventory

        current = {k: list(v) for k, v in _current_inventory().items()}
    releases = []
    for (version, path), (_dist, package, _v, _py) in zip(fetch(wheels), RELEASES, strict=True):
        releases.append(Release(version, package, read_wheel(path, package)))
    entries = history_entries(releases, current)
    return {
        "about": "generated by scanning/scanners/pickle_inventory_gen.py from old wheels (ast, never imported)",
        "releases": [f"{dist}=={version}" for dist, _p, version, _py in RELEASES],
        "entries": entries,
    }
