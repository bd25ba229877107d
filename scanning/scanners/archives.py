"""Archive scanners: tar (own header parser), gzip/bz2/xz/zstd/lz4 (streamed), 7z (py7zr), rar (recognised).

Formats: ``tar``, ``gzip``, ``bz2``, ``xz``, ``7z``, ``rar`` (see :data:`FORMATS`; :func:`scan`
dispatches on magic bytes). Zip belongs to :mod:`scanning.scanners.zipfmt`.

tar is parsed by hand (512-byte headers, pax ``x`` records and GNU ``L``/``K`` long names bounded
to 1 MiB) so that no hostile header makes the scanner allocate unbounded memory, as
:mod:`tarfile` would for a multi-GB pax header. Regular members are handed to the router as
windows of the file (:class:`SubReader`), never copied.

gzip/bz2/xz are inflated chunk by chunk with the stdlib decompressor objects; every output chunk
is charged to ``ScanContext.charge_decompressed`` (zip-bomb bound) and spooled to a temp file
(memory-bounded) which is then scanned as the nested member. Concatenated streams are followed.

Rules:

* ``archive.path_traversal`` (malicious, filesystem) - a member name that is absolute, has a
  drive letter or a ``..`` component; a symlink/hardlink whose target leaves the extraction root;
  a member written through an earlier symlink (``link -> /etc`` then ``link/cron.d/x``).
* ``archive.special_file`` (suspicious, filesystem) - device nodes and FIFOs.
* ``archive.trailing_data`` (suspicious, format-abuse) - non-zero bytes after the end of the
  archive/compressed stream (appended payload).
* ``archive.unsupported`` (unscannable) - rar is recognised but not unpacked. 7z is unpacked by
  :mod:`scanning.scanners.sevenzip`.
* ``tar.malformed``/``gzip.malformed``/``bz2.malformed``/``xz.malformed`` (unscannable) - bad
  checksum/header, corrupt or truncated stream.
"""

from __future__ import annotations

import bz2
import io
import lzma
import posixpath
import re
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from .base import Category, LimitExceeded, Reader, ScanContext, Severity, SubReader, Verdict
from .fmtcommon import FormatError, SpoolReader, basename, scan_nested, short

