"""What the opcodes mean: globals, calls, BUILD, nested loaders, findings (mixin of the walker).

Nothing is executed: a few pure functions (string concatenation, ``__import__``/``getattr`` name
resolution, base64/rot13/latin-1 decoding) are *evaluated symbolically* so names built inside the
pickle are resolved before classification.
"""

from __future__ import annotations

import base64
import binascii
import codecs
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scanning.scanners.base import (
    BytesReader,
    Category,
    LimitExceeded,
    Reader,
    ScanContext,
    Severity,
    SubReader,
    Verdict,
)
from scanning.scanners.pickle_ops import (
    Blob,
    Call,
    Ext,
    Global,
    Module,
    PersId,
    SDict,
    SList,
    Unknown,
    render,
    resolved,
)
from scanning.scanners.pickle_rules import DENY_WHEN_CALLED, Classification, Decision, classify
from scanning.scanners.pickle_stream import (
    MAX_DISTINCT_GLOBALS,
    MAX_FINDINGS_PER_RULE,
    MAX_GLOBAL_FINDINGS,
    StreamResult,
)

if TYPE_CHECKING:
    from scanning.scanners.pickle_stream import _Buf

_LOADERS = {  # calling these on bytes deserializes them: scan the bytes as a nested file
    ("pickle", "loads"),
    ("pickle", "_loads"),
    ("_pickle", "loads"),
    ("dill", "loads"),
    ("dill._dill", "loads"),
    ("cloudpickle", "loads"),
    ("torch.storage", "_load_from_bytes"),
    ("numpy", "loads"),
    ("joblib", "load"),
    ("torch", "load"),
}
# How torch pickles a storage with plain pickle/joblib (``pickle.dump(tensor)``): ``_load_from_bytes(b'…')``
# on a literal legacy torch file. The literal is scanned as a nested file (its verdict counts), so the call
# itself is not reported; with any other argument (computed, memoized object) it stays a denied nested loader.
_SCANNED_LOADERS = {("torch.storage", "_load_from_bytes")}
_JOBLIB_WRAPPERS = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
}
# Instance-dict keys that only name or document an object (scipy.stats generators and numpy.vectorize carry
# ``__doc__``/``__name__`` in their state). Keys that change behaviour (``__setstate__``, ``__reduce__``,
# ``__class__``, ``__dict__``, ``__getattr__``…) stay malicious.
_INERT_DUNDER_STATE = frozenset({"__doc__", "__name__", "__qualname__", "__module__"})
_NUMPY_DTYPE = {("numpy", "dtype"), ("numpy.core.multiarray", "dtype"), ("numpy._core.multiarray", "dtype")}


@dataclass
class _GlobalRecord:
    module: str
    name: str
    cls: Classification
    offset: int
    how: str
    count: int = 0
    evidence: str = ""
    benign_calls: int = 0  # builtins.type(None) & co: how pickle spells NoneType/EllipsisType
    other_calls: int = 0


