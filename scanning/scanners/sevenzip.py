"""7z archives, unpacked with ``py7zr`` (pure Python + compression codecs) through bounded writers.

A 7z file is ``7z\\xbc\\xaf\\x27\\x1c`` + version + a 32-byte start header naming where the (possibly
compressed) header sits at the end. The scanner checks that start header itself (offset and size
inside the file, header size under ``Limits.max_header_bytes``) before ``py7zr`` parses anything,
refuses archives whose members declare more than the decompression-ratio budget, then extracts
member by member into a :class:`~scanning.scanners.fmtcommon.SpoolReader` (memory bounded; every
byte charged to ``ctx.charge_decompressed``, the deadline checked on every write) and hands each
member to the router. Nothing is written to the file system.

This is the nullifAI case (ReversingLabs, 2025): PyTorch checkpoints re-packed with 7z so that
scanners which only open zip archives skip them, their pickle broken right after the payload.

Rules:

* ``archive.path_traversal`` (malicious, filesystem) - member name absolute / ``..`` (as for tar/zip).
* ``7z.encrypted`` (unscannable) - password protected: the content cannot be seen.
* ``7z.malformed`` (unscannable) - truncated or corrupt archive / stream.
* ``7z.header.abuse`` (malicious, format-abuse) - a start header pointing before the archive start
  or at an offset larger than any real archive (2**48): only crafted files do that.
* ``7z.header.bomb`` (malicious, format-abuse) - the (LZMA/LZMA2-compressed) *encoded header* declares a
  decoded size beyond :data:`MAX_DECODED_HEADER` or far beyond what its packed bytes honestly hold.
  py7zr decodes that header whole into memory before anything else (up to its own 256 MiB cap, then
  parses it), so the declared sizes are read here first, from the few raw bytes of the encoded
  header's StreamsInfo, and the archive is refused before py7zr sees it. A plain header larger
  than :data:`MAX_DECODED_HEADER` is refused the same way. py7zr decodes the header with
  ``max_length`` = the declared size, so the declared size bounds its memory.
* ``archive.bomb`` via :class:`~scanning.scanners.base.BombDetected` (router).
"""

from __future__ import annotations

import io
import lzma
import struct
import zlib
from typing import Any

from . import torch as torch_scanner
from .archives import unsafe_path
from .base import BombDetected, Category, LimitExceeded, Reader, ReaderStream, ScanContext, Severity, Verdict
from .fmtcommon import SpoolReader, scan_nested, short

FORMAT = "7z"
MAGIC = b"7z\xbc\xaf\x27\x1c"
START_HEADER = 32
MAX_PLAUSIBLE_OFFSET = 1 << 48
# A 7z header holds ~50-200 bytes per member (name, sizes, CRC, times, attributes); with at most
# Limits.max_members (10,000) members an honest header is a few MiB. 32 MiB is far beyond that.
MAX_DECODED_HEADER = 32 * 1024 * 1024
# Real headers compress ~5-50x; a header stream inflating more than this (and past HEADER_RATIO_FLOOR) is a bomb.
MAX_HEADER_RATIO = 1000
HEADER_RATIO_FLOOR = 1024 * 1024
_ENCODED_HEADER = 0x17
_STREAMS_PROBE = 64 * 1024  # the encoded header's StreamsInfo: a few dozen bytes in practice


def _abuse(ctx: ScanContext, message: str, evidence: str) -> None:
    ctx.add("7z.header.abuse", Category.FORMAT_ABUSE, Severity.HIGH, Verdict.MALICIOUS, message, evidence, offset=12)


def _start_header_ok(reader: Reader, ctx: ScanContext) -> bool:
    head = reader.read_at(0, START_HEADER)
    if len(head) < START_HEADER or not head.startswith(MAGIC):
        ctx.unscannable("7z.malformed", "7z start header truncated", short(head))
        return False
    (stored_crc,) = struct.unpack_from("<I", head, 8)
    next_off, next_size, _ = struct.unpack_from("<QQI", head, 12)
    if zlib.crc32(head[12:32]) != stored_crc:
        ctx.unscannable("7z.malformed", "7z start header CRC mismatch", f"stored {stored_crc:#010x}")
        return False
    if next_off > MAX_PLAUSIBLE_OFFSET or next_size > MAX_PLAUSIBLE_OFFSET:
        _abuse(ctx, "7z start header declares an absurd header offset/size", f"offset {next_off}, size {next_size}")
        return False
    if next_size > ctx.limits.max_header_bytes:
        raise LimitExceeded(f"7z header of {next_size} bytes (limit {ctx.limits.max_header_bytes})")
    if START_HEADER + next_off + next_size > reader.size:
        ctx.unscannable(
            "7z.malformed",
            "7z header lies past the end of the file (truncated archive)",
            f"header at {START_HEADER + next_off}+{next_size}, file has {reader.size} bytes",
        )
        return False
    return _next_header_ok(reader, ctx, START_HEADER + next_off, next_size)


