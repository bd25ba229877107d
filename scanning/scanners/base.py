"""Shared contract of every scanner.

A scanner is a pure function ``scan_<format>(reader, ctx) -> None`` that reads through a
:class:`Reader` (random access, never the whole file at once) and reports :class:`Finding`s on the
:class:`ScanContext`. Scanners never import Django, never unpickle, never execute anything from the
file. Hitting a limit (size, time, nesting, members) is reported as an ``unscannable`` finding:
fail closed, never ``safe``.
"""

from __future__ import annotations

import enum
import io
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

RULES_VERSION = "2026.12.1"


class Verdict(enum.IntEnum):
    """Ordered: the verdict of a file is the maximum over its findings."""

    SAFE = 0
    SUSPICIOUS = 1
    UNSCANNABLE = 2
    MALICIOUS = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Category(enum.StrEnum):
    CODE_EXECUTION = "code-execution"
    PROCESS = "process"
    NETWORK = "network"
    FILESYSTEM = "filesystem"
    OBFUSCATION = "obfuscation"
    FORMAT_ABUSE = "format-abuse"
    REMOTE_CODE = "remote-code"
    UNSCANNABLE = "unscannable"


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # stable id, e.g. "pickle.global.denied"
    category: Category
    severity: Severity
    verdict: Verdict  # what this finding makes of the file at least
    message: str  # one line a reviewer reads
    evidence: str = ""  # reconstructed call as pseudo-Python, offending header, path…
    member: str = ""  # archive member / nested path ("" for the file itself)
    offset: int | None = None  # byte offset within the member (or file)

    def as_contract(self) -> dict[str, str]:
        """The five keys of the `scan --json` contract (DESIGN.md)."""
        evidence = self.evidence
        where = []
        if self.member:
            where.append(f"member {self.member}")
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        if where:
            evidence = f"{evidence} [{', '.join(where)}]" if evidence else f"[{', '.join(where)}]"
        return {
            "rule": self.rule,
            "category": str(self.category),
            "severity": str(self.severity),
            "message": self.message,
            "evidence": evidence,
        }


@dataclass(frozen=True, slots=True)
class Limits:
    max_seconds: float = 120.0  # per top-level file
    max_depth: int = 4  # archive nesting
    max_members: int = 10_000  # per archive
    max_decompressed: int = 4 * 1024**3  # total bytes inflated per top-level file
    max_pickle_bytes: int = 512 * 1024**2  # a single pickle stream walked opcode by opcode
    max_header_bytes: int = 100 * 1024**2  # safetensors/gguf/json headers
    max_text_bytes: int = 8 * 1024**2  # .py/.json/templates read whole
    # Decompression bomb bound: inflating more than max(bomb_floor, max_ratio x top-level file size) is
    # judged a bomb (malicious, format-abuse), not merely a limit. One deflate layer cannot exceed ~1032:1,
    # so only nesting, overlapping members or a hostile bzip2/xz/zstd stream gets there.
    max_ratio: int = 2000
    bomb_floor: int = 64 * 1024**2


class LimitExceeded(Exception):
    """Raised by readers/contexts when a bound is hit; the router turns it into `unscannable`."""


class BombDetected(LimitExceeded):
    """Decompression far beyond what the file's size can honestly hold; the router judges it `malicious`."""


class NotRegularFile(OSError):
    """A FIFO, socket or device node: never opened for reading (it could block for ever)."""


@runtime_checkable
class Reader(Protocol):
    """Random-access, read-only view of a file (local, in memory, or HTTP range requests)."""

    @property
    def size(self) -> int: ...

    def read_at(self, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes at ``offset`` (short only at end of file)."""
        ...


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """``os.stat`` of ``path``; :class:`NotRegularFile` for FIFOs, sockets and devices (never opened)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        kind = "directory" if stat.S_ISDIR(st.st_mode) else special_kind(st.st_mode)
        raise NotRegularFile(f"not a regular file ({kind}); not opened")
    return st


def special_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "directory"),
    ):
        if test(mode):
            return kind
    return "special file"