class _Semantics:
    """Symbolic meaning of the opcodes; the opcode machine is :class:`scanning.scanners.pickle_walker._Walker`."""

    reader: Reader
    ctx: ScanContext
    buf: _Buf
    sniff: bool
    torchscript: bool
    records: dict[tuple[str, str, str], _GlobalRecord]
    once: set[tuple[str, str]]
    per_rule: dict[str, int]
    suppressed: dict[str, tuple[Category, Severity, Verdict]]
    result: StreamResult
    _cls_cache: dict[tuple[str, str], Classification]

    # -- findings --------------------------------------------------------------------------------------
    def finding(
        self,
        rule: str,
        category: Category,
        severity: Severity,
        verdict: Verdict,
        message: str,
        evidence: str = "",
        offset: int | None = None,
    ) -> None:
        key = (rule, evidence or message)
        if key in self.once:
            return
        shown = self.per_rule.get(rule, 0)
        self.per_rule[rule] = shown + 1
        if shown >= MAX_FINDINGS_PER_RULE:
            self.suppressed.setdefault(rule, (category, severity, verdict))
            return
        self.once.add(key)
        self.ctx.add(rule, category, severity, verdict, message, evidence, offset=offset)

    def flush(self) -> None:
        for rule, (category, severity, verdict) in self.suppressed.items():
            extra = self.per_rule[rule] - MAX_FINDINGS_PER_RULE
            self.ctx.add(rule, category, severity, verdict, f"{extra} more {rule} findings in this pickle not listed")
        self.suppressed.clear()
        reported = 0
        for rec in self.records.values():
            d = rec.cls.decision
            if d is Decision.ALLOW or (rec.benign_calls and not rec.other_calls):
                continue
            reported += 1
            if reported > MAX_GLOBAL_FINDINGS:
                continue
            times = f" ({rec.count} uses)" if rec.count > 1 else ""
            evidence = rec.evidence or f"{rec.module}.{rec.name}"
            if d is Decision.DENY:
                rule = (
                    "pickle.global.obfuscated" if rec.cls.category is Category.OBFUSCATION else "pickle.global.denied"
                )
                self.ctx.add(
                    rule,
                    rec.cls.category,
                    rec.cls.severity,
                    Verdict.MALICIOUS,
                    f"{rec.how} reaches denied {rec.module}.{rec.name}: {rec.cls.reason}{times}",
                    evidence,
                    offset=rec.offset,
                )
            else:
                self.ctx.add(
                    "pickle.global.unknown",
                    Category.CODE_EXECUTION,
                    Severity.MEDIUM,
                    Verdict.SUSPICIOUS,
                    f"{rec.how} reaches {rec.module}.{rec.name}, {rec.cls.reason}{times}",
                    evidence,
                    offset=rec.offset,
                )
        if reported > MAX_GLOBAL_FINDINGS:
            worst = max(
                (r for r in self.records.values() if r.cls.decision is not Decision.ALLOW),
                key=lambda r: r.cls.decision is Decision.DENY,
            )
            self.ctx.add(
                "pickle.global.many",
                Category.OBFUSCATION,
                Severity.HIGH,
                Verdict.MALICIOUS if worst.cls.decision is Decision.DENY else Verdict.SUSPICIOUS,
                f"{reported - MAX_GLOBAL_FINDINGS} more non-allowlisted globals in this pickle not listed",
            )
        self.records.clear()

    # -- globals ---------------------------------------------------------------------------------------
    def make_global(self, module: str, name: str, offset: int, how: str) -> Global:
        key = (module, name)
        cls = self._cls_cache.get(key)
        if cls is None:
            cls = classify(module, name, torchscript=self.torchscript)
            self._cls_cache[key] = cls
        g = Global(module, name, offset, cls, how)
        rkey = (module, name, how if cls.decision is not Decision.ALLOW else "")
        rec = self.records.get(rkey)
        if rec is None:
            if len(self.records) >= MAX_DISTINCT_GLOBALS:
                raise LimitExceeded(f"more than {MAX_DISTINCT_GLOBALS} distinct globals in one pickle")
            rec = self.records[rkey] = _GlobalRecord(module, name, cls, offset, how)
            if len(self.result.globals) < 10_000:
                self.result.globals.append(key)
        rec.count += 1
        return g

    def note_call(self, func: Any, call: Call) -> None:
        """Remember the first reconstructed call of a non-allowed global (called, or passed as argument)."""
        args = call.args if isinstance(call.args, tuple) else ()
        g = resolved(func)
        if isinstance(g, Global) and (g.cls.module, g.cls.name) == ("builtins", "type"):
            rec = self.records.get((g.module, g.name, g.how))
            if rec is not None:
                arg = resolved(args[0]) if len(args) == 1 else Unknown("")
                singleton = (
                    isinstance(arg, Global)
                    and arg.cls.module == "builtins"
                    and arg.cls.name in ("Ellipsis", "NotImplemented")
                )
                if arg is None or singleton:
                    rec.benign_calls += 1
                    return
                rec.other_calls += 1
        for target in (func, *args[:8]):
            target = resolved(target)
            if isinstance(target, Global) and target.cls.decision is not Decision.ALLOW:
                rec = self.records.get((target.module, target.name, target.how))
                if rec is not None and not rec.evidence:
                    rec.evidence = render(call)

    def stack_global(self, module: Any, name: Any, pos: int) -> Any:
        computed = isinstance(module, Call) or isinstance(name, Call)
        m, n = resolved(module), resolved(name)
        if not (isinstance(m, str) and isinstance(n, str)):
            self.finding(
                "pickle.global.unresolved",
                Category.OBFUSCATION,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                "STACK_GLOBAL with a module/name that cannot be resolved statically",
                f"STACK_GLOBAL({render(module, 80)}, {render(name, 80)})",
                pos,
            )
            return Unknown("unresolved STACK_GLOBAL")
        if computed:
            self.finding(
                "pickle.global.computed",
                Category.OBFUSCATION,
                Severity.HIGH,
                Verdict.SUSPICIOUS,
                "STACK_GLOBAL module/name computed by calls inside the pickle",
                f"STACK_GLOBAL({render(module, 80)}, {render(name, 80)}) -> {m}.{n}",
                pos,
            )
        return self.make_global(m, n, pos, "STACK_GLOBAL (computed)" if computed else "STACK_GLOBAL")

    # -- calls -----------------------------------------------------------------------------------------
    def call(self, func: Any, args: Any, kwargs: Any, pos: int, kind: str) -> Call:
        call = Call(func, args, pos, kwargs, kind)
        target = resolved(func)
        if isinstance(target, Global) and (target.cls.module, target.cls.name) in DENY_WHEN_CALLED:
            category, severity, why = DENY_WHEN_CALLED[(target.cls.module, target.cls.name)]
            self.finding(
                "pickle.global.denied",
                category,
                severity,
                Verdict.MALICIOUS,
                f"{kind} calls {target.module}.{target.name}: {why}",
                render(call),
                pos,
            )
        if isinstance(target, Global):
            if target is not func:  # calling something a call produced, e.g. getattr(...)(...)
                self.indirect(func, call, pos)
            self.note_call(target, call)
            self.evaluate(target, call, pos)
        else:
            self.indirect(func, call, pos)
        return call

    def indirect(self, func: Any, call: Call, pos: int) -> None:
        if isinstance(func, Call | PersId) and isinstance(resolved(func), Global):
            g = resolved(func)
            if g.cls.decision is Decision.ALLOW:
                return
        self.finding(
            "pickle.call.indirect",
            Category.OBFUSCATION,
            Severity.MEDIUM,
            Verdict.SUSPICIOUS,
            "call on a callable that is not a plain global (computed, memoized result, extension or persistent id)",
            render(call),
            pos,
        )

    def evaluate(self, g: Global, call: Call, pos: int) -> None:
        """Compute results of a few pure functions symbolically, to see through name-building tricks."""
        key = (g.module, g.name)
        args = call.args if isinstance(call.args, tuple) else ()
        vals = [resolved(a) for a in args]
        value: Any = None
        if key in (("builtins", "getattr"), ("__builtin__", "getattr")):
            obj = vals[0] if vals else None
            attr = vals[1] if len(vals) >= 2 else None
            if isinstance(attr, str):
                if isinstance(obj, Module):
                    value = self.make_global(obj.name, attr, pos, "getattr")
                elif isinstance(obj, Global):
                    value = self.make_global(obj.module, f"{obj.name}.{attr}", pos, "getattr")
                elif isinstance(obj, str):
                    value = self.make_global("builtins", f"str.{attr}", pos, "getattr")
                else:
                    cls = self.instance_class(obj)
                    if cls is not None:  # a method of an instance: judged as the class's attribute
                        value = self.make_global(cls.module, f"{cls.name}.{attr}", pos, "getattr")
            self.getattr_outcome(g, value)
        elif key in (("builtins", "__import__"), ("importlib", "import_module"), ("__builtin__", "__import__")):
            if vals and isinstance(vals[0], str):
                value = Module(vals[0])
        elif key in (("operator", "add"), ("operator", "concat"), ("operator", "iadd"), ("_operator", "add")):
            if len(vals) == 2 and type(vals[0]) is type(vals[1]) and isinstance(vals[0], str | bytes):
                value = vals[0] + vals[1]
        elif key in (("builtins", "str.join"),) and len(vals) == 2 and isinstance(vals[0], str):
            items = vals[1].items if isinstance(vals[1], SList) else vals[1] if isinstance(vals[1], tuple) else None
            if items is not None and all(isinstance(resolved(x), str) for x in items):
                value = vals[0].join(resolved(x) for x in items)
        elif key in (("_codecs", "encode"), ("codecs", "encode")) and vals and isinstance(vals[0], str):
            enc = vals[1] if len(vals) > 1 and isinstance(vals[1], str) else "utf-8"
            if enc.replace("-", "").replace("_", "").lower() in ("latin1", "iso88591", "utf8", "ascii"):
                try:
                    value = vals[0].encode(enc)
                except (UnicodeError, LookupError):
                    value = None
        elif key in (("codecs", "decode"), ("_codecs", "decode")) and len(vals) >= 2 and isinstance(vals[1], str):
            if vals[1].replace("-", "_").lower() in ("rot13", "rot_13") and isinstance(vals[0], str):
                value = codecs.decode(vals[0], "rot13")
        elif key in (("base64", "b64decode"), ("base64", "decodebytes"), ("binascii", "a2b_base64")) and vals:
            if isinstance(vals[0], str | bytes):
                try:
                    value = base64.b64decode(vals[0])
                except (ValueError, binascii.Error):
                    value = None
        elif key in (("builtins", "bytes.fromhex"),) and vals and isinstance(vals[0], str):
            try:
                value = bytes.fromhex(vals[0])
            except ValueError:
                value = None
        if value is not None:
            call.value = value
            call.has_value = True
        if key in _LOADERS and vals and isinstance(vals[0], bytes | Blob) and not self.sniff:
            self.nested(vals[0], g, pos)
        if key in _SCANNED_LOADERS:
            rec = self.records.get((g.module, g.name, g.how))
            if rec is not None:
                literal = len(vals) == 1 and isinstance(vals[0], bytes | Blob) and not self.sniff
                if literal:
                    rec.benign_calls += 1
                else:
                    rec.other_calls += 1

    def instance_class(self, obj: Any) -> Global | None:
        """The class of a symbolic instance built by ``cls.__new__(cls)``/``cls(...)`` of a plain global, if any."""
        if not isinstance(obj, Call):
            return None
        func = resolved(obj.func)
        if isinstance(func, Global) and obj.kind in ("NEWOBJ", "NEWOBJ_EX", "REDUCE", "OBJ", "INST"):
            if (func.cls.module, func.cls.name) in (("copyreg", "_reconstructor"), ("copyreg", "__newobj__")):
                args = obj.args if isinstance(obj.args, tuple) else ()
                first = resolved(args[0]) if args else None
                return first if isinstance(first, Global) else None
            return func
        return None

    def getattr_outcome(self, g: Global, value: Any) -> None:
        """``getattr(X, 'name')`` that resolves statically to an allowed attribute is not a gadget by itself.

        The getattr record is then counted as benign (like ``type(None)``); any other use (unresolvable object,
        computed name, a result that is not allowed) keeps it reported as the code-execution primitive it is.
        """
        rec = self.records.get((g.module, g.name, g.how))
        if rec is None:
            return
        if isinstance(value, Global) and value.cls.decision is Decision.ALLOW:
            rec.benign_calls += 1
        else:
            rec.other_calls += 1

    def nested(self, data: Any, g: Global, pos: int) -> None:
        """Bytes handed to a deserializer inside the pickle: scan them as a file of their own."""
        reader: Reader
        if isinstance(data, Blob):
            reader = SubReader(self.reader, data.offset, data.length)
        else:
            reader = BytesReader(bytes(data))
        name = f"{g.module}.{g.name}@{pos}"
        child = self.ctx.child(name)
        if self.ctx.scan_nested is not None:
            self.ctx.scan_nested(reader, name, child)
        else:
            from scanning.scanners.pickle import scan

            scan(reader, child)

    def build(self, obj: Any, state: Any, pos: int) -> None:
        keys: list[Any] = []
        st = resolved(state)
        if isinstance(st, SDict):
            keys = [k for k, _ in st.items]
        elif isinstance(st, tuple) and len(st) == 2:
            for part in st:
                if isinstance(part, SDict):
                    keys.extend(k for k, _ in part.items)
        bad = [
            k
            for k in keys
            if isinstance(k, str) and k.startswith("__") and k.endswith("__") and k not in _INERT_DUNDER_STATE
        ]
        if bad:
            self.finding(
                "pickle.build.dunder",
                Category.OBFUSCATION,
                Severity.HIGH,
                Verdict.MALICIOUS,
                f"BUILD sets dunder attribute(s) {', '.join(map(repr, bad[:5]))} (e.g. __setstate__/__reduce__ hijack)",
                f"{render(obj, 80)}.__setstate__({render(state, 110)})",
                pos,
            )
        if isinstance(obj, Global | Module):
            self.finding(
                "pickle.build.global",
                Category.OBFUSCATION,
                Severity.HIGH,
                Verdict.MALICIOUS,
                "BUILD on a class/function/module itself: sets attributes on imported code (monkey-patching)",
                f"{render(obj, 80)}.__dict__.update({render(state, 110)})",
                pos,
            )
        elif isinstance(obj, Call):
            if obj.state is None:
                obj.state = state
            func = resolved(obj.func)
            if isinstance(func, Global) and (func.module, func.name) in _JOBLIB_WRAPPERS and not self.sniff:
                self.joblib_array(obj, st, pos)
        elif not isinstance(obj, SDict | SList | tuple | Unknown | PersId | Ext):
            self.finding(
                "pickle.build.value",
                Category.OBFUSCATION,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                "BUILD on a plain value",
                f"{render(obj, 80)}.__setstate__({render(state, 110)})",
                pos,
            )

    # -- joblib ----------------------------------------------------------------------------------------
    def joblib_array(self, wrapper: Call, state: Any, pos: int) -> None:
        """joblib writes raw array bytes (or a nested pickle for object arrays) right after the wrapper."""
        from scanning.scanners.joblib import skip_wrapped_array

        skip_wrapped_array(self, state, pos)
