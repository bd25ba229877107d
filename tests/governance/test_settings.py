"""Every setting the code reads is declared in governance/settings.py from the environment and
documented in .env.example (issue 9: one settings module, no `getattr(settings, …, default)`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from governance import settings as project_settings

ROOT = Path(__file__).resolve().parents[2]
APPS = ["core", "governance", "inventory", "scanning", "licenses", "policies"]
OURS = re.compile(r"^(MODELGATE|HF)_[A-Z0-9_]+$")


def _sources() -> list[Path]:
    files = [p for app in APPS for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]
    assert len(files) > 50  # the walk found the apps
    return files


def _settings_reads(tree: ast.AST) -> tuple[set[str], list[int]]:
    """Names read as `settings.NAME`, and the lines of `getattr(settings, …)` calls."""
    names, getattrs = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "settings":
            names.add(node.attr)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr"}
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "settings"
        ):
            getattrs.append(node.lineno)
    return names, getattrs


def _env_reads() -> set[str]:
    """Environment variables governance/settings.py reads: `env.<type>("NAME", …)` and `"NAME" in env`."""
    tree = ast.parse((ROOT / "governance" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "env"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) and isinstance(node.ops[0], ast.In):
            names.add(node.left.value)
    return names


def _documented() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def reads() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in _sources():
        names, getattrs = _settings_reads(ast.parse(path.read_text(), filename=str(path)))
        rel = str(path.relative_to(ROOT))
        assert not getattrs, f"{rel}:{getattrs}: read settings as settings.X, declared in governance/settings.py"
        for name in names:
            out.setdefault(name, set()).add(rel)
    return out


def test_every_modelgate_and_hf_setting_used_is_declared_and_documented(reads):
    ours = {name: where for name, where in reads.items() if OURS.match(name)}
    assert {"MODELGATE_SITE_URL", "HF_ENDPOINT", "MODELGATE_OVERVIEW_MAX_AGE", "MODELGATE_SCAN_WORKERS"} <= set(ours)
    undeclared = {n: sorted(w) for n, w in ours.items() if not hasattr(project_settings, n)}
    assert not undeclared, f"used but not declared in governance/settings.py: {undeclared}"
    env_read, documented = _env_reads(), _documented()
    not_from_env = sorted(n for n in ours if n not in env_read)
    assert not not_from_env, f"declared without reading the environment: {not_from_env}"
    undocumented = sorted(n for n in ours if n not in documented)
    assert not undocumented, f"missing from .env.example: {undocumented}"


def test_every_environment_variable_settings_reads_is_in_env_example():
    env_read = _env_reads()
    assert {"DATABASE_URL", "SECRET_KEY", "MODELGATE_WAIVER_REMINDER_DAYS"} <= env_read
    missing = sorted(env_read - _documented())
    assert not missing, f"read by governance/settings.py but missing from .env.example: {missing}"


def test_every_other_setting_read_is_declared(reads):
    """Django's own settings have defaults in django.conf.global_settings; ours must be in the module."""
    from django.conf import global_settings

    unknown = {
        n: sorted(w)
        for n, w in reads.items()
        if n.isupper() and not hasattr(project_settings, n) and not hasattr(global_settings, n)
    }
    assert not unknown, f"settings read but declared nowhere: {unknown}"
