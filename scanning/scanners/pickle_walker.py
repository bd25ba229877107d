"""The pickle opcode machine: a tolerant walker with a symbolic stack and memo (never executes)."""

from __future__ import annotations

import codecs
import struct
from typing import Any

from scanning.scanners.base import Category, LimitExceeded, Reader, ScanContext, Severity, Verdict
from scanning.scanners.pickle_ops import Blob, Ext, Global, Module, PersId, SDict, SList, Unknown, cap_tuple
from scanning.scanners.pickle_rules import Classification
from scanning.scanners.pickle_semantics import _GlobalRecord, _Semantics
from scanning.scanners.pickle_stream import (
    _MISSING,
    BIG_ARG,
    FRAME_ABUSE,
    HIGHEST_PROTOCOL,
    MAX_MEMO,
    MAX_STACK,
    MEMO_ABUSE_INDEX,
    RETAIN_BUDGET,
    SIZE_ABUSE,
    PickleError,
    StreamResult,
    _Buf,
    _Stop,
)


class _Walker(_Semantics):
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
        if idx >= MEMO_ABUSE_INDEX and idx > 2 * (len(self.memo) + self.memo_dropped) + 4096:
            self.abuse(
                "pickle.abuse.memo",
                f"memo index {idx} with only {len(self.memo)} entries: the C unpickler allocates a table of "
                f"{idx * 16 / 2**30:.1f} GiB for it (memory exhaustion); no pickler numbers its memo this way",
                f"PUT {idx}",
            )
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

    def abuse(self, rule: str, message: str, evidence: str) -> None:
        """A claim that exists to crash or exhaust the loader: malicious format-abuse (the walk goes on)."""
        self.finding(rule, Category.FORMAT_ABUSE, Severity.HIGH, Verdict.MALICIOUS, message, evidence, self.buf.pos)

    def frame(self, n: int, pos: int) -> None:
        if n >= FRAME_ABUSE:
            self.abuse(
                "pickle.abuse.frame",
                f"FRAME claims {n} bytes: the loader tries to read/allocate that much (crash or memory exhaustion);"
                " pickle frames hold only small opcodes",
                f"FRAME {n} at offset {pos}",
            )

    def sized(self, n: int, offset: int, as_text: bool) -> Any:
        if n < 0:
            raise PickleError("negative byte count")
        if n >= SIZE_ABUSE and n > self.buf.end - self.buf.pos:
            self.abuse(
                "pickle.abuse.size",
                f"argument claims {n} bytes, far beyond the stream: the loader allocates that much (memory exhaustion)",
                f"length {n} at offset {offset}",
            )
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
                        n = unpack_from("<Q", data, i + 1)[0]
                        if n >= FRAME_ABUSE:
                            self.frame(n, base + i)
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
            self.frame(struct.unpack("<Q", buf.read(8))[0], pos)
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
