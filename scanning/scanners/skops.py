"""skops ``.skops`` files: a zip of ``schema.json`` (the object tree) + ``.npy`` arrays.

skops' loader rebuilds objects from ``schema.json`` node by node: ``__loader__`` names the node type
(``ObjectNode`` instantiates ``__module__.__class__``, ``FunctionNode`` returns the function
``__module__.__class__``, ``MethodNode``/``OperatorFuncNode``/``ReduceNode``… call things). skops
refuses types outside its trusted list unless the user passes ``trusted=``, and users routinely pass
what ``get_untrusted_types`` prints — and bypasses of the check were published (CVE-2025-54412,
CVE-2025-54413: ``OperatorFuncNode``/``MethodNode``). So the scanner judges the names itself, from
the JSON, without importing skops or anything named there.

Rules:

* ``skops.callable.dangerous`` (malicious, code-execution) - a node names a callable/type in a
  process/filesystem/import/eval module (``os.system``, ``builtins.eval``, ``subprocess.Popen``,
  ``operator.attrgetter``/``methodcaller``, ``importlib``…).
* ``skops.untrusted_type`` (suspicious, remote-code) - a type outside the families skops trusts
  (scikit-learn, numpy, scipy, builtins containers/scalars, collections, skops itself): loading
  needs ``trusted=`` for it.
* ``skops.schema.invalid`` (unscannable) - no/unreadable ``schema.json``.
"""

from __future__ import annotations

from typing import Any

from . import zipfmt
from .base import Category, LimitExceeded, Reader, ScanContext, Severity, Verdict
from .fmtcommon import DANGEROUS_MODULE_ROOTS, FormatError, short, strict_json

FORMAT = "skops"

TRUSTED_ROOTS = ("sklearn", "numpy", "scipy", "skops", "collections")
SAFE_BUILTINS = {
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "str",
    "int",
    "float",
    "complex",
    "bool",
    "bytes",
    "bytearray",
    "slice",
    "NoneType",
    "type",
    "object",
    "range",
}
DANGEROUS_ROOTS = DANGEROUS_MODULE_ROOTS | {"torch", "joblib"}  # loaders of their own pickles
DANGEROUS_OPERATOR = {"attrgetter", "methodcaller", "call", "itemgetter", "getitem", "setitem", "delitem"}
MAX_REPORTED = 25


def is_skops(names: list[str]) -> bool:
    roots = [n for n in names if "/" not in n]
    return "schema.json" in roots and all(n == "schema.json" or n.endswith(".npy") for n in roots)


def judge(module: str, name: str) -> str:
    """ "malicious" / "suspicious" / "" for a ``__module__``/``__class__`` pair."""
    root = module.split(".", 1)[0]
    leaf = name.rsplit(".", 1)[-1]
    if root in DANGEROUS_ROOTS:
        return "malicious"
    if root in ("builtins", "__builtin__"):
        return "" if leaf in SAFE_BUILTINS else "malicious"
    if root in ("operator", "_operator"):
        return "malicious" if leaf in DANGEROUS_OPERATOR else ""
    if root in TRUSTED_ROOTS or (root in ("functools", "re") and leaf in ("partial", "Pattern")):
        return ""
    return "suspicious"


class _Walker:
    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.reported = 0
        self.seen: set[tuple[str, str, str]] = set()

    def walk(self, obj: Any, path: str, depth: int = 0) -> None:
        if depth > 400:
            raise LimitExceeded("skops schema nested deeper than 400 levels")
        if isinstance(obj, list):
            for i, item in enumerate(obj):
                self.walk(item, f"{path}[{i}]", depth + 1)
            return
        if not isinstance(obj, dict):
            return
        module, cls, loader = obj.get("__module__"), obj.get("__class__"), obj.get("__loader__")
        if isinstance(module, str) and isinstance(cls, str):
            self.node(module, cls, loader if isinstance(loader, str) else "?", path)
        for key, value in obj.items():
            if isinstance(value, dict | list):
                self.walk(value, f"{path}.{key}", depth + 1)

    def node(self, module: str, cls: str, loader: str, path: str) -> None:
        verdict = judge(module, cls)
        if not verdict or (module, cls, loader) in self.seen:
            return
        self.seen.add((module, cls, loader))
        self.reported += 1
        if self.reported > MAX_REPORTED:
            return
        if verdict == "malicious":
            self.ctx.add(
                "skops.callable.dangerous",
                Category.CODE_EXECUTION,
                Severity.CRITICAL,
                Verdict.MALICIOUS,
                f"skops schema names a dangerous callable/type ({loader})",
                f"{short(path, 80)}: {short(module, 60)}.{short(cls, 60)}",
            )
        else:
            self.ctx.add(
                "skops.untrusted_type",
                Category.REMOTE_CODE,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                f"skops schema names a type skops does not trust ({loader}); loading needs trusted=",
                f"{short(path, 80)}: {short(module, 60)}.{short(cls, 60)}",
            )


def scan(reader: Reader, ctx: ScanContext) -> None:
    """Scan a ``.skops`` zip: judge ``schema.json``, route every other member (``.npy``)."""
    archive = zipfmt.read_archive(reader, ctx, report=False)
    schema = [e for e in archive.members() if e.name == "schema.json"]
    if not schema:
        ctx.unscannable("skops.schema.invalid", ".skops file without schema.json")
    for entry in archive.members():
        ctx.check_time()
        child = ctx.child(entry.name)
        try:
            member = zipfmt.open_member(reader, entry, child)
        except zipfmt.ZipError as exc:
            child.unscannable("zip.member", f"cannot read member: {exc}")
            continue
        if entry.name == "schema.json":
            limit = ctx.limits.max_text_bytes
            data = member.read_at(0, limit + 1)
            if len(data) > limit:
                raise LimitExceeded(f"schema.json larger than {limit} bytes")
            try:
                doc = strict_json(data)
            except FormatError as exc:
                child.unscannable("skops.schema.invalid", "schema.json is not valid JSON", str(exc))
                continue
            _Walker(child).walk(doc, "$")
        elif ctx.scan_nested is not None:
            ctx.scan_nested(member, entry.name, child)
        else:
            child.unscannable("nested.no_router", "nested member not scanned (no router attached)", entry.name)
        zipfmt.check_member(member, entry, child)
