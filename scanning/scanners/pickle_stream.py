"""Low-level pieces of the pickle walker: limits, errors, the stream result, the forward buffer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scanning.scanners.base import Reader

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
# Claims no pickler makes and that exist to crash or exhaust the loader (format-abuse, malicious):
FRAME_ABUSE = 1 << 31  # pickle frames hold only small opcodes (~64 KiB); large bytes are written unframed
SIZE_ABUSE = 1 << 40  # a str/bytes argument of a TiB or more that the stream does not even contain
MEMO_ABUSE_INDEX = 1 << 24  # the C unpickler grows its memo table to 2x the largest index (8 bytes a slot)
HIGHEST_PROTOCOL = 5


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
