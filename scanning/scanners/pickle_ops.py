"""Symbolic values and evidence rendering for the pickle walker (no execution, ever).

The walker in :mod:`scanning.scanners.pickle` keeps a *symbolic* stack and memo: constants are kept as
Python values (bounded), everything that would be produced by calling something is a :class:`Call`
node, and globals are :class:`Global` nodes. Containers keep only their first few items so memory
stays bounded whatever the pickle does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scanning.scanners.pickle_rules import Classification

CONTAINER_CAP = 256  # items kept per symbolic container
EVIDENCE_CHARS = 200  # reconstructed call shown to a reviewer


@dataclass(slots=True, eq=False)
class Global:
    """A callable/class named by GLOBAL, STACK_GLOBAL, INST (or derived symbolically, e.g. getattr)."""

    module: str
    name: str
    offset: int
    cls: Classification
    how: str = "GLOBAL"


@dataclass(slots=True, eq=False)
class Call:
    """Result of REDUCE / NEWOBJ / NEWOBJ_EX / OBJ / INST: ``func(*args, **kwargs)``, never evaluated."""

    func: Any
    args: Any
    offset: int
    kwargs: Any = None
    kind: str = "REDUCE"
    value: Any = None  # symbolic result when we can compute it safely (string ops, __import__, getattr)
    state: Any = None  # BUILD state applied to the result
    has_value: bool = False


@dataclass(slots=True, eq=False)
class Blob:
    """A bytes/str argument too large to keep: where it is in the stream and its first bytes."""

    offset: int
    length: int
    prefix: bytes
    is_text: bool = False


@dataclass(slots=True, eq=False)
class Module:
    """Symbolic module object (result of ``__import__('os')``)."""

    name: str


@dataclass(slots=True, eq=False)
class PersId:
    pid: Any


@dataclass(slots=True, eq=False)
class Ext:
    code: int


@dataclass(slots=True, eq=False)
class Unknown:
    reason: str


@dataclass(slots=True, eq=False)
class SList:
    items: list[Any] = field(default_factory=list)
    count: int = 0
    kind: str = "list"  # list / set / frozenset

    def add(self, value: Any) -> None:
        self.count += 1
        if len(self.items) < CONTAINER_CAP:
            self.items.append(value)

    def extend(self, values: list[Any]) -> None:
        room = CONTAINER_CAP - len(self.items)
        if room > 0:
            self.items.extend(values[:room])
        self.count += len(values)


@dataclass(slots=True, eq=False)
class SDict:
    items: list[tuple[Any, Any]] = field(default_factory=list)
    count: int = 0

    def set(self, key: Any, value: Any) -> None:
        self.count += 1
        if len(self.items) < CONTAINER_CAP:
            self.items.append((key, value))

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in self.items:
            if k == key and isinstance(k, str):
                return v
        return default


def cap_tuple(items: list[Any]) -> tuple[Any, ...]:
    if len(items) > CONTAINER_CAP:
        return (*items[:CONTAINER_CAP], Unknown(f"{len(items) - CONTAINER_CAP} more items"))
    return tuple(items)


def is_text(value: Any) -> bool:
    return isinstance(value, str)


def resolved(value: Any) -> Any:
    """Follow a Call to its symbolic value when one was computed.

    A legacy ``torch.save`` persistent id ``('module', cls, source_file, source)`` is what torch's
    ``persistent_load`` returns for it: the class ``cls`` (a plain ``pickle.load`` cannot resolve it at all).
    """
    seen = 0
    while seen < 16:
        if isinstance(value, Call) and value.has_value:
            value = value.value
        elif (
            isinstance(value, PersId)
            and isinstance(value.pid, tuple)
            and len(value.pid) >= 2
            and value.pid[0] == "module"
        ):
            value = value.pid[1]
        else:
            break
        seen += 1
    return value


def render(value: Any, budget: int = EVIDENCE_CHARS) -> str:
    """Pseudo-Python for a symbolic value, truncated to about ``budget`` characters."""
    out = _render(value, budget, 0)
    if len(out) > budget:
        out = out[: budget - 1] + "…"
    return out


def _render(v: Any, budget: int, depth: int) -> str:
    if depth > 6 or budget <= 0:
        return "…"
    if isinstance(v, Global):
        return f"{v.module}.{v.name}"
    if isinstance(v, Call):
        func = _render(v.func, budget, depth + 1)
        args = v.args if isinstance(v.args, tuple) else (v.args,)
        parts: list[str] = []
        used = len(func)
        for a in args:
            s = _render(a, budget - used, depth + 1)
            parts.append(s)
            used += len(s) + 2
            if used > budget:
                parts.append("…")
                break
        if isinstance(v.kwargs, SDict):
            for k, val in v.kwargs.items[:8]:
                parts.append(f"{k if isinstance(k, str) else _render(k, 20, depth + 1)}={_render(val, 40, depth + 1)}")
        prefix = f"{func}.__new__" if v.kind in ("NEWOBJ", "NEWOBJ_EX") and isinstance(v.func, Global) else func
        return f"{prefix}({', '.join(parts)})"
    if isinstance(v, str):
        r = repr(v[: budget + 1])
        return r
    if isinstance(v, bytes | bytearray):
        return repr(bytes(v[: budget + 1]))
    if isinstance(v, Blob):
        return f"<{v.length} {'chars' if v.is_text else 'bytes'} {v.prefix[:24]!r}…>"
    if isinstance(v, tuple):
        inner = ", ".join(_render(x, budget // 2, depth + 1) for x in v[:8])
        if len(v) > 8:
            inner += ", …"
        return f"({inner}{',' if len(v) == 1 else ''})"
    if isinstance(v, SList):
        inner = ", ".join(_render(x, budget // 2, depth + 1) for x in v.items[:6])
        if v.count > 6:
            inner += ", …"
        return f"{{{inner}}}" if v.kind != "list" else f"[{inner}]"
    if isinstance(v, SDict):
        inner = ", ".join(f"{_render(k, 40, depth + 1)}: {_render(x, budget // 3, depth + 1)}" for k, x in v.items[:6])
        if v.count > 6:
            inner += ", …"
        return f"{{{inner}}}"
    if isinstance(v, Module):
        return f"<module {v.name}>"
    if isinstance(v, PersId):
        return f"persistent_load({_render(v.pid, budget // 2, depth + 1)})"
    if isinstance(v, Ext):
        return f"<extension {v.code}>"
    if isinstance(v, Unknown):
        return f"<{v.reason}>"
    return repr(v)[:budget]