FORMAT = "tar"
MAGIC_7Z = b"7z\xbc\xaf\x27\x1c"
MAGIC_RAR = (b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00")
MAGIC_GZIP = b"\x1f\x8b"
MAGIC_BZ2 = b"BZh"
MAGIC_XZ = b"\xfd7zXZ\x00"
MAGIC_ZSTD = b"\x28\xb5\x2f\xfd"
MAGIC_LZ4 = b"\x04\x22\x4d\x18"
MAX_ZSTD_WINDOW = 1 << 27  # 128 MiB: the zstd default limit; a frame asking for more is refused
BLOCK = 512
MAX_META = 1024 * 1024  # pax / GNU long-name payloads
CHUNK = 1024 * 1024
MAX_OUT = 4 * 1024 * 1024


def _traversal(ctx: ScanContext, message: str, evidence: str, offset: int | None = None) -> None:
    ctx.add(
        "archive.path_traversal",
        Category.FILESYSTEM,
        Severity.CRITICAL,
        Verdict.MALICIOUS,
        message,
        evidence,
        offset=offset,
    )


def unsafe_path(name: str) -> bool:
    """Absolute path, drive letter, UNC path or a ``..`` component (either separator)."""
    return bool(re.match(r"^([/\\]|[A-Za-z]:)", name) or ".." in re.split(r"[/\\]", name))


def _norm(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/")).lstrip("./") if name else name


def link_escapes(member: str, target: str, hard: bool) -> bool:
    """True if a link target leaves the extraction root (symlinks resolve from the member's directory)."""
    if not target or re.match(r"^([/\\]|[A-Za-z]:)", target):
        return bool(target)
    base = "" if hard else posixpath.dirname(member.replace("\\", "/"))
    joined = posixpath.normpath(posixpath.join("/root", base, target.replace("\\", "/")))
    return not (joined == "/root" or joined.startswith("/root/"))


# --------------------------------------------------------------------------- tar


def _octal(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:  # GNU base-256
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:
            raise FormatError(f"negative {what}")
        return value
    text = field.split(b"\0", 1)[0].strip(b" \0")
    if not text:
        return 0
    if not re.fullmatch(rb"[0-7]+", text):
        raise FormatError(f"bad octal {what}: {short(text)}")
    return int(text, 8)


def _checksum_ok(header: bytes) -> bool:
    try:
        stored = _octal(header[148:156], "checksum")
    except FormatError:
        return False
    blanked = header[:148] + b" " * 8 + header[156:]
    unsigned = sum(blanked)
    signed = sum(b - 256 if b > 127 else b for b in blanked)
    return stored in (unsigned, signed)


def _pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        m = re.match(rb"(\d+) ", data[pos:])
        if not m:
            raise FormatError("malformed pax record")
        length = int(m.group(1))
        if length <= len(m.group(0)) or pos + length > len(data):
            raise FormatError("malformed pax record length")
        record = data[pos + len(m.group(0)) : pos + length].rstrip(b"\n")
        key, _, value = record.partition(b"=")
        out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return out


def is_tar(reader: Reader) -> bool:
    header = reader.read_at(0, BLOCK)
    if len(header) != BLOCK or header == b"\0" * BLOCK:
        return False
    return header[257:262] == b"ustar" or _checksum_ok(header)


def tar_extent(reader: Reader, max_members: int = 100_000) -> int | None:
    """Offset just past the end-of-archive blocks of a well-formed tar (headers only), else ``None``.

    The router uses it to tell a zip that is the LAST MEMBER of a tar (a NeMo ``.nemo`` holding a torch
    checkpoint: its end record sits inside the tar) from a zip appended after the tar (a polyglot).
    """
    pos = 0
    pax_size: int | None = None
    for _ in range(max_members):
        header = reader.read_at(pos, BLOCK)
        if len(header) < BLOCK:
            return None
        if header == b"\0" * BLOCK:
            return pos + 2 * BLOCK
        if not _checksum_ok(header):
            return None
        try:
            size = _octal(header[124:136], "size")
        except FormatError:
            return None
        typeflag = chr(header[156]) if header[156] else "0"
        if pax_size is not None and typeflag not in "xgLK":
            size, pax_size = pax_size, None
        if typeflag == "x" and size <= MAX_META:
            try:
                value = _pax(reader.read_at(pos + BLOCK, size)).get("size", "")
            except FormatError:
                return None
            pax_size = int(value) if value.isdigit() else None
        pos += BLOCK + -(-size // BLOCK) * BLOCK
        if pos > reader.size:
            return None
    return None


def scan_tar(reader: Reader, ctx: ScanContext) -> None:
    """Walk tar headers; see the module docstring for the rules."""
    try:
        _walk_tar(reader, ctx)
    except FormatError as exc:
        ctx.unscannable("tar.malformed", "tar archive is malformed or truncated", str(exc))


def _walk_tar(reader: Reader, ctx: ScanContext) -> None:
    pos = 0
    members = 0
    long_name: str | None = None
    long_link: str | None = None
    pax: dict[str, str] = {}
    symlinks: set[str] = set()
    saw_header = False
    while True:
        ctx.check_time()
        header = reader.read_at(pos, BLOCK)
        if not header:
            if not saw_header:
                raise FormatError("empty tar")
            if pos > reader.size:
                raise FormatError(f"last member's block padding is missing (file ends at {reader.size})")
            return  # missing end-of-archive blocks: tolerated (common), members were complete
        if len(header) < BLOCK:
            raise FormatError(f"truncated header at offset {pos}")
        if header == b"\0" * BLOCK:
            end = pos + 2 * BLOCK
            _check_trailing(reader, ctx, min(end, reader.size))
            return
        if not _checksum_ok(header):
            raise FormatError(f"bad header checksum at offset {pos}")
        saw_header = True
        size = _octal(header[124:136], "size")
        typeflag = chr(header[156]) if header[156] else "0"
        data_start = pos + BLOCK
        if data_start + size > reader.size:
            raise FormatError(f"member data at offset {data_start} ({size} bytes) runs past the end of the file")
        next_pos = data_start + -(-size // BLOCK) * BLOCK
        if typeflag in "xgLK":
            if size > MAX_META:
                raise LimitExceeded(f"tar metadata record of {size} bytes at offset {pos}")
            payload = reader.read_at(data_start, size)
            if typeflag == "x":
                pax = _pax(payload)
            elif typeflag == "L":
                long_name = payload.split(b"\0", 1)[0].decode("utf-8", "replace")
            elif typeflag == "K":
                long_link = payload.split(b"\0", 1)[0].decode("utf-8", "replace")
            pos = next_pos
            continue
        name = header[0:100].split(b"\0", 1)[0].decode("utf-8", "replace")
        prefix = header[345:500].split(b"\0", 1)[0] if header[257:263] == b"ustar\x00" else b""
        if prefix:
            name = prefix.decode("utf-8", "replace") + "/" + name
        link = header[157:257].split(b"\0", 1)[0].decode("utf-8", "replace")
        name = pax.get("path", long_name if long_name is not None else name)
        link = pax.get("linkpath", long_link if long_link is not None else link)
        if "size" in pax:
            if not pax["size"].isdigit():
                raise FormatError("bad pax size")
            size = int(pax["size"])
            if data_start + size > reader.size:
                raise FormatError("pax size runs past the end of the file")
            next_pos = data_start + -(-size // BLOCK) * BLOCK
        long_name = long_link = None
        pax = {}
        members += 1
        if members > ctx.limits.max_members:
            raise LimitExceeded(f"tar has more than {ctx.limits.max_members} members")
        _check_member(reader, ctx, name, link, typeflag, data_start, size, symlinks, pos)
        pos = next_pos


def _check_member(
    reader: Reader,
    ctx: ScanContext,
    name: str,
    link: str,
    typeflag: str,
    data_start: int,
    size: int,
    symlinks: set[str],
    pos: int,
) -> None:
    if unsafe_path(name):
        _traversal(ctx, "tar member path escapes the extraction directory", short(name, 200), pos)
    norm = _norm(name)
    parts = norm.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in symlinks:
            _traversal(ctx, "tar member is written through a symlink member", f"{short(name, 160)}", pos)
            break
    if typeflag in "12":
        if link_escapes(name, link, hard=typeflag == "1"):
            kind = "hardlink" if typeflag == "1" else "symlink"
            _traversal(ctx, f"tar {kind} points outside the extraction directory", f"{short(name)} -> {short(link)}")
        if typeflag == "2":
            symlinks.add(norm)
        return
    if typeflag in "346":
        ctx.add(
            "archive.special_file",
            Category.FILESYSTEM,
            Severity.MEDIUM,
            Verdict.SUSPICIOUS,
            "tar contains a device node or FIFO",
            f"{short(name)} (type {typeflag})",
            offset=pos,
        )
        return
    if typeflag == "5" or size == 0:
        return
    scan_nested(ctx, SubReader(reader, data_start, size), name)  # regular, contiguous, sparse, vendor types


def _check_trailing(reader: Reader, ctx: ScanContext, end: int) -> None:
    """Non-zero bytes after the end of an archive/stream (zero padding is normal)."""
    rest = reader.size - end
    if rest <= 0:
        return
    probe = reader.read_at(end, min(rest, 64 * 1024))
    if rest > len(probe) or probe.strip(b"\0"):
        ctx.add(
            "archive.trailing_data",
            Category.FORMAT_ABUSE,
            Severity.MEDIUM,
            Verdict.SUSPICIOUS,
            "data appended after the end of the archive",
            f"{rest} bytes at offset {end}",
            offset=end,
        )


# --------------------------------------------------------------------------- compressed streams


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Gzip:
    """zlib gzip decompressor with the bz2/lzma ``needs_input`` interface."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(wbits=31)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out = self._d.decompress(data or self._d.unconsumed_tail, max(max_length, 0))
        self.needs_input = not self._d.unconsumed_tail
        return out


def _inflate(
    reader: Reader, ctx: ScanContext, fmt: str, magic: bytes, make: Callable[[], Any], spool: SpoolReader
) -> None:
    errors: tuple[type[BaseException], ...] = (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError, RuntimeError)
    pos = 0
    d: _Decompressor = make()
    pending = b""
    streams = 1
    while True:
        ctx.check_time()
        if d.eof:
            pending = (d.unused_data + pending).lstrip(b"\0")  # zero padding between/after streams is legal
            while len(pending) < len(magic):  # the next stream's magic may straddle a chunk boundary
                ctx.check_time()
                more = reader.read_at(pos, max(CHUNK, len(magic)))
                if not more:
                    break
                pos += len(more)
                pending = (pending + more).lstrip(b"\0") if not pending else pending + more
            if not pending:
                return  # clean end (possibly zero padded)
            if pending.startswith(magic):  # concatenated stream (gzip members, pbzip2, xz -T)
                d = make()
                streams += 1
                continue
            _check_trailing(reader, ctx, pos - len(pending))
            return
        if d.needs_input:
            if pending:
                chunk, pending = pending, b""
            else:
                chunk = reader.read_at(pos, CHUNK)
                pos += len(chunk)
            if not chunk:
                ctx.unscannable(f"{fmt}.malformed", f"{fmt} stream is truncated", f"stream {streams} ends early")
                return
        else:
            chunk = b""
        try:
            out = d.decompress(chunk, MAX_OUT)
        except errors as exc:
            ctx.unscannable(f"{fmt}.malformed", f"{fmt} stream is corrupt", f"{type(exc).__name__}: {exc}")
            return
        if out:
            ctx.charge_decompressed(len(out))
            spool.write(out)


_SUFFIXES = {
    "gzip": (".tgz", ".gz"),
    "bz2": (".tbz2", ".bz2"),
    "xz": (".txz", ".xz"),
    "zstd": (".tzst", ".zst"),
    "lz4": (".tlz4", ".lz4"),
}


def _inner_name(ctx: ScanContext, fmt: str, reader: Reader) -> str:
    name = basename(ctx) or "payload"
    if fmt == "gzip":
        header = reader.read_at(0, 10 + 1024)
        if len(header) > 10 and header[3] & 0x08:  # FNAME
            pos = 10
            if header[3] & 0x04:  # FEXTRA
                pos += 2 + int.from_bytes(header[10:12], "little")
            raw = header[pos:].split(b"\0", 1)[0]
            inner = raw.decode("latin-1").replace("\\", "/").rsplit("/", 1)[-1]
            if inner and inner not in (".", ".."):
                return inner
    tar_suffix, suffix = _SUFFIXES[fmt]
    lower = name.lower()
    if lower.endswith(tar_suffix):
        return name[: -len(tar_suffix)] + ".tar"
    if lower.endswith(suffix):
        return name[: -len(suffix)] or "payload"
    if fmt in ("zstd", "lz4"):
        return name  # joblib's compress="lz4"/pickle.zst kept under their usual name: keep the extension hint
    return name + ".out"


def _scan_stream(reader: Reader, ctx: ScanContext, fmt: str, magic: bytes, make: Callable[[], Any]) -> None:
    if reader.read_at(0, len(magic)) != magic:
        ctx.unscannable(f"{fmt}.malformed", f"missing {fmt} magic", short(reader.read_at(0, 8)))
        return
    with SpoolReader() as spool:
        _inflate(reader, ctx, fmt, magic, make, spool)
        if spool.size:
            scan_nested(ctx, spool, _inner_name(ctx, fmt, reader))


def scan_gzip(reader: Reader, ctx: ScanContext) -> None:
    """gzip (possibly multi-member)."""
    _scan_stream(reader, ctx, "gzip", MAGIC_GZIP, _Gzip)


def scan_bz2(reader: Reader, ctx: ScanContext) -> None:
    """bzip2 (possibly concatenated streams)."""
    _scan_stream(reader, ctx, "bz2", MAGIC_BZ2, bz2.BZ2Decompressor)


def scan_xz(reader: Reader, ctx: ScanContext) -> None:
    """xz (possibly concatenated streams)."""
    _scan_stream(reader, ctx, "xz", MAGIC_XZ, lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ))


def scan_lz4(reader: Reader, ctx: ScanContext) -> None:
    """lz4 frame (joblib ``compress="lz4"``); output bounded per call like bz2/xz."""
    try:
        import lz4.frame
    except ImportError:  # pragma: no cover - runtime requirement
        ctx.unscannable("archive.unsupported", "lz4 support is not installed", "lz4")
        return

    class _Lz4:
        """LZ4FrameDecompressor sets ``unused_data`` only once a frame ends."""

        def __init__(self) -> None:
            self._d = lz4.frame.LZ4FrameDecompressor()

        eof = property(lambda self: self._d.eof)
        needs_input = property(lambda self: self._d.needs_input)
        unused_data = property(lambda self: getattr(self._d, "unused_data", None) or b"")

        def decompress(self, data: bytes, max_length: int = -1) -> bytes:
            return bytes(self._d.decompress(data, max_length))

    _scan_stream(reader, ctx, "lz4", MAGIC_LZ4, _Lz4)


def scan_zstd(reader: Reader, ctx: ScanContext) -> None:
    """zstd frames, read through ``stream_reader`` (bounded output per read, window <= 128 MiB)."""
    try:
        import zstandard
    except ImportError:  # pragma: no cover - runtime requirement
        ctx.unscannable("archive.unsupported", "zstd support is not installed", "zstd")
        return
    from .base import ReaderStream

    dctx = zstandard.ZstdDecompressor(max_window_size=MAX_ZSTD_WINDOW)
    with SpoolReader() as spool:
        try:
            source = io.BufferedReader(ReaderStream(reader))
            with dctx.stream_reader(source, read_across_frames=True, closefd=False) as stream:
                while True:
                    ctx.check_time()
                    out = stream.read(MAX_OUT)
                    if not out:
                        break
                    ctx.charge_decompressed(len(out))
                    spool.write(out)
        except zstandard.ZstdError as exc:
            ctx.unscannable("zstd.malformed", "zstd stream is corrupt or truncated", str(exc)[:200])
        if spool.size:
            scan_nested(ctx, spool, _inner_name(ctx, "zstd", reader))


def scan_7z(reader: Reader, ctx: ScanContext) -> None:
    """7z: unpacked with py7zr through bounded writers (:mod:`scanning.scanners.sevenzip`)."""
    from . import sevenzip  # sevenzip uses this module's path rules

    sevenzip.scan(reader, ctx)


def scan_rar(reader: Reader, ctx: ScanContext) -> None:
    """rar: recognised, not unpacked (fail closed)."""
    ctx.unscannable("archive.unsupported", "rar archives are not unpacked; extract and scan the contents", "rar")


FORMATS: dict[str, Callable[[Reader, ScanContext], None]] = {
    "tar": scan_tar,
    "gzip": scan_gzip,
    "bz2": scan_bz2,
    "xz": scan_xz,
    "7z": scan_7z,
    "rar": scan_rar,
    "zstd": scan_zstd,
    "lz4": scan_lz4,
}


def detect(reader: Reader) -> str | None:
    """Archive format by magic bytes, or ``None``."""
    head = reader.read_at(0, 8)
    if head.startswith(MAGIC_7Z):
        return "7z"
    if head.startswith(MAGIC_RAR):
        return "rar"
    if head.startswith(MAGIC_XZ):
        return "xz"
    if head.startswith(MAGIC_GZIP):
        return "gzip"
    if head.startswith(MAGIC_ZSTD):
        return "zstd"
    if head.startswith(MAGIC_LZ4):
        return "lz4"
    if head.startswith(MAGIC_BZ2) and len(head) >= 4 and head[3:4] in b"123456789":
        return "bz2"
    if is_tar(reader):
        return "tar"
    return None


def scan(reader: Reader, ctx: ScanContext) -> None:
    """Dispatch on magic bytes; anything unrecognised is unscannable."""
    fmt = detect(reader)
    if fmt is None:
        ctx.unscannable("archive.unknown", "not a recognised archive format", short(reader.read_at(0, 8)))
        return
    FORMATS[fmt](reader, ctx)
