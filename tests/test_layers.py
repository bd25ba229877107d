"""Imports point down: core ← inventory ← {scanning, licenses, identity} ← policies ← governance.

Walks every module of the apps with `ast` (nothing is imported): a module may import its own
app and the apps of lower layers, never an app of its own layer or above. Cross-app imports sit
at the top of the module (an import inside a function hides a dependency), except in
`AppConfig.ready()` where Django wants them. Scanners import no Django and no other app, so they
stay pure and usable without a server (the standalone client).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYER = {"core": 0, "inventory": 1, "scanning": 2, "licenses": 2, "identity": 2, "policies": 3, "governance": 4}


def _modules() -> list[Path]:
    return sorted(
        path for app in LAYER for path in (ROOT / app).rglob("*.py") if "migrations" not in path.relative_to(ROOT).parts
    )


def _imports(tree: ast.AST) -> list[tuple[ast.stmt, str, bool]]:
    """(node, imported module, inside a function?) for every import statement."""
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        inner, up = False, node
        while up in parents:
            up = parents[up]
            if isinstance(up, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = True
                break
        found.extend((node, name, inner) for name in names)
    return found


def _violations() -> tuple[list[str], list[str], list[str]]:
    upward, inner, impure = [], [], []
    for path in _modules():
        rel = path.relative_to(ROOT)
        app = rel.parts[0]
        pure = rel.parts[:2] == ("scanning", "scanners") or rel == Path("core/files.py")
        for node, name, in_function in _imports(ast.parse(path.read_text(), str(rel))):
            top = name.split(".")[0]
            where = f"{rel}:{node.lineno} imports {name}"
            if pure and (
                top == "django" or (top in LAYER and not name.startswith(("scanning.scanners", "core.files")))
            ):
                impure.append(where)
            if top not in LAYER or top == app:
                continue
            if LAYER[top] >= LAYER[app]:
                upward.append(where)
            elif in_function and rel.name != "apps.py":
                inner.append(where)
    return upward, inner, impure


def test_the_walk_sees_every_app():
    apps = {p.relative_to(ROOT).parts[0] for p in _modules()}
    assert apps == set(LAYER)


def test_no_module_imports_an_app_of_its_layer_or_above():
    upward, _, _ = _violations()
    assert upward == []


def test_cross_app_imports_sit_at_the_top_of_the_module():
    _, inner, _ = _violations()
    assert inner == []


def test_scanners_stay_pure():
    _, _, impure = _violations()
    assert impure == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from governance.models import X\n", "upward"),
        ("from scanning.models import X\n", "upward"),  # same layer as licenses
        ("def f():\n    from inventory.models import X\n", "inner"),
        ("from inventory.models import X\n", "ok"),
    ],
)
def test_the_rule_itself(tmp_path, monkeypatch, source, expected):
    """The walker catches what it is meant to (a rule that cannot fail proves nothing)."""
    fake = tmp_path / "licenses" / "probe.py"
    fake.parent.mkdir()
    fake.write_text(source)
    monkeypatch.setattr("tests.test_layers.ROOT", tmp_path)
    for app in LAYER:
        (tmp_path / app).mkdir(exist_ok=True)
    upward, inner, _ = _violations()
    assert (len(upward), len(inner)) == {"upward": (1, 0), "inner": (0, 1), "ok": (0, 0)}[expected]
