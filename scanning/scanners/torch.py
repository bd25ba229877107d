"""PyTorch checkpoints: zip archives (torch.save >= 1.6), TorchScript archives, and the legacy format.

* ``pytorch-zip``: every member that is (or looks like) a pickle is walked, not only ``data.pkl``;
  raw storages (``*/data/<n>``) and the small version files are not parsed; anything else goes
  through the router (``ctx.scan_nested``).
* ``torchscript``: same, with ``__torch__.*`` class names and ``torch.jit._pickle`` helpers
  allowed (the C++ loader resolves them against the archive's own compiled types), and the
  ``code/`` sources checked for custom operator namespaces.
* ``pytorch-legacy``: ``_use_new_zipfile_serialization=False`` files: five concatenated pickles
  (magic number, protocol, sys info, the object, storage keys) followed by raw storages.

Nothing is loaded: see :mod:`scanning.scanners.pickle`.
"""

from __future__ import annotations

import re
import struct

from scanning.scanners import pickle as pickle_scanner
from scanning.scanners import zipfmt
from scanning.scanners.base import Category, Reader, ScanContext, Severity, SubReader, Verdict
from scanning.scanners.pickle_ops import Global, PersId, SList, resolved

FORMAT_ZIP = "pytorch-zip"
FORMAT_LEGACY = "pytorch-legacy"
FORMAT_TORCHSCRIPT = "torchscript"
FORMAT = FORMAT_ZIP

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_MAGIC_BYTES = LEGACY_MAGIC.to_bytes(10, "little")

_RAW_STORAGE = re.compile(r"^(?:.*/)?(?:data|constants)/\d+$|^(?:.*/)?data/(?:weights|constants)/[^/]+(?<!\.json)$")
_SMALL_FILES = {
    "version",
    "byteorder",
    ".format_version",
    ".storage_alignment",
    "serialization_id",
    "archive_format",
    "archive_version",
}
_TS_OP_NAMESPACES = {"aten", "prim", "quantized", "_quantized", "profiler", "_caffe2", "prepacked", "xnnpack"}

_ELEMENT_SIZE = {
    "FloatStorage": 4,
    "DoubleStorage": 8,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
    "QUInt8Storage": 1,
    "QInt8Storage": 1,
    "QInt32Storage": 4,
    "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1,
    "UntypedStorage": 1,
}


def zip_kind(names: list[str]) -> str | None:
    """``pytorch-zip`` / ``torchscript`` when the member names are a PyTorch archive, else None."""
    has_data = any(n == "data.pkl" or n.endswith("/data.pkl") for n in names)
    has_constants = any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in names)
    has_code = any("/code/" in f"/{n}" and n.endswith(".py") for n in names)
    if has_constants or (has_data and has_code):
        return FORMAT_TORCHSCRIPT
    if has_data:
        return FORMAT_ZIP
    # torch.export (.pt2): models/*.json graph + raw weights; nested sample inputs are torch.save zips
    if any(n.rsplit("/", 1)[-1] == "archive_format" for n in names) and any("/models/" in f"/{n}" for n in names):
        return FORMAT_ZIP
    return None


def is_legacy(head: bytes) -> bool:
    """The legacy format starts with a pickle of the magic number (any protocol)."""
    return _MAGIC_BYTES in head[:64] and head[:1] == b"\x80"


