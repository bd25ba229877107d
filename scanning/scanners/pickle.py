"""Pickle scanner: a tolerant opcode walker with a symbolic stack and memo. Nothing is ever unpickled.

Public API (also used by the torch / numpy / joblib scanners):

* ``FORMAT = "pickle"``
* :func:`scan` (reader, ctx) — a raw pickle file: every concatenated pickle, trailing data flagged.
* :func:`scan_stream` (reader, ctx, start, ...) -> :class:`StreamResult` — one pickle from ``start``.
* :func:`scan_pickles` (reader, ctx, start, count=None, ...) — consecutive pickles.
* :func:`looks_like_pickle` (head) — content sniffing for the router.

Every global reached (GLOBAL, STACK_GLOBAL, INST; and symbolically via ``getattr``/``__import__``)
is classified by :mod:`scanning.scanners.pickle_rules`; calls on it (REDUCE, NEWOBJ, OBJ, INST,
BUILD) are reconstructed as pseudo-Python evidence. Parse errors stop the walk like they stop the
real Unpickler, but everything seen before the error is reported (a broken pickle still runs its
payload up to the error); the file is then ``unscannable`` at least.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from scanning.scanners.base import (
    BytesReader,
    Category,
    LimitExceeded,
    Limits,
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
    cap_tuple,
    render,
    resolved,
)
from scanning.scanners.pickle_rules import DENY_WHEN_CALLED, Classification, Decision, classify

FORMAT = "pickle"

BIG_ARG = 64 * 1024  # str/bytes arguments larger than this are not materialized (Blob)
MAX_LINE = 16 * 1024 * 1024  # text-protocol argument lines
MAX_STACK = 1_000_000
MAX_MEMO = 2_000_000
RETAIN_BUDGET = 64 * 1024 * 1024  # bytes of str/bytes values kept across the stream
TIME_CHECK_EVERY = 4096
MAX_FINDINGS_PER_RULE = 20  # per pickle stream; the rest is summarized in one finding
MAX_GLOBAL_FINDINGS = 200
MAX_DISTINCT_GLOBALS = 50_000
CHUNK = 1024 * 1024
HIGHEST_PROTOCOL = 5

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
_JOBLIB_WRAPPERS = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
}
_NUMPY_DTYPE = {("numpy", "dtype"), ("numpy.core.multiarray", "dtype"), ("numpy._core.multiarray", "dtype")}


_MISSING = object()


class PickleError(Exception):
    """The stream is malformed where the real Unpickler would stop too."""


class _Stop(Exception):
    pass


@dataclass
class StreamResult:
    start: int
    end: int  # offset after STOP (or where parsing stopped)
    ok: bool  # reached STOP without a parse error
    error: str = ""
    protocol: int = 0
    opcodes: int = 0
    globals: list[tuple[str, str]] = field(default_factory=list)
    persids: list[Any] = field(default_factory=list)  # PERSID/BINPERSID payloads (torch storages)
    value: Any = None  # symbolic top of stack at STOP


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


class _Buf:
    """Forward buffered reading over a Reader window [pos, end)."""

    __slots__ = ("bstart", "buf", "end", "pos", "reader")

    def __init__(self, reader: Reader, pos: int, end: int) -> None:
        self.reader = reader
        self.pos = pos
        self.end = end
        self.buf = b""
        self.bstart = pos

    def read(self, n: int) -> bytes:
        off = self.pos - self.bstart
        if off >= 0 and off + n <= len(self.buf):
            self.pos += n
            return self.buf[off : off + n]
        if self.pos + n > self.end:
            raise PickleError("pickle data was truncated")
        if n > CHUNK:
            data = self.reader.read_at(self.pos, n)
        else:
            self.bstart = self.pos
            self.buf = self.reader.read_at(self.pos, min(max(CHUNK, n), self.end - self.pos))
            data = self.buf[:n]
        if len(data) < n:
            raise PickleError("pickle data was truncated")
        self.pos += n
        return data

    def fill(self, n: int) -> None:
        """Make ``buf`` hold at least ``n`` bytes from ``pos`` (fewer only at ``end``)."""
        off = self.pos - self.bstart
        if off >= 0 and off + n <= len(self.buf):
            return
        self.bstart = self.pos
        self.buf = self.reader.read_at(self.pos, max(0, min(max(CHUNK, n), self.end - self.pos)))

    def skip(self, n: int) -> None:
        if n < 0:
            raise PickleError("negative length")
        if self.pos + n > self.end:
            raise PickleError("pickle data was truncated")
        self.pos += n

    def readline(self) -> bytes:
        start = self.pos
        parts: list[bytes] = []
        total = 0
        while True:
            off = self.pos - self.bstart
            if not (0 <= off < len(self.buf)):
                if self.pos >= self.end:
                    raise PickleError("pickle data was truncated (no newline)")
                self.bstart = self.pos
                self.buf = self.reader.read_at(self.pos, min(CHUNK, self.end - self.pos))
                if not self.buf:
                    raise PickleError("pickle data was truncated (no newline)")
                off = 0
            nl = self.buf.find(b"\n", off)
            if nl >= 0:
                parts.append(self.buf[off:nl])
                self.pos = self.bstart + nl + 1
                return b"".join(parts)
            parts.append(self.buf[off:])
            total += len(self.buf) - off
            self.pos = self.bstart + len(self.buf)
            if total > MAX_LINE:
                raise PickleError(f"text argument line longer than {MAX_LINE} bytes at {start}")


def looks_like_pickle(head: bytes) -> bool:
    """Content sniffing: a binary protocol header, or a prefix that walks cleanly as protocol 0/1 opcodes."""
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 0x0F:
        return True
    if not head or head[:1] not in _SNIFF_FIRST:
        return False
    probe = ScanContext(limits=Limits(max_seconds=5))
    walker = _Walker(BytesReader(head[:4096]), probe, 0, min(len(head), 4096), torchscript=False, sniff=True)
    result = walker.walk()
    if result.ok:
        return True
    return "truncated" in result.error and result.opcodes >= 4


_SNIFF_FIRST = frozenset(bytes([b]) for b in b"(}])cilIFLSVNKJMGXUTBCPg")


class _Walker:
    """Walk one pickle stream; findings go to ``ctx`` (flushed even when the walk raises)."""

    def __init__(
        self, reader: Reader, ctx: ScanContext, start: int, end: int, *, torchscript: bool, sniff: bool = False
    ) -> None:
        self.sniff = sniff
        self.reader = reader
        self.ctx = ctx
        self.buf = _Buf(reader, start, end)
        self.start = start
        self.torchscript = torchscript
        self.records: dict[tuple[str, str, str], _GlobalRecord] = {}
        self.once: set[tuple[str, str]] = set()
        self.per_rule: dict[str, int] = {}
        self.suppressed: dict[str, tuple[Category, Severity, Verdict]] = {}
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.memo_dropped = 0
        self.memo_capped = False
        self.retained = 0
        self.result = StreamResult(start=start, end=start, ok=False)
        self._cls_cache: dict[tuple[str, str], Classification] = {}

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

    # -- stack helpers ---------------------------------------------------------------------------------
    def pop(self) -> Any:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise PickleError("unpickling stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise PickleError("could not find MARK")
        k = self.marks.pop()
        items = self.stack[k:]
        del self.stack[k:]
        return items

    def top(self) -> Any:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise PickleError("unpickling stack underflow")
        return self.stack[-1]

    def push(self, v: Any) -> None:
        self.stack.append(v)
        if len(self.stack) > MAX_STACK:
            raise LimitExceeded(f"pickle stack deeper than {MAX_STACK} items")

    def put(self, idx: int, v: Any) -> None:
        if idx < 0:
            raise PickleError("negative PUT argument")
        if len(self.memo) >= MAX_MEMO and idx not in self.memo:
            self.memo_capped = True
            if not isinstance(v, str | Global | Module):
                self.memo_dropped += 1
                return
        self.memo[idx] = v

    def get(self, idx: int) -> Any:
        if idx in self.memo:
            return self.memo[idx]
        if self.memo_capped:
            return Unknown("memo entry dropped (memo limit)")
        raise PickleError(f"memo value not found at index {idx}")

    def text(self, data: bytes, offset: int, as_text: bool) -> Any:
        if len(data) > 256:
            if self.retained + len(data) > RETAIN_BUDGET:
                return Blob(self.buf.pos - len(data), len(data), data[:64], as_text)
            self.retained += len(data)
        if as_text:
            try:
                return data.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError as exc:
                raise PickleError(f"invalid utf-8 in string at {offset}") from exc
        return data

    def sized(self, n: int, offset: int, as_text: bool) -> Any:
        if n < 0:
            raise PickleError("negative byte count")
        if n > BIG_ARG:
            data_offset = self.buf.pos
            prefix = self.buf.read(64)
            self.buf.skip(n - 64)
            return Blob(data_offset, n, prefix, as_text)
        return self.text(self.buf.read(n), offset, as_text)

    # -- the walk --------------------------------------------------------------------------------------
    def walk(self) -> StreamResult:
        buf = self.buf
        stack = self.stack
        marks = self.marks
        memo = self.memo
        ctx = self.ctx
        unpack_from = struct.unpack_from
        limit = self.start + ctx.limits.max_pickle_bytes
        n_ops = 0
        buf.fill(16)
        data, base, i = buf.buf, buf.bstart, buf.pos - buf.bstart
        try:
            while True:
                n_ops += 1
                if not n_ops & 4095:
                    ctx.check_time()
                    if base + i > limit:
                        raise LimitExceeded(f"pickle stream longer than {ctx.limits.max_pickle_bytes} bytes")
                    if len(stack) > MAX_STACK:
                        raise LimitExceeded(f"pickle stack deeper than {MAX_STACK} items")
                dlen = len(data)
                if i + 16 > dlen:
                    buf.pos = base + i
                    if buf.pos >= buf.end:
                        raise PickleError("pickle data was truncated (no STOP)")
                    buf.fill(16)
                    data, base, i = buf.buf, buf.bstart, buf.pos - buf.bstart
                    dlen = len(data)
                c = data[i]
                if i + 16 <= dlen:
                    floor = marks[-1] if marks else 0
                    if c == 0x94 or c == 0x71:  # MEMOIZE / BINPUT
                        if len(stack) <= floor:
                            raise PickleError("unpickling stack underflow")
                        if c == 0x94:
                            idx = len(memo) + self.memo_dropped
                            i += 1
                        else:
                            idx = data[i + 1]
                            i += 2
                        if len(memo) < MAX_MEMO:
                            memo[idx] = stack[-1]
                        else:
                            self.put(idx, stack[-1])
                        continue
                    if c == 0x68:  # BINGET
                        idx = data[i + 1]
                        i += 2
                        v = memo.get(idx, _MISSING)
                        stack.append(self.get(idx) if v is _MISSING else v)
                        continue
                    if c == 0x8C:  # SHORT_BINUNICODE
                        n = data[i + 1]
                        if i + 2 + n <= dlen:
                            raw = data[i + 2 : i + 2 + n]
                            i += 2 + n
                            try:
                                stack.append(raw.decode("utf-8", "surrogatepass"))
                            except UnicodeDecodeError as exc:
                                raise PickleError(f"invalid utf-8 in string at {base + i}") from exc
                            continue
                    elif c == 0x4B:  # BININT1
                        stack.append(data[i + 1])
                        i += 2
                        continue
                    elif c == 0x4A:  # BININT
                        stack.append(unpack_from("<i", data, i + 1)[0])
                        i += 5
                        continue
                    elif c == 0x4D:  # BININT2
                        stack.append(unpack_from("<H", data, i + 1)[0])
                        i += 3
                        continue
                    elif c == 0x47:  # BINFLOAT
                        stack.append(unpack_from(">d", data, i + 1)[0])
                        i += 9
                        continue
                    elif c == 0x28:  # MARK
                        marks.append(len(stack))
                        i += 1
                        continue
                    elif c == 0x4E:  # NONE
                        stack.append(None)
                        i += 1
                        continue
                    elif c == 0x88 or c == 0x89:  # NEWTRUE / NEWFALSE
                        stack.append(c == 0x88)
                        i += 1
                        continue
                    elif c == 0x29:  # EMPTY_TUPLE
                        stack.append(())
                        i += 1
                        continue
                    elif c == 0x5D:  # EMPTY_LIST
                        stack.append(SList())
                        i += 1
                        continue
                    elif c == 0x7D:  # EMPTY_DICT
                        stack.append(SDict())
                        i += 1
                        continue
                    elif 0x85 <= c <= 0x87:  # TUPLE1/2/3
                        k = c - 0x84
                        if len(stack) - floor < k:
                            raise PickleError("unpickling stack underflow")
                        items = tuple(stack[-k:])
                        del stack[-k:]
                        stack.append(items)
                        i += 1
                        continue
                    elif c == 0x65 or c == 0x75:  # APPENDS / SETITEMS
                        if not marks:
                            raise PickleError("could not find MARK")
                        k = marks.pop()
                        items_l = stack[k:]
                        del stack[k:]
                        if not stack or len(stack) <= (marks[-1] if marks else 0):
                            raise PickleError("unpickling stack underflow")
                        target = stack[-1]
                        if c == 0x65:
                            if isinstance(target, SList):
                                target.extend(items_l)
                        elif isinstance(target, SDict):
                            for j in range(0, len(items_l) - 1, 2):
                                target.set(items_l[j], items_l[j + 1])
                        i += 1
                        continue
                    elif c == 0x73 or c == 0x61:  # SETITEM / APPEND
                        k = 2 if c == 0x73 else 1
                        if len(stack) - floor < k + 1:
                            raise PickleError("unpickling stack underflow")
                        target = stack[-1 - k]
                        if c == 0x73:
                            if isinstance(target, SDict):
                                target.set(stack[-2], stack[-1])
                        elif isinstance(target, SList):
                            target.add(stack[-1])
                        del stack[-k:]
                        i += 1
                        continue
                    elif c == 0x58:  # BINUNICODE (short ones inline)
                        n = unpack_from("<I", data, i + 1)[0]
                        if n <= 256 and i + 5 + n <= dlen:
                            raw = data[i + 5 : i + 5 + n]
                            i += 5 + n
                            try:
                                stack.append(raw.decode("utf-8", "surrogatepass"))
                            except UnicodeDecodeError as exc:
                                raise PickleError(f"invalid utf-8 in string at {base + i}") from exc
                            continue
                    elif c == 0x95:  # FRAME
                        i += 9
                        continue
                # everything else (and anything near the end of the buffer) through the general path
                pos = base + i
                buf.pos = pos
                self._slow(pos)
                if buf.bstart == base and buf.buf is data:
                    i = buf.pos - base
                else:
                    data, base, i = buf.buf, buf.bstart, buf.pos - buf.bstart
                    if not (0 <= i <= len(data)):
                        data, base, i = b"", buf.pos, 0
        except _Stop:
            pass
        except PickleError as exc:
            buf.pos = max(buf.pos, base + i)
            self.result.error = f"{exc} (at offset {buf.pos})"
        except (struct.error, IndexError, ValueError, TypeError, UnicodeDecodeError) as exc:
            buf.pos = max(buf.pos, base + i)
            self.result.error = f"malformed pickle: {exc} (at offset {buf.pos})"
        finally:
            self.result.end = max(buf.pos, base + i)
            self.result.opcodes = n_ops
            self.flush()
        return self.result

    def _slow(self, pos: int) -> None:
        """Execute one opcode at ``self.buf.pos`` symbolically (every opcode; the walk inlines the hot ones)."""
        buf = self.buf
        push = self.push
        stack = self.stack
        code = buf.read(1)
        c = code[0]
        if c == 0x94:  # MEMOIZE
            self.put(len(self.memo) + self.memo_dropped, self.top())
        elif c == 0x71:  # BINPUT
            self.put(buf.read(1)[0], self.top())
        elif c == 0x72:  # LONG_BINPUT
            self.put(struct.unpack("<I", buf.read(4))[0], self.top())
        elif c == 0x68:  # BINGET
            push(self.get(buf.read(1)[0]))
        elif c == 0x6A:  # LONG_BINGET
            push(self.get(struct.unpack("<I", buf.read(4))[0]))
        elif c == 0x8C:  # SHORT_BINUNICODE
            push(self.text(buf.read(buf.read(1)[0]), pos, True))
        elif c == 0x58:  # BINUNICODE
            push(self.sized(struct.unpack("<I", buf.read(4))[0], pos, True))
        elif c == 0x8D:  # BINUNICODE8
            push(self.sized(struct.unpack("<Q", buf.read(8))[0], pos, True))
        elif c == 0x4B:  # BININT1
            push(buf.read(1)[0])
        elif c == 0x4D:  # BININT2
            push(struct.unpack("<H", buf.read(2))[0])
        elif c == 0x4A:  # BININT
            push(struct.unpack("<i", buf.read(4))[0])
        elif c == 0x28:  # MARK
            self.marks.append(len(stack))
        elif c == 0x85:  # TUPLE1
            push((self.pop(),))
        elif c == 0x86:  # TUPLE2
            b = self.pop()
            push((self.pop(), b))
        elif c == 0x87:  # TUPLE3
            c3 = self.pop()
            b = self.pop()
            push((self.pop(), b, c3))
        elif c == 0x74:  # TUPLE
            push(cap_tuple(self.pop_mark()))
        elif c == 0x29:  # EMPTY_TUPLE
            push(())
        elif c == 0x52:  # REDUCE
            args = self.pop()
            func = self.pop()
            push(self.call(func, args, None, pos, "REDUCE"))
        elif c == 0x81:  # NEWOBJ
            args = self.pop()
            cls = self.pop()
            push(self.call(cls, args, None, pos, "NEWOBJ"))
        elif c == 0x92:  # NEWOBJ_EX
            kwargs = self.pop()
            args = self.pop()
            cls = self.pop()
            push(self.call(cls, args, kwargs, pos, "NEWOBJ_EX"))
        elif c == 0x62:  # BUILD
            state = self.pop()
            self.build(self.top(), state, pos)
        elif c == 0x7D:  # EMPTY_DICT
            push(SDict())
        elif c == 0x5D:  # EMPTY_LIST
            push(SList())
        elif c == 0x8F:  # EMPTY_SET
            push(SList(kind="set"))
        elif c == 0x75:  # SETITEMS
            items = self.pop_mark()
            d = self.top()
            for i in range(0, len(items) - 1, 2):
                self.setitem(d, items[i], items[i + 1])
        elif c == 0x73:  # SETITEM
            v = self.pop()
            k = self.pop()
            self.setitem(self.top(), k, v)
        elif c == 0x65:  # APPENDS
            items = self.pop_mark()
            lst = self.top()
            if isinstance(lst, SList):
                lst.extend(items)
        elif c == 0x61:  # APPEND
            v = self.pop()
            lst = self.top()
            if isinstance(lst, SList):
                lst.add(v)
        elif c == 0x90:  # ADDITEMS
            items = self.pop_mark()
            s = self.top()
            if isinstance(s, SList):
                s.extend(items)
        elif c == 0x91:  # FROZENSET
            push(SList(items=self.pop_mark()[:256], kind="frozenset"))
        elif c == 0x6C:  # LIST
            items = self.pop_mark()
            lst = SList()
            lst.extend(items)
            push(lst)
        elif c == 0x64:  # DICT
            items = self.pop_mark()
            d = SDict()
            for i in range(0, len(items) - 1, 2):
                d.set(items[i], items[i + 1])
            push(d)
        elif c == 0x4E:  # NONE
            push(None)
        elif c == 0x88:  # NEWTRUE
            push(True)
        elif c == 0x89:  # NEWFALSE
            push(False)
        elif c == 0x47:  # BINFLOAT
            push(struct.unpack(">d", buf.read(8))[0])
        elif c == 0x8A:  # LONG1
            push(int.from_bytes(buf.read(buf.read(1)[0]), "little", signed=True))
        elif c == 0x8B:  # LONG4
            n = struct.unpack("<i", buf.read(4))[0]
            if n < 0:
                raise PickleError("LONG pickle has negative byte count")
            if n > 4096:
                buf.skip(n)
                push(Unknown(f"{n}-byte integer"))
            else:
                push(int.from_bytes(buf.read(n), "little", signed=True))
        elif c == 0x43:  # SHORT_BINBYTES
            push(self.text(buf.read(buf.read(1)[0]), pos, False))
        elif c == 0x42:  # BINBYTES
            push(self.sized(struct.unpack("<I", buf.read(4))[0], pos, False))
        elif c == 0x8E or c == 0x96:  # BINBYTES8
            push(self.sized(struct.unpack("<Q", buf.read(8))[0], pos, False))
        elif c == 0x55:  # SHORT_BINSTRING
            push(self.latin1(buf.read(buf.read(1)[0]), pos))
        elif c == 0x54:  # BINSTRING
            n = struct.unpack("<i", buf.read(4))[0]
            if n < 0:
                raise PickleError("BINSTRING pickle has negative byte count")
            v = self.sized(n, pos, False)
            push(self.latin1(v, pos) if isinstance(v, bytes) else v)
        elif c == 0x93:  # STACK_GLOBAL
            name = self.pop()
            module = self.pop()
            push(self.stack_global(module, name, pos))
        elif c == 0x63:  # GLOBAL
            module_s = self.line_utf8()
            name_s = self.line_utf8()
            push(self.make_global(module_s, name_s, pos, "GLOBAL"))
        elif c == 0x69:  # INST
            module_s = self.line_utf8()
            name_s = self.line_utf8()
            args = self.pop_mark()
            g = self.make_global(module_s, name_s, pos, "INST")
            push(self.call(g, cap_tuple(args), None, pos, "INST"))
        elif c == 0x6F:  # OBJ
            items = self.pop_mark()
            if not items:
                raise PickleError("OBJ without a class")
            push(self.call(items[0], cap_tuple(items[1:]), None, pos, "OBJ"))
        elif c == 0x80:  # PROTO
            proto = buf.read(1)[0]
            self.result.protocol = max(self.result.protocol, proto)
            if proto > HIGHEST_PROTOCOL:
                raise PickleError(f"unsupported pickle protocol {proto}")
        elif c == 0x95:  # FRAME
            buf.read(8)
        elif c == 0x2E:  # STOP
            if not stack:
                raise PickleError("STOP with an empty stack")
            self.result.ok = True
            self.result.value = stack[-1]
            raise _Stop
        elif c == 0x30:  # POP
            if stack and len(stack) > (self.marks[-1] if self.marks else 0):
                stack.pop()
            else:
                self.pop_mark()
        elif c == 0x31:  # POP_MARK
            self.pop_mark()
        elif c == 0x32:  # DUP
            push(self.top())
        elif c == 0x51:  # BINPERSID
            pid = self.pop()
            self.note_persid(pid)
            push(PersId(pid))
        elif c == 0x50:  # PERSID
            pid_s = buf.readline().decode("ascii", "replace")
            self.note_persid(pid_s)
            push(PersId(pid_s))
        elif c in (0x82, 0x83, 0x84):  # EXT1/2/4
            n = {0x82: 1, 0x83: 2, 0x84: 4}[c]
            ext = int.from_bytes(buf.read(n), "little", signed=(n == 4))
            self.finding(
                "pickle.ext",
                Category.OBFUSCATION,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                "EXT opcode names a callable through the copyreg extension registry (not resolvable)",
                f"<extension code {ext}>",
                pos,
            )
            push(Ext(ext))
        elif c == 0x97:  # NEXT_BUFFER
            push(Unknown("out-of-band buffer"))
        elif c == 0x98:  # READONLY_BUFFER
            self.top()
        elif c == 0x49:  # INT
            line = buf.readline()
            if line == b"00":
                push(False)
            elif line == b"01":
                push(True)
            else:
                push(self.parse_int(line))
        elif c == 0x4C:  # LONG
            line = buf.readline()
            push(self.parse_int(line[:-1] if line.endswith(b"L") else line))
        elif c == 0x46:  # FLOAT
            try:
                push(float(buf.readline()))
            except ValueError as exc:
                raise PickleError("bad FLOAT argument") from exc
        elif c == 0x53:  # STRING
            push(self.string_nl(buf.readline(), pos))
        elif c == 0x56:  # UNICODE
            line = buf.readline()
            v = self.text(line, pos, False)
            push(line.decode("raw-unicode-escape", "replace") if isinstance(v, bytes) else v)
        elif c == 0x67:  # GET
            push(self.get(self.parse_int(buf.readline())))
        elif c == 0x70:  # PUT
            self.put(self.parse_int(buf.readline()), self.top())
        else:
            raise PickleError(f"unknown opcode {code!r}")

    # -- opcode helpers ----------------------------------------------------------------------------
    def line_utf8(self) -> str:
        line = self.buf.readline()
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PickleError("GLOBAL argument is not utf-8") from exc

    @staticmethod
    def parse_int(line: bytes) -> int:
        try:
            return int(line)
        except ValueError as exc:
            raise PickleError(f"bad integer argument {line[:40]!r}") from exc

    def latin1(self, data: Any, pos: int) -> Any:
        if isinstance(data, bytes):
            return data.decode("latin-1")
        return data

    def string_nl(self, line: bytes, pos: int) -> Any:
        line = line.rstrip(b"\r")
        if len(line) >= 2 and line[0] == line[-1] and line[:1] in b"\"'":
            try:
                raw = codecs.escape_decode(line[1:-1])[0]
            except ValueError as exc:
                raise PickleError("bad STRING escape") from exc
            v = self.text(raw, pos, False)
            return v.decode("latin-1") if isinstance(v, bytes) else v
        raise PickleError("the STRING opcode argument must be quoted")

    def setitem(self, d: Any, k: Any, v: Any) -> None:
        if isinstance(d, SDict):
            d.set(k, v)

    def note_persid(self, pid: Any) -> None:
        if len(self.result.persids) < 200_000:
            self.result.persids.append(pid)

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
        if isinstance(func, Call) and isinstance(resolved(func), Global):
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
        if key in (("builtins", "getattr"), ("__builtin__", "getattr")) and len(vals) >= 2 and isinstance(vals[1], str):
            obj = vals[0]
            if isinstance(obj, Module):
                value = self.make_global(obj.name, vals[1], pos, "getattr")
            elif isinstance(obj, Global):
                value = self.make_global(obj.module, f"{obj.name}.{vals[1]}", pos, "getattr")
            elif isinstance(obj, str):
                value = self.make_global("builtins", f"str.{vals[1]}", pos, "getattr")
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
        bad = [k for k in keys if isinstance(k, str) and k.startswith("__") and k.endswith("__")]
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


def scan_stream(
    reader: Reader,
    ctx: ScanContext,
    start: int = 0,
    *,
    end: int | None = None,
    torchscript: bool = False,
    report_errors: bool = True,
) -> StreamResult:
    """Walk one pickle starting at ``start``; returns where it ended and whether it reached STOP."""
    stop = reader.size if end is None else min(end, reader.size)
    walker = _Walker(reader, ctx, start, stop, torchscript=torchscript)
    result = walker.walk()
    if result.error and report_errors:
        ctx.unscannable(
            "pickle.parse-error",
            "pickle stream is malformed; the real loader stops here too, but what ran before counts",
            result.error,
            offset=result.end,
        )
    return result


def scan_pickles(
    reader: Reader,
    ctx: ScanContext,
    start: int = 0,
    *,
    count: int | None = None,
    end: int | None = None,
    torchscript: bool = False,
) -> list[StreamResult]:
    """Walk consecutive pickles from ``start`` (all of them up to ``end`` if ``count`` is None)."""
    results: list[StreamResult] = []
    pos = start
    while pos < (reader.size if end is None else min(end, reader.size)) and (count is None or len(results) < count):
        ctx.check_time()
        r = scan_stream(reader, ctx, pos, end=end, torchscript=torchscript)
        results.append(r)
        if not r.ok or r.end <= pos:
            break
        pos = r.end
        if len(results) > ctx.limits.max_members:
            raise LimitExceeded(f"more than {ctx.limits.max_members} concatenated pickles")
    return results


def _resync(reader: Reader, start: int, end: int) -> int | None:
    """Next plausible binary pickle start (PROTO 2..5 opcode) after a parse error, or None."""
    pos = start
    while pos < end:
        chunk = reader.read_at(pos, min(CHUNK, end - pos) + 1)
        if not chunk:
            return None
        m = re.search(rb"\x80[\x02-\x05]", chunk)
        if m:
            return pos + m.start()
        pos += max(1, len(chunk) - 1)
    return None


def scan(reader: Reader, ctx: ScanContext, *, torchscript: bool = False) -> None:
    """A raw pickle file (.pkl/.pt/.bin/.joblib…): every concatenated pickle; trailing data is flagged."""
    pos = 0
    walked = 0
    while pos < reader.size:
        ctx.check_time()
        result = scan_stream(reader, ctx, pos, torchscript=torchscript)
        walked += max(0, result.end - result.start)
        if walked > ctx.limits.max_pickle_bytes:
            raise LimitExceeded(f"more than {ctx.limits.max_pickle_bytes} bytes of pickle")
        if result.ok:
            pos = result.end
            head = reader.read_at(pos, 64)
            if not head:
                return
            if looks_like_pickle(head):
                continue
            if len(head) < 64 and not head.strip(b"\x00\n\r\t "):
                return
            ctx.add(
                "pickle.trailing-data",
                Category.FORMAT_ABUSE,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                "data after the last pickle is not a pickle (polyglot or hidden data)",
                repr(head[:32]),
                offset=pos,
            )
            nxt = _resync(reader, pos + 1, reader.size)
        else:
            nxt = _resync(reader, max(result.end, pos + 1), reader.size)
        if nxt is None:
            return
        pos = nxt
