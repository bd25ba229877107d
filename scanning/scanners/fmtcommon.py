"""Helpers shared by the non-pickle format scanners.

Nothing here executes or imports anything from a scanned file. Everything reads through a
:class:`~scanning.scanners.base.Reader` in bounded chunks so memory stays independent of file size.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import threading
from typing import Any

from .base import LimitExceeded, Reader, ScanContext

# Top-level modules a model config (Keras `module`, skops `__module__`) has no business naming: code
# execution, processes, files, network, deserializers. One list for every config-based format.
DANGEROUS_MODULE_ROOTS = frozenset(
    {
        "_pickle",
        "asyncio",
        "bdb",
        "cloudpickle",
        "code",
        "codeop",
        "commands",
        "ctypes",
        "dill",
        "http",
        "importlib",
        "io",
        "marshal",
        "multiprocessing",
        "nt",
        "os",
        "pathlib",
        "pdb",
        "pickle",
        "posix",
        "pty",
        "pydoc",
        "requests",
        "runpy",
        "shutil",
        "socket",
        "subprocess",
        "sys",
        "tempfile",
        "timeit",
        "urllib",
        "webbrowser",
    }
)


class FormatError(ValueError):
    """Malformed input detected by a parser; scanners turn it into a finding."""


class DuplicateKeyError(FormatError):
    """A JSON object names one key twice: parsers disagree on which value wins (parser differential)."""


class FormatAbuse(FormatError):
    """Malformed by design: a count/length/size no honest writer produces, aimed at a loader's allocator."""


class Cursor:
    """Sequential little-endian reader over a :class:`Reader` with a small read-ahead window.

    Only the window (``chunk`` bytes) is held in memory. ``skip`` moves the position without
    reading, so large payloads (tensor data, long strings) are never materialised.
    """

    def __init__(self, reader: Reader, pos: int = 0, end: int | None = None, chunk: int = 64 * 1024) -> None:
        self.reader = reader
        self.pos = pos
        self.end = reader.size if end is None else min(end, reader.size)
        self._chunk = chunk
        self._buf = b""
        self._buf_start = 0

    def remaining(self) -> int:
        return self.end - self.pos

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes or :class:`FormatError` (truncated)."""
        if n < 0:
            raise FormatError("negative length")
        if self.pos + n > self.end:
            raise FormatError(f"truncated: need {n} bytes at offset {self.pos}, file ends at {self.end}")
        rel = self.pos - self._buf_start
        if rel >= 0 and rel + n <= len(self._buf):
            data = self._buf[rel : rel + n]
        elif n >= self._chunk:
            data = self.reader.read_at(self.pos, n)
        else:
            self._buf_start = self.pos
            self._buf = self.reader.read_at(self.pos, min(self._chunk, self.end - self.pos))
            data = self._buf[:n]
        if len(data) != n:
            raise FormatError(f"short read at offset {self.pos}")
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.end:
            raise FormatError(f"truncated: cannot skip {n} bytes at offset {self.pos}")
        self.pos += n

    def u8(self) -> int:
        return self.read(1)[0]

    def u32(self) -> int:
        return int(struct.unpack("<I", self.read(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.read(8))[0])


class _DuplicateKey(ValueError):
    pass


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def strict_json(data: bytes) -> Any:
    """Parse strict UTF-8 JSON: no duplicate keys, no NaN/Infinity, no BOM.

    Raises :class:`FormatError` with a reviewer-readable reason on any deviation.
    """
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise FormatError("JSON starts with a byte-order mark")
    try:
        return json.loads(text, object_pairs_hook=_no_dupes, parse_constant=_no_constants)
    except _DuplicateKey as exc:
        raise DuplicateKeyError(f"duplicate JSON key {str(exc)!r}") from None
    except RecursionError:
        raise FormatError("JSON nested too deeply") from None
    except ValueError as exc:
        raise FormatError(f"invalid JSON: {exc}") from None


def short(value: object, limit: int = 160) -> str:
    """repr() cut to ``limit`` characters, for evidence strings."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SpoolReader:
    """A :class:`Reader` over a temporary spool file (decompressed single-stream payloads).

    Data stays in memory up to ``max_memory`` and then moves to a temp file on disk, so
    decompressing a large member never costs more than that much RAM.
    """

    def __init__(self, max_memory: int = 8 * 1024 * 1024) -> None:
        self._spool = tempfile.SpooledTemporaryFile(max_size=max_memory)  # noqa: SIM115 - closed by close()
        self._size = 0
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._spool.seek(0, os.SEEK_END)
            self._spool.write(data)
            self._size += len(data)

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        with self._lock:
            self._spool.seek(offset)
            return self._spool.read(length)

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> SpoolReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_bounded(reader: Reader, ctx: ScanContext, limit: int | None = None, what: str = "file") -> bytes:
    """Read a whole small text-ish file, refusing more than ``limit`` (default ``max_text_bytes``)."""
    limit = ctx.limits.max_text_bytes if limit is None else limit
    if reader.size > limit:
        raise LimitExceeded(f"{what} is {reader.size} bytes, larger than the {limit}-byte text limit")
    return reader.read_at(0, reader.size)


def basename(ctx: ScanContext) -> str:
    """File name of what is being scanned (member name inside an archive, else the path)."""
    name = ctx.member or ctx.path
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def scan_nested(ctx: ScanContext, reader: Reader, name: str) -> None:
    """Hand a nested member to the router (one level deeper; ``LimitExceeded`` past ``max_depth``).

    Without a router (a scanner called directly) the member cannot be scanned: fail closed.
    """
    child = ctx.child(name)
    if ctx.scan_nested is None:
        child.unscannable("nested.no_router", "nested member not scanned (no router attached)", name)
        return
    ctx.scan_nested(reader, name, child)