def _is_raw_or_small(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return bool(_RAW_STORAGE.match(name)) or base in _SMALL_FILES


def scan_zip(reader: Reader, ctx: ScanContext, archive: zipfmt.ZipArchive | None = None) -> None:
    """A PyTorch zip checkpoint or TorchScript archive."""
    archive = archive or zipfmt.read_archive(reader, ctx)
    torchscript = zip_kind(archive.names()) == FORMAT_TORCHSCRIPT
    for entry in archive.members():
        ctx.check_time()
        if _is_raw_or_small(entry.name):
            continue  # raw tensor bytes / version strings: torch reads them as data, never unpickles them
        child = ctx.child(entry.name)
        try:
            member = zipfmt.open_member(reader, entry, child)
        except zipfmt.ZipError as exc:
            child.unscannable("zip.member", f"cannot read member: {exc}")
            continue
        head = member.read_at(0, 64)
        is_pkl = entry.name.endswith((".pkl", ".debug_pkl")) or pickle_scanner.looks_like_pickle(head)
        if is_pkl:
            pickle_scanner.scan(member, child, torchscript=torchscript)
        elif torchscript and entry.name.endswith(".py") and "/code/" in f"/{entry.name}":
            _check_ts_code(member, child)
        elif ctx.scan_nested is not None:
            ctx.scan_nested(member, entry.name, child)
        else:
            child.unscannable("format.unknown", "unrecognised member of a PyTorch archive")
        zipfmt.check_member(member, entry, child)


def _check_ts_code(member: Reader, ctx: ScanContext) -> None:
    """TorchScript sources are compiled by torch, not exec'd; flag custom operator namespaces."""
    limit = ctx.limits.max_text_bytes
    if member.size > limit:
        ctx.unscannable("torchscript.code-size", f"TorchScript source larger than {limit} bytes")
        return
    text = member.read_at(0, member.size).decode("utf-8", "replace")
    for m in re.finditer(r"\bops\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)", text):
        if m.group(1) not in _TS_OP_NAMESPACES:
            ctx.add(
                "torchscript.custom-op",
                Category.CODE_EXECUTION,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                f"TorchScript calls custom operator namespace {m.group(1)!r} (native code from a loaded library)",
                m.group(0),
                offset=m.start(),
            )
            break


def scan_legacy(reader: Reader, ctx: ScanContext) -> None:
    """Legacy ``torch.save(..., _use_new_zipfile_serialization=False)``: 5 pickles then raw storages."""
    results = pickle_scanner.scan_pickles(reader, ctx, 0, count=5)
    if len(results) < 5 or not all(r.ok for r in results):
        if all(r.ok for r in results):
            ctx.unscannable("torch.legacy.truncated", f"legacy checkpoint has only {len(results)} of 5 pickles")
        return
    # Raw storages follow: for each storage key, an 8-byte element count and the bytes. Check that the
    # remaining data is exactly that, so nothing is hidden behind the storages.
    sizes: dict[str, int] = {}
    for pid in results[3].persids:
        pid = resolved(pid)
        if isinstance(pid, PersId):
            pid = pid.pid
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            continue
        stype, key, numel = resolved(pid[1]), pid[2], pid[4]
        if isinstance(stype, Global) and isinstance(key, str) and isinstance(numel, int):
            el = _ELEMENT_SIZE.get(stype.name.rsplit(".", 1)[-1])
            if el is not None:
                sizes[key] = el
    keys = resolved(results[4].value)
    if not (isinstance(keys, SList) and keys.count == len(keys.items)):
        return
    pos = results[4].end
    for key in keys.items:
        el = sizes.get(key) if isinstance(key, str) else None
        if el is None or pos + 8 > reader.size:
            return  # unknown storage type: the raw bytes are never unpickled, nothing more to check
        (numel,) = struct.unpack("<q", reader.read_at(pos, 8))
        if numel < 0:
            break
        pos += 8 + numel * el
    if pos != reader.size:
        ctx.add(
            "torch.legacy.trailing-data",
            Category.FORMAT_ABUSE,
            Severity.MEDIUM,
            Verdict.SUSPICIOUS,
            "data after the legacy checkpoint's storages does not match their declared sizes",
            offset=min(pos, reader.size),
        )


# --------------------------------------------------------------------------------------------------
# Oldest legacy format (torch < 0.4): an uncompressed tar with sys_info, pickle, storages, tensors
# --------------------------------------------------------------------------------------------------

LEGACY_TAR_MEMBERS = frozenset({"sys_info", "pickle", "storages", "tensors"})


def tar_members(reader: Reader, max_members: int = 10_000) -> dict[str, tuple[int, int]]:
    """name -> (data offset, size) of a plain ustar/v7 tar (no extraction, headers only)."""
    out: dict[str, tuple[int, int]] = {}
    pos = 0
    while pos + 512 <= reader.size and len(out) <= max_members:
        hdr = reader.read_at(pos, 512)
        if hdr == b"\x00" * 512:
            break
        name = hdr[:100].split(b"\x00", 1)[0].decode("utf-8", "replace")
        if hdr[257:262] == b"ustar" and hdr[345:500].strip(b"\x00"):
            name = hdr[345:500].split(b"\x00", 1)[0].decode("utf-8", "replace") + "/" + name
        try:
            size = int(hdr[124:136].split(b"\x00", 1)[0].strip() or b"0", 8)
        except ValueError:
            break
        if hdr[156:157] in (b"0", b"\x00", b"7"):
            out[name] = (pos + 512, size)
        pos += 512 + (size + 511) // 512 * 512
    return out


def is_legacy_tar(reader: Reader) -> bool:
    if reader.read_at(257, 5) != b"ustar" and reader.size < 1024:
        return False
    try:
        names = set(tar_members(reader, 64))
    except (ValueError, OSError):
        return False
    return {"pickle", "storages", "tensors"} <= names


def _value(result: pickle_scanner.StreamResult) -> object:
    return resolved(result.value) if result.ok else None


def scan_legacy_tar(reader: Reader, ctx: ScanContext) -> None:
    """Walk every pickle of the tar layout, skipping raw storage/tensor bytes by their declared sizes."""
    members = tar_members(reader, ctx.limits.max_members)
    for name, (offset, size) in members.items():
        ctx.check_time()
        child = ctx.child(name)
        sub = SubReader(reader, offset, size)
        if name in ("sys_info", "pickle"):
            pickle_scanner.scan(sub, child)
        elif name == "storages":
            _legacy_records(sub, child, storages=True)
        elif name == "tensors":
            _legacy_records(sub, child, storages=False)
        elif ctx.scan_nested is not None:
            ctx.scan_nested(sub, name, child)
        else:
            child.unscannable("format.unknown", "unexpected member of a legacy PyTorch tar")


def _legacy_records(sub: Reader, ctx: ScanContext, *, storages: bool) -> None:
    first = pickle_scanner.scan_stream(sub, ctx, 0)
    count = _value(first)
    if not isinstance(count, int) or count < 0:
        if first.ok:
            ctx.unscannable("torch.legacy.layout", "legacy tar member does not start with a record count")
        return
    pos = first.end
    for _ in range(count):
        ctx.check_time()
        rec = pickle_scanner.scan_stream(sub, ctx, pos)
        if not rec.ok:
            return
        pos = rec.end
        args = _value(rec)
        if storages:
            stype = resolved(args[2]) if isinstance(args, tuple) and len(args) == 3 else None
            el = _ELEMENT_SIZE.get(stype.name) if isinstance(stype, Global) else None
            raw = sub.read_at(pos, 8)
            if el is None or len(raw) < 8:
                ctx.unscannable("torch.legacy.layout", "cannot size a legacy storage record", offset=pos)
                return
            (numel,) = struct.unpack("<q", raw)
            pos += 8 + max(0, numel) * el
        else:
            raw = sub.read_at(pos, 4)
            if len(raw) < 4:
                ctx.unscannable("torch.legacy.layout", "truncated legacy tensor record", offset=pos)
                return
            (ndim,) = struct.unpack("<i", raw)
            pos += 8 + 16 * max(0, ndim) + 8
    if storages:
        views = pickle_scanner.scan_stream(sub, ctx, pos)
        pos = views.end if views.ok else sub.size
    if pos < sub.size:
        ctx.add(
            "torch.legacy.trailing-data",
            Category.FORMAT_ABUSE,
            Severity.MEDIUM,
            Verdict.SUSPICIOUS,
            "data after the last record of a legacy tar member",
            offset=pos,
        )
