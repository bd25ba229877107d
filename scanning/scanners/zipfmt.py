"""ZIP container parsing shared by the PyTorch, NumPy (.npz), Keras and generic-archive scanners.

A zip has two views of its members that loaders disagree about: the central directory (CD, at the
end; what ``zipfile`` and PyTorch's reader use) and the local headers (in front of each member's
data; what streaming unzippers use). Attackers hide members in one view only, so this module lists
both and reports every disagreement as ``zip.mismatch`` (format-abuse, suspicious).

Public API
----------
``is_zip(head: bytes) -> bool``
    Magic check (``PK\\x03\\x04`` local header, ``PK\\x05\\x06`` empty archive, ``PK\\x07\\x08`` spanned).
``read_archive(reader, ctx=None, *, report=True) -> ZipArchive``
    Both views; with ``report`` adds ``zip.mismatch`` findings on ``ctx``. Raises :class:`ZipError`
    when neither view yields anything, :class:`LimitExceeded` past ``ctx.limits.max_members``.
``ZipArchive.members() -> list[ZipEntry]``
    Union of both views (CD entries first, then members present only in local headers), de-duplicated
    by local header offset. Scan each of them.
``ZipArchive.names() -> list[str]``
``open_member(reader, entry, ctx) -> Reader``
    Stored members: a :class:`~scanning.scanners.base.SubReader` (zero copy). Deflated, bzip2 (12) and
    LZMA (14) members: an :class:`InflateReader` (streaming, random access by restart, bounded window and
    output per call, charged to ``ctx.charge_decompressed``). Other methods raise :class:`ZipError`.
``check_bomb(archive, ctx) -> None``
    Raises :class:`~scanning.scanners.base.BombDetected` when the members' declared sizes already exceed
    the decompression-ratio budget (overlapping-member bombs), before anything is inflated.
``check_member(member_reader, entry, ctx) -> None``
    After a member was scanned: CRC and size checks (``zip.mismatch``) for what was inflated.
``scan(reader, ctx, archive=None) -> None`` (``FORMAT = "zip"``)
    Generic zip: every member of both views goes to ``ctx.scan_nested`` (the router).
``InflateReader(parent, offset, comp_size, size, ctx, *, wbits=-15, crc=None)``
    Also usable for zlib streams (``wbits=15``) or gzip (``wbits=31``); ``size=None`` when unknown
    (``size`` then reports the decompression budget until the end of the stream is reached).
"""

from __future__ import annotations

import bz2
import itertools
import lzma
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from scanning.scanners.base import (
    BombDetected,
    Category,
    LimitExceeded,
    Reader,
    ScanContext,
    Severity,
    SubReader,
    Verdict,
)

LOCAL_SIG = b"PK\x03\x04"
CENTRAL_SIG = b"PK\x01\x02"
EOCD_SIG = b"PK\x05\x06"
EOCD64_SIG = b"PK\x06\x06"
EOCD64_LOC_SIG = b"PK\x06\x07"
DESCRIPTOR_SIG = b"PK\x07\x08"
STORED = 0
DEFLATED = 8
BZIP2 = 12
LZMA = 14
_SEARCH = 65535 + 22


class ZipError(Exception):
    """Malformed or unsupported zip structure."""


@dataclass
class ZipEntry:
    name: str
    method: int
    flags: int
    crc: int
    comp_size: int
    size: int
    header_offset: int
    source: str = "central"  # central / local / both
    data_offset: int | None = None

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & 1)

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/") and self.size == 0


