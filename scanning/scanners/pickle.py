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

import re

from scanning.scanners.base import (
    BytesReader,
    Category,
    LimitExceeded,
    Limits,
    Reader,
    ScanContext,
    Severity,
    Verdict,
)
from scanning.scanners.pickle_stream import CHUNK, MAX_LINE, PickleError, StreamResult
from scanning.scanners.pickle_walker import _Walker

__all__ = ["FORMAT", "PickleError", "StreamResult", "looks_like_pickle", "scan", "scan_pickles", "scan_stream"]

FORMAT = "pickle"
MAX_RESYNCS = 256  # speculative restarts after parse errors / trailing data, per file


def looks_like_pickle(head: bytes, reader: Reader | None = None) -> bool:
    """Content sniffing: a binary protocol header, or a prefix that walks cleanly as pickle opcodes.

    The unpickler needs no PROTO: protocol 0/1 streams, and binary ones that start with any opcode
    (``FRAME``, ``SHORT_BINUNICODE``…), are sniffed by walking the opcode stream. With ``reader`` the walk
    covers the whole first opcode however long its argument is (a protocol-0 pickle can open with a
    megabyte-long quoted string to look like text), then the next 64 KiB.
    """
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 0x0F:
        return True
    if not head or head[:1] not in _SNIFF_FIRST:
        return False
    source: Reader = BytesReader(head[:_SNIFF_WINDOW])
    end = min(len(head), _SNIFF_WINDOW)
    if reader is not None:
        first = _first_opcode_end(reader, head)
        if first is None:  # a quoted STRING/UNICODE line longer than any walk: fail closed, scan it as pickle
            return head[:1] == b"V" or (head[:1] == b"S" and head[1:2] in (b"'", b'"'))
        source, end = reader, min(reader.size, first + _SNIFF_WINDOW)
    probe = ScanContext(limits=Limits(max_seconds=5))
    walker = _Walker(source, probe, 0, end, torchscript=False, sniff=True)
    result = walker.walk()
    if result.ok:
        return True
    return "truncated" in result.error and result.opcodes >= 4


_SNIFF_WINDOW = 64 * 1024
# opcodes a pickle can start with (they push something or are FRAME/MARK); PROTO is handled above
_SNIFF_FIRST = frozenset(bytes([b]) for b in b"(}])cilIFLSVNKJMGXUTBCPg" + bytes(range(0x88, 0x90)) + b"\x95\x96")
_LINE_OPS = frozenset(b"IFLSVPgp")  # one newline-terminated argument
_LEN_OPS = {ord("X"): 4, ord("T"): 4, ord("B"): 4, ord("U"): 1, ord("C"): 1, 0x8C: 1, 0x8D: 8, 0x8E: 8, 0x96: 8}


def _first_opcode_end(reader: Reader, head: bytes) -> int | None:
    """Offset just after the first opcode and its argument; None when a line argument has no newline in reach."""
    op = head[0]
    if op in _LINE_OPS or op in (ord("c"), ord("i")):
        lines = 2 if op in (ord("c"), ord("i")) else 1
        pos = 1
        while lines:
            nl = _find_newline(reader, pos)
            if nl is None:
                return None
            pos, lines = nl + 1, lines - 1
        return pos
    width = _LEN_OPS.get(op)
    if width is not None:
        raw = reader.read_at(1, width)
        if len(raw) < width:
            return reader.size
        return min(reader.size, 1 + width + int.from_bytes(raw, "little"))
    return 9 if op == 0x95 else 1


def _find_newline(reader: Reader, pos: int) -> int | None:
    limit = min(reader.size, pos + MAX_LINE)
    while pos < limit:
        chunk = reader.read_at(pos, min(CHUNK, limit - pos))
        if not chunk:
            return None
        nl = chunk.find(b"\n")
        if nl >= 0:
            return pos + nl
        pos += len(chunk)
    return None


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
    """A raw pickle file (.pkl/.pt/.bin/.joblib…): every concatenated pickle; trailing data is flagged.

    After a parse error or non-pickle trailing data the walk resynchronizes on the next binary PROTO
    opcode (bounded number of times); those speculative walks report what they find but not their
    own parse errors (the file is already flagged).
    """
    pos = 0
    walked = 0
    resyncs = 0
    speculative = False
    while pos < reader.size:
        ctx.check_time()
        result = scan_stream(reader, ctx, pos, torchscript=torchscript, report_errors=not speculative)
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
            if not speculative:
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
        resyncs += 1
        if nxt is None:
            return
        if resyncs > MAX_RESYNCS:
            ctx.unscannable(
                "pickle.resync-limit",
                f"more than {MAX_RESYNCS} malformed regions; the rest of the file was not walked",
                offset=nxt,
            )
            return
        speculative = True
        pos = nxt
