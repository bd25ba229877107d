"""Declared layer: what the model card metadata says (`license`, `license_name`, `license_link`, tags).

Expressions are parsed with `license-expression` (SPDX syntax: AND, OR, WITH, parentheses); each
symbol is normalised through the catalog aliases (case, deprecated ids such as `GPL-3.0`, `-only`
/`-or-later`/`+` suffixes). A YAML list of licenses is read as AND: every listed license applies
(the conservative reading — a dual-licence choice must be written as an OR expression).
`other` is replaced by the license that `license_name`/`license_link` identify when the catalog
knows it; otherwise it stays `other` with `declared_name`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from license_expression import AND as LeAND
from license_expression import OR as LeOR
from license_expression import ExpressionError, LicenseWithExceptionSymbol, Licensing

from licenses.engine.catalog import Catalog

Expr = str | tuple[str, tuple["Expr", ...]]  # a license id, or ("AND"|"OR", children)

_LICENSING = Licensing()
_HF_FILE = re.compile(r"huggingface\.co/[^/]+/[^/]+/(?:blob|resolve|raw)/[^/]+/(.+)$", re.IGNORECASE)


@dataclass
class Declared:
    expression: str | None = None
    tree: Expr | None = None
    ids: list[str] = field(default_factory=list)
    name: str | None = None
    link: str | None = None
    link_path: str | None = None
    raw: Any = None
    source: str = ""  # card | tags | ""
    unknown_symbols: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- expression trees ------------------------------------------------------------------------
def make(op: str, children: Sequence[Expr | None]) -> Expr | None:
    """Flatten same-operator children, drop duplicates, keep order."""
    flat: list[Expr] = []
    for child in children:
        if child is None:
            continue
        if isinstance(child, tuple) and child[0] == op:
            flat.extend(child[1])
        else:
            flat.append(child)
    unique: list[Expr] = []
    for child in flat:
        if child not in unique:
            unique.append(child)
    if not unique:
        return None
    if len(unique) == 1:
        return unique[0]
    return (op, tuple(unique))


def render(expr: Expr | None) -> str | None:
    if expr is None:
        return None
    if isinstance(expr, str):
        return expr
    op, children = expr
    parts = []
    for child in children:
        text = render(child) or ""
        parts.append(f"({text})" if isinstance(child, tuple) else text)
    return f" {op} ".join(parts)


def ids_of(expr: Expr | None) -> list[str]:
    if expr is None:
        return []
    if isinstance(expr, str):
        return [expr]
    out: list[str] = []
    for child in expr[1]:
        for i in ids_of(child):
            if i not in out:
                out.append(i)
    return out


def parse_expression(catalog: Catalog, value: str, unknown: list[str] | None = None) -> Expr | None:
    """Parse an SPDX-style expression into a tree of canonical ids."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = _LICENSING.parse(value, validate=False)
    except ExpressionError:
        parsed = None
    if parsed is None:
        return _symbol(catalog, value, unknown)
    return _convert(catalog, parsed, unknown)


def _convert(catalog: Catalog, node: Any, unknown: list[str] | None) -> Expr | None:
    if isinstance(node, LeAND | LeOR):
        op = "AND" if isinstance(node, LeAND) else "OR"
        return make(op, [_convert(catalog, a, unknown) for a in node.args])
    if isinstance(node, LicenseWithExceptionSymbol):
        return _symbol(catalog, node.license_symbol.key, unknown)
    return _symbol(catalog, getattr(node, "key", str(node)), unknown)


def _symbol(catalog: Catalog, key: str, unknown: list[str] | None) -> str:
    resolved = catalog.resolve_alias(key)
    if resolved:
        return resolved
    if unknown is not None:
        unknown.append(key)
    return key.strip().lower()


def parse_tree(catalog: Catalog, value: str | None) -> Expr | None:
    return parse_expression(catalog, value) if value else None


# --- the declared layer ----------------------------------------------------------------------
def declare(catalog: Catalog, card_data: dict[str, Any] | None, tags: list[str] | None = None) -> Declared:
    card = card_data or {}
    result = Declared(raw=card.get("license"))
    unknown: list[str] = []
    raw = card.get("license")
    values: list[str] = []
    if isinstance(raw, list):
        values = [str(v) for v in raw if str(v).strip()]
        if len(values) > 1:
            result.notes.append("a YAML list of licenses is read as AND (all apply)")
    elif isinstance(raw, str) and raw.strip():
        values = [raw]
    if values:
        result.source = "card"
    else:
        values = [t.split(":", 1)[1] for t in tags or [] if isinstance(t, str) and t.lower().startswith("license:")]
        if values:
            result.source = "tags"
    tree = make("AND", [parse_expression(catalog, v, unknown) for v in values])
    name = card.get("license_name")
    link = card.get("license_link")
    result.name = str(name) if name else None
    result.link = str(link) if link else None
    if result.link:
        result.link_path = in_repo_path(result.link)
    placeholder = next((i for i in ("other", "unknown") if tree is not None and i in ids_of(tree)), None)
    if placeholder and tree is not None:
        # `other` — and `unknown`, which Falcon 2 / Falcon-180B cards write — with a license_name/license_link.
        identified = _identify_other(catalog, result.name, result.link)
        if identified:
            tree = _replace(tree, placeholder, identified)
            result.notes.append(f"`{placeholder}` identified as {identified} from license_name/license_link")
    elif tree is None and (result.name or result.link):
        identified = _identify_other(catalog, result.name, result.link)
        tree = identified or "other"
        result.source = result.source or "card"
    result.tree = tree
    result.expression = render(tree)
    result.ids = ids_of(tree)
    result.unknown_symbols = unknown
    return result


def _identify_other(catalog: Catalog, name: str | None, link: str | None) -> str | None:
    if name:
        lid = catalog.resolve_alias(name)
        if lid and lid not in ("other", "unknown"):
            return lid
    if link:
        lid = catalog.url_license(link)
        if lid:
            return lid
    return None


def _replace(tree: Expr, old: str, new: str) -> Expr:
    if isinstance(tree, str):
        return new if tree == old else tree
    return make(tree[0], [_replace(c, old, new) for c in tree[1]]) or new


def in_repo_path(link: str) -> str | None:
    """`LICENSE`, `./LICENSE.md` or a huggingface.co …/blob/<rev>/<path> URL → the path in the repo."""
    link = link.strip()
    m = _HF_FILE.search(link)
    if m:
        return m.group(1).split("?")[0]
    if "://" in link or link.startswith("www."):
        return None
    return link.removeprefix("./").lstrip("/") or None