def _header_bomb(ctx: ScanContext, message: str, evidence: str, offset: int) -> None:
    ctx.add("7z.header.bomb", Category.FORMAT_ABUSE, Severity.HIGH, Verdict.MALICIOUS, message, evidence, offset=offset)


def _next_header_ok(reader: Reader, ctx: ScanContext, pos: int, size: int) -> bool:
    """Bound what py7zr will decode for the header before it parses anything."""
    if size > MAX_DECODED_HEADER:
        _header_bomb(ctx, "7z header larger than any honest archive needs", f"{size} bytes", pos)
        return False
    probe = reader.read_at(pos, min(size, _STREAMS_PROBE))
    if not probe or probe[0] != _ENCODED_HEADER:
        return True  # plain header (0x01) of a bounded size, or an empty archive: py7zr parses it as is
    try:
        packed, decoded = encoded_header_sizes(probe)
    except ValueError as exc:
        ctx.unscannable("7z.malformed", "7z encoded header cannot be read", str(exc)[:200], offset=pos)
        return False
    evidence = f"encoded header: {packed} packed bytes declare {decoded} decoded bytes"
    if decoded > MAX_DECODED_HEADER:
        _header_bomb(ctx, f"7z encoded header declares a decoded size over {MAX_DECODED_HEADER} bytes", evidence, pos)
        return False
    if decoded > HEADER_RATIO_FLOOR and decoded > MAX_HEADER_RATIO * max(1, packed):
        _header_bomb(ctx, f"7z encoded header inflates more than {MAX_HEADER_RATIO}:1", evidence, pos)
        return False
    return True


def _number(buf: bytes, pos: int) -> tuple[int, int]:
    """7z's variable-length UINT64 (the high bits of the first byte say how many bytes follow)."""
    if pos >= len(buf):
        raise ValueError("truncated number")
    first = buf[pos]
    mask = 0x80
    for extra in range(8):
        if not first & mask:
            high = first & (mask - 1)
            raw = buf[pos + 1 : pos + 1 + extra]
            if len(raw) < extra:
                raise ValueError("truncated number")
            return int.from_bytes(raw, "little") | (high << (8 * extra)), pos + 1 + extra
        mask >>= 1
    raw = buf[pos + 1 : pos + 9]
    if len(raw) < 8:
        raise ValueError("truncated number")
    return int.from_bytes(raw, "little"), pos + 9