@dataclass
class ZipArchive:
    central: list[ZipEntry] = field(default_factory=list)
    local: list[ZipEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    has_central: bool = False

    def members(self) -> list[ZipEntry]:
        seen: set[int] = set()
        out: list[ZipEntry] = []
        for e in [*self.central, *self.local]:
            if e.header_offset in seen:
                continue
            seen.add(e.header_offset)
            if not e.is_dir:
                out.append(e)
        return out

    def names(self) -> list[str]:
        return [e.name for e in self.members()]


def is_zip(head: bytes) -> bool:
    return head[:4] in (LOCAL_SIG, EOCD_SIG, DESCRIPTOR_SIG)


def _decode_name(raw: bytes, flags: int) -> str:
    if flags & 0x800:
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def _zip64_extra(extra: bytes, sizes: list[int], central: bool) -> list[int]:
    """Replace 0xFFFFFFFF fields (uncompressed, compressed, offset) from the zip64 extra field."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, ln = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + ln]
        if tag == 1:
            out = list(sizes)
            i = 0
            for k in range(len(out)):
                wanted = out[k] == 0xFFFFFFFF or (not central and k < 2 and len(body) >= 16)
                if wanted and i + 8 <= len(body):
                    out[k] = struct.unpack_from("<Q", body, i)[0]
                    i += 8
            return out
        pos += 4 + ln
    return sizes


def _eocd(reader: Reader) -> tuple[int, int, int, int] | None:
    """(end of the central directory as laid out, cd_offset, cd_size, entries) or None."""
    size = reader.size
    start = max(0, size - _SEARCH)
    tail = reader.read_at(start, size - start)
    pos = tail.rfind(EOCD_SIG)
    while pos >= 0 and len(tail) - pos < 22:
        pos = tail.rfind(EOCD_SIG, 0, pos)
    if pos < 0:
        return None
    (_, _, _, _, entries, cd_size, cd_offset, _) = struct.unpack_from("<4sHHHHIIH", tail, pos)
    eocd_pos = start + pos
    cd_end = eocd_pos
    loc = reader.read_at(eocd_pos - 20, 20) if eocd_pos >= 20 else b""
    if loc[:4] == EOCD64_LOC_SIG:
        # zip64 end record + locator sit between the central directory and the classic end record
        (z64_off,) = struct.unpack_from("<Q", loc, 8)
        z64_pos = eocd_pos - 20 - 56
        rec = reader.read_at(z64_pos, 56) if z64_pos >= 0 else b""
        if rec[:4] != EOCD64_SIG:
            z64_pos = z64_off
            rec = reader.read_at(z64_off, 56)
        if rec[:4] == EOCD64_SIG and len(rec) >= 56:
            cd_end = z64_pos
            if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
                entries, cd_size, cd_offset = struct.unpack_from("<QQQ", rec, 32)
    return cd_end, cd_offset, cd_size, entries


def central_directory(reader: Reader, max_members: int = 10_000) -> tuple[list[ZipEntry], int]:
    """Entries of the central directory and the prepended-data shift (0 for a well-formed zip)."""
    found = _eocd(reader)
    if found is None:
        raise ZipError("no end-of-central-directory record")
    cd_end, cd_offset, cd_size, entries = found
    if entries > max_members:
        raise LimitExceeded(f"zip declares {entries} members (limit {max_members})")
    # Like zipfile: data prepended to the archive shifts every offset.
    shift = cd_end - cd_size - cd_offset
    if shift < 0:
        raise ZipError("central directory offset points past its end record")
    data = reader.read_at(cd_offset + shift, cd_size)
    out: list[ZipEntry] = []
    pos = 0
    while pos + 46 <= len(data) and data[pos : pos + 4] == CENTRAL_SIG:
        (
            _,
            _,
            _,
            flags,
            method,
            _,
            _,
            crc,
            comp,
            usize,
            nlen,
            xlen,
            clen,
            _,
            _,
            _,
            hoff,
        ) = struct.unpack_from("<4sHHHHHHIIIHHHHHII", data, pos)
        raw = data[pos + 46 : pos + 46 + nlen]
        extra = data[pos + 46 + nlen : pos + 46 + nlen + xlen]
        usize, comp, hoff = _zip64_extra(extra, [usize, comp, hoff], True)
        out.append(ZipEntry(_decode_name(raw, flags), method, flags, crc, comp, usize, hoff + shift))
        pos += 46 + nlen + xlen + clen
        if len(out) > max_members:
            raise LimitExceeded(f"zip has more than {max_members} members")
    if len(out) != entries:
        raise ZipError(f"central directory lists {len(out)} entries, end record says {entries}")
    return out, shift


_LOCAL_READ = 30 + 482  # one read covers a local header's usual name + extra (remote readers)


def _local_read(cd: ZipEntry | None) -> int:
    """Bytes to read for the local header of a central-directory entry: its name plus room for extras."""
    return _LOCAL_READ if cd is None else 30 + len(cd.name.encode("utf-8", "replace")) + 96


def _local_header(reader: Reader, offset: int, want: int = _LOCAL_READ) -> tuple[ZipEntry, int] | None:
    block = reader.read_at(offset, max(30, want))
    head = block[:30]
    if len(head) < 30 or head[:4] != LOCAL_SIG:
        return None
    (_, _, flags, method, _, _, crc, comp, usize, nlen, xlen) = struct.unpack("<4sHHHHHIIIHH", head)
    rest = block[30 : 30 + nlen + xlen]
    if len(rest) < nlen + xlen:
        rest = reader.read_at(offset + 30, nlen + xlen)
    name = _decode_name(rest[:nlen], flags)
    usize, comp = _zip64_extra(rest[nlen:], [usize, comp], False)
    data_offset = offset + 30 + nlen + xlen
    return ZipEntry(name, method, flags, crc, comp, usize, offset, "local", data_offset), data_offset


def _find_next(reader: Reader, start: int, ctx: ScanContext | None) -> int | None:
    """Scan forward for the next zip record signature (members written with data descriptors)."""
    pos = start
    chunk = 1024 * 1024
    while pos < reader.size:
        if ctx is not None:
            ctx.check_time()
        data = reader.read_at(pos, chunk + 3)
        best = None
        for sig in (DESCRIPTOR_SIG, LOCAL_SIG, CENTRAL_SIG, EOCD_SIG):
            i = data.find(sig)
            if i >= 0 and (best is None or i < best):
                best = i
        if best is not None:
            return pos + best
        pos += chunk
    return None


def _first_local(reader: Reader, ctx: ScanContext | None) -> int | None:
    pos = 0
    chunk = 1024 * 1024
    while pos < reader.size:
        if ctx is not None:
            ctx.check_time()
        i = reader.read_at(pos, chunk + 3).find(LOCAL_SIG)
        if i >= 0:
            return pos + i
        pos += chunk
    return None


def local_headers(
    reader: Reader, start: int = 0, known: dict[int, ZipEntry] | None = None, ctx: ScanContext | None = None
) -> list[ZipEntry]:
    """Walk local headers from ``start`` as a streaming unzipper would."""
    max_members = ctx.limits.max_members if ctx else 10_000
    out: list[ZipEntry] = []
    pos = start
    while True:
        parsed = _local_header(reader, pos, _local_read((known or {}).get(pos)))
        if parsed is None:
            break
        entry, data_start = parsed
        comp = entry.comp_size
        if entry.flags & 8 and comp == 0:
            cd = (known or {}).get(pos)
            if cd is not None:
                comp = cd.comp_size
                entry.comp_size, entry.size, entry.crc = cd.comp_size, cd.size, cd.crc
            else:
                nxt = _find_next(reader, data_start, ctx)
                if nxt is None:
                    out.append(entry)
                    break
                comp = nxt - data_start
                entry.comp_size = comp
        out.append(entry)
        if len(out) > max_members:
            raise LimitExceeded(f"zip has more than {max_members} local headers")
        pos = data_start + comp
        if entry.flags & 8:
            sig = reader.read_at(pos, 4)
            pos += 16 if sig == DESCRIPTOR_SIG else 12
            if entry.size > 0xFFFFFFFF or entry.comp_size > 0xFFFFFFFF:
                pos += 8
    return out


def read_archive(reader: Reader, ctx: ScanContext | None = None, *, report: bool = True) -> ZipArchive:
    """List both views of the archive and (optionally) report where they disagree."""
    arc = ZipArchive()
    max_members = ctx.limits.max_members if ctx else 10_000
    shift = 0
    try:
        arc.central, shift = central_directory(reader, max_members)
        arc.has_central = True
    except ZipError as exc:
        arc.problems.append(f"central directory unusable: {exc}")
    known = {e.header_offset: e for e in arc.central}
    prefetch = getattr(reader, "prefetch", None)  # remote readers: right-sized ranges, not a block per member
    if prefetch is not None and known:
        # each local header, and the data descriptor (<= 24 bytes) of the member before it
        prefetch([(max(0, off - 24), 24 + _local_read(known[off])) for off in sorted(known)])
    first = min(known) if known else 0
    # A streaming unzipper starts at the first local header of the file, which may come before the
    # first member the central directory knows about (a member hidden in "prepended data").
    start = 0 if reader.read_at(0, 4) == LOCAL_SIG else _first_local(reader, ctx)
    if start is None:
        start = first
    arc.local = local_headers(reader, start, known, ctx)
    seen = {e.header_offset for e in arc.local}
    if known and first not in seen:
        arc.local += [e for e in local_headers(reader, first, known, ctx) if e.header_offset not in seen]
    if start < first and known:
        arc.problems.append(f"local headers before the first central directory member (at {start})")
    if first > 0 or shift > 0:
        arc.problems.append(f"{max(first, shift)} bytes of data before the first member")
    _compare(reader, arc, known)
    if not arc.central and not arc.local:
        raise ZipError("; ".join(arc.problems) or "no members in either view")
    if report and ctx is not None:
        report_problems(arc, ctx)
    return arc


def report_problems(arc: ZipArchive, ctx: ScanContext) -> None:
    """``zip.mismatch`` findings for an archive read with ``report=False`` (no second read of the file)."""
    if arc.problems:
        for problem in arc.problems[:20]:
            ctx.add(
                "zip.mismatch",
                Category.FORMAT_ABUSE,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                f"zip structure inconsistent: {problem}",
                problem,
            )
        if len(arc.problems) > 20:
            ctx.add(
                "zip.mismatch",
                Category.FORMAT_ABUSE,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                f"{len(arc.problems) - 20} more zip inconsistencies",
            )


def _compare(reader: Reader, arc: ZipArchive, known: dict[int, ZipEntry]) -> None:
    local_by_off = {e.header_offset: e for e in arc.local}
    names: set[str] = set()
    for e in arc.central:
        if e.name in names:
            arc.problems.append(f"duplicate central directory name {e.name!r}")
        names.add(e.name)
        loc = local_by_off.get(e.header_offset)
        if loc is None:
            parsed = _local_header(reader, e.header_offset, _local_read(e))
            if parsed is None:
                arc.problems.append(f"central entry {e.name!r} has no local header at {e.header_offset}")
                continue
            loc = parsed[0]
        e.data_offset = loc.data_offset
        loc.source = "both"
        if loc.name != e.name:
            arc.problems.append(f"name differs: central {e.name!r} vs local {loc.name!r}")
        if loc.method != e.method:
            arc.problems.append(f"compression method differs for {e.name!r}")
        if not (loc.flags & 8) and (loc.comp_size, loc.size, loc.crc) != (e.comp_size, e.size, e.crc):
            arc.problems.append(f"sizes/CRC differ between central and local header for {e.name!r}")
    if arc.has_central:
        for e in arc.local:
            if e.header_offset not in known:
                arc.problems.append(f"member {e.name!r} at {e.header_offset} only in local headers")
    spans = sorted((e.header_offset, (e.data_offset or e.header_offset) + e.comp_size, e.name) for e in arc.members())
    for (_, a_end, a_name), (b_start, _, b_name) in itertools.pairwise(spans):
        if b_start < a_end:
            arc.problems.append(f"members {a_name!r} and {b_name!r} overlap")
    for _, end, name in spans:
        if end > reader.size:
            arc.problems.append(f"member {name!r} extends past the end of the file")


def data_offset(reader: Reader, entry: ZipEntry) -> int:
    if entry.data_offset is None:
        parsed = _local_header(reader, entry.header_offset)
        if parsed is None:
            raise ZipError(f"no local header for {entry.name!r} at {entry.header_offset}")
        entry.data_offset = parsed[1]
    return entry.data_offset


def open_member(reader: Reader, entry: ZipEntry, ctx: ScanContext) -> Reader:
    """A Reader over the member's uncompressed bytes.

    Encrypted members are reported as unscannable on ``ctx`` but still opened as if they were not:
    a loader that ignores the flag (a flipped flag bit is a known scanner bypass) reads them in clear.
    """
    if entry.encrypted:
        ctx.unscannable("zip.encrypted", f"member {entry.name!r} is flagged as encrypted", entry.name)
    start = data_offset(reader, entry)
    if entry.method == STORED:
        return SubReader(reader, start, entry.comp_size)
    if entry.method == DEFLATED:
        return InflateReader(reader, start, entry.comp_size, entry.size, ctx, crc=entry.crc)
    if entry.method == BZIP2:
        return InflateReader(
            reader,
            start,
            entry.comp_size,
            entry.size,
            ctx,
            crc=entry.crc,
            make=lambda: _BoundedStream(bz2.BZ2Decompressor(), "bzip2"),
        )
    if entry.method == LZMA:
        filters = lzma_zip_filters(reader.read_at(start, 9), entry.size)
        return InflateReader(
            reader,
            start + 9,
            entry.comp_size - 9,
            entry.size,
            ctx,
            crc=entry.crc,
            make=lambda: _BoundedStream(lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters), "lzma"),
        )
    raise ZipError(f"member {entry.name!r} uses unsupported compression method {entry.method}")


def check_member(member: Reader, entry: ZipEntry, ctx: ScanContext, *, max_crc_bytes: int = 64 * 1024**2) -> None:
    """CRC / size consistency of a member that was scanned (bounded work for stored members)."""
    problem = ""
    if isinstance(member, InflateReader):
        if not member.finished and entry.size <= max_crc_bytes:
            member.drain()
        if member.finished:
            if member.actual_size != entry.size:
                problem = f"{entry.name!r} inflates to {member.actual_size} bytes, headers say {entry.size}"
            elif member.crc_ok is False:
                problem = f"CRC mismatch for {entry.name!r}"
    elif entry.size <= max_crc_bytes:
        crc = 0
        pos = 0
        while pos < member.size:
            chunk = member.read_at(pos, 4 * 1024 * 1024)
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            pos += len(chunk)
        if pos != entry.size:
            problem = f"{entry.name!r} has {pos} bytes stored, headers say {entry.size}"
        elif crc != entry.crc:
            problem = f"CRC mismatch for {entry.name!r}"
    if problem:
        ctx.add("zip.mismatch", Category.FORMAT_ABUSE, Severity.MEDIUM, Verdict.SUSPICIOUS, problem, problem)


class _Stream(Protocol):
    """One decompressor with the bz2/lzma interface (``needs_input``, bounded ``decompress``)."""

    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    def decompress(self, data: bytes, max_length: int) -> bytes: ...
    def finish(self) -> bytes: ...


class _ZlibStream:
    def __init__(self, wbits: int) -> None:
        self._d = zlib.decompressobj(wbits)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def needs_input(self) -> bool:
        return not self._d.unconsumed_tail

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(data or self._d.unconsumed_tail, max_length)

    def finish(self) -> bytes:
        return self._d.flush()


class _BoundedStream:
    """bz2 / lzma decompressor objects: output bounded by ``max_length``, input pulled only when asked."""

    def __init__(self, d: bz2.BZ2Decompressor | lzma.LZMADecompressor, what: str) -> None:
        self._d = d
        self._what = what

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def needs_input(self) -> bool:
        return self._d.needs_input and not self._d.eof

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(data, max_length)

    def finish(self) -> bytes:
        return b""  # input exhausted before the end of stream marker (LZMA without EOS is normal in zip)


MAX_LZMA_DICT = 256 * 1024 * 1024


def lzma_zip_filters(header: bytes, declared_size: int) -> list[dict[str, int]]:
    """LZMA1 filter of a zip method-14 member from its 4-byte header + properties (APPNOTE 5.8).

    The dictionary a decoder allocates is capped by the member's declared size (a decoder never needs
    more than it outputs) and :data:`MAX_LZMA_DICT`: a forged 4 GiB dictionary cannot exhaust memory.
    """
    if len(header) < 9:
        raise ZipError("LZMA member header truncated")
    (psize,) = struct.unpack_from("<H", header, 2)
    if psize != 5:
        raise ZipError(f"LZMA member properties of {psize} bytes (expected 5)")
    d = header[4]
    if d >= 9 * 5 * 5:
        raise ZipError(f"LZMA properties byte {d} out of range")
    lc, d = d % 9, d // 9
    lp, pb = d % 5, d // 5
    (dict_size,) = struct.unpack_from("<I", header, 5)
    dict_size = max(4096, min(dict_size, max(declared_size, 4096), MAX_LZMA_DICT))
    return [{"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb, "dict_size": dict_size}]


class InflateReader:
    """Random-access Reader over a deflate/zlib (or bzip2/LZMA) stream: streams forward, restarts to seek back.

    Memory is bounded by ``window`` (plus the largest single read). Every byte inflated past the
    previous high-water mark is charged to ``ctx.charge_decompressed``.
    """

    def __init__(
        self,
        parent: Reader,
        offset: int,
        comp_size: int,
        size: int | None,
        ctx: ScanContext,
        *,
        wbits: int = -15,
        crc: int | None = None,
        window: int = 8 * 1024 * 1024,
        make: Callable[[], _Stream] | None = None,
    ) -> None:
        self._parent = parent
        self._offset = offset
        self._comp_size = max(0, min(comp_size, parent.size - offset))
        self._declared = size
        self._ctx = ctx
        self._wbits = wbits
        self._make: Callable[[], _Stream] = make or (lambda: _ZlibStream(wbits))
        self._expect_crc = crc
        self._window = window
        self._high = 0
        self._crc = 0
        self.finished = False
        self.actual_size: int | None = None
        self.crc_ok: bool | None = None
        self.error = ""
        self.bytes_read = 0
        self._restart()

    def _restart(self) -> None:
        self._d = self._make()
        self._in = 0  # compressed bytes consumed
        self._buf = bytearray()
        self._buf_start = 0
        self._out = 0  # decompressed offset of the end of _buf
        self._eof = False

    @property
    def size(self) -> int:
        if self._declared is not None:
            return self._declared
        if self.actual_size is not None:
            return self.actual_size
        return self._ctx.limits.max_decompressed

    def _pump(self) -> None:
        if self._eof:
            return
        data = b""
        if self._d.needs_input:
            n = min(1024 * 1024, self._comp_size - self._in)
            data = self._parent.read_at(self._offset + self._in, n) if n > 0 else b""
            self._in += len(data)
            self.bytes_read += len(data)
        try:
            if data or not self._d.needs_input:
                out = self._d.decompress(data, 4 * 1024 * 1024)
            else:
                out = self._d.finish()
                self._eof = True
        except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as exc:
            self.error = str(exc) or type(exc).__name__
            self._eof = True
            out = b""
        if self._d.eof:
            self._eof = True
        if out:
            end = self._out + len(out)
            if end > self._high:
                new = out[max(0, self._high - self._out) :]
                self._ctx.charge_decompressed(len(new))
                self._crc = zlib.crc32(new, self._crc)
                self._high = end
            self._buf += out
            self._out = end
        if self._eof and not self.finished:
            self.finished = True
            self.actual_size = self._out
            if self._expect_crc is not None:
                self.crc_ok = self._crc == self._expect_crc and not self.error

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        limit = self.size
        if offset >= limit:
            return b""
        length = min(length, limit - offset)
        if length > 64 * 1024 * 1024:
            raise LimitExceeded("single read of more than 64 MiB from a compressed member")
        if offset < self._buf_start:
            self._restart()
        while self._out < offset + length and not self._eof:
            self._pump()
            self._ctx.check_time()
            # keep the window bounded but never drop bytes the caller asked for
            keep_from = min(offset, max(self._buf_start, self._out - self._window))
            if keep_from > self._buf_start:
                del self._buf[: keep_from - self._buf_start]
                self._buf_start = keep_from
        start = offset - self._buf_start
        return bytes(self._buf[start : start + length])

    def drain(self) -> None:
        """Inflate to the end (for size/CRC checks) without keeping the data."""
        while not self._eof:
            self._pump()
            self._ctx.check_time()
            if len(self._buf) > self._window:
                drop = len(self._buf) - self._window
                del self._buf[:drop]
                self._buf_start += drop


def check_bomb(archive: ZipArchive, ctx: ScanContext) -> None:
    """Judge a zip whose compressed members DECLARE more output than the file can honestly hold.

    David Fifield's overlapping-member bomb ("A better zip bomb", 2019) points many central entries at
    one shared deflate kernel: 42 KB declaring 5.5 GB. Stored members are not counted (they are read in
    place). Raises :class:`BombDetected` (the router's ``archive.bomb``) without inflating anything.
    """
    local_only = [e for e in archive.local if e.source == "local"]
    packed = [e for e in [*archive.central, *local_only] if e.method != STORED and not e.is_dir]
    declared = sum(e.size for e in packed)
    budget = ctx.bomb_budget()
    if budget >= ctx.limits.max_decompressed or ctx.decompressed[0] + declared <= budget:
        return
    shared = len(packed) - len({e.header_offset for e in packed})
    comp = sum(e.comp_size for e in packed)
    raise BombDetected(
        f"{len(packed)} compressed members declare {declared} bytes from {comp} compressed bytes "
        f"in a {ctx.source_size}-byte file ({shared} entries reuse another entry's data)"
        + (f" at member {ctx.member}" if ctx.member else "")
    )


def unsafe_name(name: str) -> bool:
    """Absolute, drive-letter/UNC or ``..`` member names (Zip Slip), either separator."""
    return bool(re.match(r"^([/\\]|[A-Za-z]:)", name) or ".." in re.split(r"[/\\]", name))


def check_names(archive: ZipArchive, ctx: ScanContext) -> None:
    """Zip Slip (Snyk, 2018): a member an extractor would write outside its target folder.

    Same rule and verdict as a tar member (``archive.path_traversal``, malicious, filesystem); both
    views are checked (a name only in the local headers reaches streaming extractors).
    """
    seen: set[str] = set()
    for entry in [*archive.central, *archive.local]:
        if entry.name in seen or not unsafe_name(entry.name):
            continue
        seen.add(entry.name)
        if len(seen) > 20:
            break
        ctx.add(
            "archive.path_traversal",
            Category.FILESYSTEM,
            Severity.CRITICAL,
            Verdict.MALICIOUS,
            "zip member path escapes the extraction directory",
            entry.name[:200],
        )


FORMAT = "zip"


def scan(reader: Reader, ctx: ScanContext, archive: ZipArchive | None = None) -> None:
    """A generic zip: every member (from either view) is handed to the router via ``ctx.scan_nested``."""
    archive = archive or read_archive(reader, ctx)
    for entry in archive.members():
        ctx.check_time()
        child = ctx.child(entry.name)
        try:
            member = open_member(reader, entry, child)
        except ZipError as exc:
            child.unscannable("zip.member", f"cannot read member: {exc}")
            continue
        if ctx.scan_nested is None:
            child.unscannable("nested.no_router", "nested member not scanned (no router attached)", entry.name)
            continue
        ctx.scan_nested(member, entry.name, child)
        check_member(member, entry, child)