def open_regular(path: str | os.PathLike[str]) -> io.BufferedReader:
    """Open a regular file for reading without ever blocking on a FIFO or device.

    ``stat`` first (no open of special files at all), then ``O_NONBLOCK`` so that a FIFO swapped in
    between the two calls still cannot block the open; ``fstat`` of what was opened decides.
    """
    check_regular(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"not a regular file ({special_kind(mode)}); not read")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class FileReader:
    """Reader over a local regular file (FIFOs/devices refused: :class:`NotRegularFile`); counts bytes read."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fh = open_regular(path)
        self._size = os.fstat(self._fh.fileno()).st_size
        self.bytes_read = 0

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        data = os.pread(self._fh.fileno(), length, offset)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> FileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self.bytes_read = 0

    @property
    def size(self) -> int:
        return len(self._data)

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        chunk = bytes(self._data[offset : offset + length])
        self.bytes_read += len(chunk)
        return chunk


class SubReader:
    """A window [offset, offset+size) of another reader (stored zip member, tar member…)."""

    def __init__(self, parent: Reader, offset: int, size: int) -> None:
        self._parent = parent
        self._offset = offset
        self._size = max(0, min(size, parent.size - offset))

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        if offset >= self._size:
            return b""
        length = min(length, self._size - offset)
        return self._parent.read_at(self._offset + offset, length)


class ReaderStream(io.RawIOBase):
    """Sequential file-like view over a Reader (for zipfile/tarfile/bz2/lzma wrappers)."""

    def __init__(self, reader: Reader, chunk: int = 1024 * 1024) -> None:
        self._reader = reader
        self._pos = 0
        self._chunk = chunk

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = self._reader.size + offset
        self._pos = max(0, self._pos)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._reader.read_at(self._pos, len(buffer))
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n


@dataclass
class ScanContext:
    """Per top-level file: limits, deadline, nesting, and where findings go."""

    limits: Limits = field(default_factory=Limits)
    path: str = ""  # top-level path or repo path, for messages
    member: str = ""  # current nested member path ("" at top level)
    depth: int = 0
    findings: list[Finding] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)  # formats seen, outermost first
    deadline: float = 0.0
    decompressed: list[int] = field(default_factory=lambda: [0])  # shared across nesting
    source_size: int = 0  # size of the top-level file (decompression-ratio bound); 0 = unknown
    local: bool = False  # ``path`` is a local file: its folder may be consulted (side files of a model)
    # Set by the router: scan a nested reader (archive member) with the same machinery.
    scan_nested: Callable[[Reader, str, ScanContext], None] | None = None

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.monotonic() + self.limits.max_seconds

    def add(
        self,
        rule: str,
        category: Category,
        severity: Severity,
        verdict: Verdict,
        message: str,
        evidence: str = "",
        *,
        offset: int | None = None,
        member: str | None = None,
    ) -> Finding:
        finding = Finding(
            rule=rule,
            category=category,
            severity=severity,
            verdict=verdict,
            message=message,
            evidence=evidence,
            member=self.member if member is None else member,
            offset=offset,
        )
        self.findings.append(finding)
        return finding

    def unscannable(self, rule: str, message: str, evidence: str = "", *, offset: int | None = None) -> Finding:
        return self.add(
            rule, Category.UNSCANNABLE, Severity.MEDIUM, Verdict.UNSCANNABLE, message, evidence, offset=offset
        )

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"time limit of {self.limits.max_seconds:g}s exceeded")

    def bomb_budget(self) -> int:
        """Bytes the top-level file may honestly inflate to (see ``Limits.max_ratio``)."""
        if not self.source_size:
            return self.limits.max_decompressed
        return min(self.limits.max_decompressed, max(self.limits.bomb_floor, self.limits.max_ratio * self.source_size))

    def charge_decompressed(self, n: int) -> None:
        self.decompressed[0] += n
        budget = self.bomb_budget()
        if self.decompressed[0] > budget and budget < self.limits.max_decompressed:
            raise BombDetected(
                f"inflated {self.decompressed[0]} bytes from a {self.source_size}-byte file "
                f"(more than {self.limits.max_ratio}:1 and {self.limits.bomb_floor} bytes)"
                + (f" at member {self.member}" if self.member else "")
            )
        if self.decompressed[0] > self.limits.max_decompressed:
            raise LimitExceeded(f"decompressed size exceeds {self.limits.max_decompressed} bytes")

    def child(self, member: str) -> ScanContext:
        """Context for a nested member; shares findings, deadline and decompression budget."""
        if self.depth + 1 > self.limits.max_depth:
            raise LimitExceeded(f"archive nesting deeper than {self.limits.max_depth}")
        return ScanContext(
            limits=self.limits,
            path=self.path,
            member=f"{self.member}/{member}" if self.member else member,
            depth=self.depth + 1,
            findings=self.findings,
            formats=self.formats,
            deadline=self.deadline,
            decompressed=self.decompressed,
            source_size=self.source_size,
            scan_nested=self.scan_nested,
        )


@dataclass
class ScanResult:
    path: str
    format: str
    verdict: Verdict
    sha256: str
    size: int
    findings: list[Finding]
    bytes_read: int = 0
    seconds: float = 0.0

    def as_contract(self) -> dict[str, object]:
        """One line of `manage.py scan --json` (DESIGN.md contract)."""
        return {
            "path": self.path,
            "format": self.format,
            "verdict": self.verdict.label,
            "sha256": self.sha256,
            "findings": [f.as_contract() for f in self.findings],
        }


def verdict_of(findings: list[Finding]) -> Verdict:
    return max((f.verdict for f in findings), default=Verdict.SAFE)