def _byte(buf: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise ValueError("truncated header")
    return buf[pos], pos + 1


def _skip_digests(buf: bytes, pos: int, count: int) -> int:
    all_defined, pos = _byte(buf, pos)
    if all_defined:
        defined = count
    else:
        bits = buf[pos : pos + (count + 7) // 8]
        pos += (count + 7) // 8
        defined = sum(bin(b).count("1") for b in bits)
    return pos + 4 * defined


def encoded_header_sizes(buf: bytes) -> tuple[int, int]:
    """(total packed bytes, total declared decoded bytes) of an encoded header (``0x17`` + StreamsInfo).

    Reads PackInfo (sizes) and the folders' coders and CodersUnpackSize; the decoded size of a folder is
    its largest unpack size (the final coder's output). Raises ValueError on anything malformed.
    """
    pos = 1  # 0x17
    packed = 0
    decoded = 0
    prop, pos = _byte(buf, pos)
    if prop == 0x06:  # PackInfo
        _, pos = _number(buf, pos)  # pack position
        count, pos = _number(buf, pos)
        if count > 64:
            raise ValueError(f"{count} packed streams for a header")
        prop, pos = _byte(buf, pos)
        if prop == 0x09:
            for _ in range(count):
                n, pos = _number(buf, pos)
                packed += n
            prop, pos = _byte(buf, pos)
        if prop == 0x0A:  # CRCs: all-defined flag (or a bit vector), then 4 bytes per defined stream
            pos = _skip_digests(buf, pos, count)
            prop, pos = _byte(buf, pos)
        if prop != 0x00:
            raise ValueError(f"unexpected property {prop:#x} in PackInfo")
        prop, pos = _byte(buf, pos)
    if prop != 0x07:
        raise ValueError("encoded header without UnpackInfo")
    prop, pos = _byte(buf, pos)
    if prop != 0x0B:
        raise ValueError("UnpackInfo without Folder")
    folders, pos = _number(buf, pos)
    if not 1 <= folders <= 64:
        raise ValueError(f"{folders} folders for a header")
    external, pos = _byte(buf, pos)
    if external:
        raise ValueError("external folder data in a header")
    outs: list[int] = []
    for _ in range(folders):
        coders, pos = _number(buf, pos)
        if not 1 <= coders <= 64:
            raise ValueError(f"{coders} coders in a header folder")
        total_in = total_out = 0
        for _ in range(coders):
            flag, pos = _byte(buf, pos)
            pos += flag & 0x0F  # codec id
            n_in = n_out = 1
            if flag & 0x10:
                n_in, pos = _number(buf, pos)
                n_out, pos = _number(buf, pos)
            if flag & 0x20:
                plen, pos = _number(buf, pos)
                pos += plen
            total_in += n_in
            total_out += n_out
            if total_in > 64 or total_out > 64 or pos > len(buf):
                raise ValueError("header folder coders out of bounds")
        for _ in range(total_out - 1):  # bind pairs
            _, pos = _number(buf, pos)
            _, pos = _number(buf, pos)
        n_packed = total_in - (total_out - 1)
        if n_packed > 1:
            for _ in range(n_packed):
                _, pos = _number(buf, pos)
        outs.append(total_out)
    prop, pos = _byte(buf, pos)
    if prop != 0x0C:
        raise ValueError("UnpackInfo without CodersUnpackSize")
    for n_out in outs:
        largest = 0
        for _ in range(n_out):
            size, pos = _number(buf, pos)
            largest = max(largest, size)
        decoded += largest
    return packed, decoded


class _Member:
    """py7zr ``Py7zIO``: spools one member, then scans it through the router when py7zr closes it."""

    def __init__(self, ctx: ScanContext, name: str, raw: bool = False) -> None:
        self.ctx = ctx
        self.name = name
        self.raw = raw  # raw tensor storage of a re-packed PyTorch archive: data, never unpickled
        self.spool = SpoolReader()
        self.done = False

    def write(self, s: bytes | bytearray) -> int:
        self.ctx.check_time()
        self.ctx.charge_decompressed(len(s))
        self.spool.write(bytes(s))
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.spool.size

    def close(self) -> None:
        if self.done:
            return
        self.done = True
        try:
            if self.spool.size and not self.raw:
                scan_nested(self.ctx, self.spool, self.name)
        finally:
            self.spool.close()


def _raw_storage(names: list[str]) -> set[str]:
    """Members a PyTorch loader reads as raw bytes (``data/0``…, ``version``) when the 7z holds a torch archive."""
    if torch_scanner.zip_kind(names) is None:
        return set()
    return {n for n in names if torch_scanner._is_raw_or_small(n)}


def _factory(ctx: ScanContext, raw: set[str]) -> Any:
    from py7zr.io import WriterFactory

    class Factory(WriterFactory):
        def __init__(self) -> None:
            self.members: list[_Member] = []

        def create(self, filename: str) -> Any:
            member = _Member(ctx, filename, filename in raw)
            self.members.append(member)
            return member

    return Factory()


def scan(reader: Reader, ctx: ScanContext) -> None:
    """Scan a 7z archive; see the module docstring for the rules."""
    if not _start_header_ok(reader, ctx):
        return
    try:
        import py7zr
        from py7zr import exceptions as py7zr_errors
    except ImportError:  # pragma: no cover - py7zr is a runtime requirement
        ctx.unscannable("archive.unsupported", "7z support (py7zr) is not installed", "7z")
        return
    errors: tuple[type[BaseException], ...] = (
        py7zr_errors.ArchiveError,
        py7zr_errors.UnsupportedCompressionMethodError,
        EOFError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        struct.error,
        lzma.LZMAError,
        zlib.error,
        OSError,
        MemoryError,
    )
    stream = io.BufferedReader(ReaderStream(reader), buffer_size=256 * 1024)
    try:
        with py7zr.SevenZipFile(stream, "r") as archive:
            if archive.needs_password():
                ctx.unscannable("7z.encrypted", "7z archive is password protected; its content cannot be seen", "")
                return
            infos = archive.list()
            if len(infos) > ctx.limits.max_members:
                raise LimitExceeded(f"7z has {len(infos)} members (limit {ctx.limits.max_members})")
            safe: list[str] = []
            declared = 0
            for info in infos:
                if unsafe_path(info.filename):
                    ctx.add(
                        "archive.path_traversal",
                        Category.FILESYSTEM,
                        Severity.CRITICAL,
                        Verdict.MALICIOUS,
                        "7z member path escapes the extraction directory",
                        short(info.filename, 200),
                    )
                elif not info.is_directory:
                    safe.append(info.filename)
                    declared += int(info.uncompressed or 0)
            budget = ctx.bomb_budget()
            if budget < ctx.limits.max_decompressed and ctx.decompressed[0] + declared > budget:
                raise BombDetected(
                    f"7z members declare {declared} bytes in a {ctx.source_size}-byte file"
                    + (f" at member {ctx.member}" if ctx.member else "")
                )
            if safe:
                archive.extract(targets=safe, factory=_factory(ctx, _raw_storage(safe)))
    except LimitExceeded:
        raise
    except py7zr_errors.PasswordRequired:
        ctx.unscannable("7z.encrypted", "7z archive is password protected; its content cannot be seen", "")
    except errors as exc:
        ctx.unscannable("7z.malformed", "7z archive is corrupt or truncated", f"{type(exc).__name__}: {exc}"[:300])
