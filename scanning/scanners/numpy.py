"""NumPy ``.npy`` (header + raw data, or a pickle for object arrays) and ``.npz`` (zip of .npy).

Nothing here imports numpy: the header is a Python literal parsed with :func:`ast.literal_eval`
(literals only, size-capped) and dtypes are sized by hand.

API: ``FORMAT = "numpy"``, :func:`scan` (.npy), :func:`scan_npz` (``FORMAT_NPZ = "numpy-zip"``),
:func:`parse_header`, :func:`descr_info`, :data:`MAGIC`.
"""

from __future__ import annotations

import ast
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

from scanning.scanners import pickle as pickle_scanner
from scanning.scanners import zipfmt
from scanning.scanners.base import Category, LimitExceeded, Reader, ScanContext, Severity, Verdict

FORMAT = "numpy"
FORMAT_NPZ = "numpy-zip"
MAGIC = b"\x93NUMPY"
MAX_HEADER = 1024 * 1024

_TYPESTR = re.compile(r"^([<>|=]?)([a-zA-Z?])(\d*)(\[[a-zA-Z0-9]+\])?$")


@dataclass
class NpyHeader:
    version: tuple[int, int]
    data_offset: int
    descr: Any
    fortran_order: bool
    shape: tuple[int, ...]


def parse_header(reader: Reader, offset: int = 0) -> NpyHeader:
    """Parse the .npy header at ``offset``; raises ValueError when malformed."""
    head = reader.read_at(offset, 12)
    if not head.startswith(MAGIC) or len(head) < 10:
        raise ValueError("not a .npy file (bad magic)")
    major, minor = head[6], head[7]
    if major == 1:
        (hlen,) = struct.unpack("<H", head[8:10])
        start = offset + 10
    elif major in (2, 3):
        (hlen,) = struct.unpack("<I", head[8:12])
        start = offset + 12
    else:
        raise ValueError(f"unsupported .npy version {major}.{minor}")
    if hlen > MAX_HEADER:
        raise ValueError(f".npy header of {hlen} bytes is larger than {MAX_HEADER}")
    raw = reader.read_at(start, hlen)
    if len(raw) < hlen:
        raise ValueError(".npy header truncated")
    text = raw.decode("utf-8" if major == 3 else "latin-1")
    try:
        d = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError(f".npy header is not a literal dict: {exc}") from exc
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise ValueError(".npy header must be a dict with descr, fortran_order, shape")
    shape = d["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(x, int) and x >= 0 for x in shape):
        raise ValueError(f"bad .npy shape {shape!r}")
    return NpyHeader((major, minor), start + hlen, d["descr"], bool(d["fortran_order"]), shape)


def descr_info(descr: Any, depth: int = 0) -> tuple[int | None, bool]:
    """(itemsize or None when unknown, has Python objects) of a .npy ``descr``."""
    if depth > 32:
        return None, True
    if isinstance(descr, str):
        m = _TYPESTR.match(descr)
        if not m:
            return None, "O" in descr
        kind, digits = m.group(2), m.group(3)
        n = int(digits) if digits else None
        if kind == "O":
            return 8, True
        if kind in "biufc":
            return n, False
        if kind == "?":
            return 1, False
        if kind == "U":
            return (n or 0) * 4, False
        if kind in "SaV":
            return n or 0, False
        if kind in "Mm":
            return 8, False
        return None, False
    if isinstance(descr, list):
        total: int | None = 0
        has_obj = False
        for field in descr:
            if not isinstance(field, tuple) or len(field) not in (2, 3):
                return None, True
            size, obj = descr_info(field[1], depth + 1)
            has_obj = has_obj or obj
            count = 1
            if len(field) == 3:
                shp = field[2] if isinstance(field[2], tuple) else (field[2],)
                if not all(isinstance(x, int) and x >= 0 for x in shp):
                    return None, True
                count = math.prod(shp)
            total = None if size is None or total is None else total + size * count
        return total, has_obj
    return None, True


def scan(reader: Reader, ctx: ScanContext, offset: int = 0, end: int | None = None) -> None:
    """A .npy file (or a .npy embedded at ``offset``)."""
    stop = reader.size if end is None else end
    try:
        hdr = parse_header(reader, offset)
    except ValueError as exc:
        ctx.unscannable("numpy.header", f"malformed .npy header: {exc}", offset=offset)
        return
    itemsize, has_obj = descr_info(hdr.descr)
    if has_obj:
        # Object arrays are stored as a pickle after the header: walk it like any pickle.
        result = pickle_scanner.scan_stream(reader, ctx, hdr.data_offset, end=stop)
        if result.ok and result.end < stop:
            _trailing(ctx, stop - result.end, result.end)
        return
    if itemsize is None:
        ctx.unscannable("numpy.dtype", f"cannot size .npy dtype {str(hdr.descr)[:120]}", offset=offset)
        return
    expected = hdr.data_offset + itemsize * math.prod(hdr.shape)
    if stop < expected:
        ctx.unscannable("numpy.truncated", f".npy data truncated: {stop} < {expected} bytes", offset=stop)
    elif stop > expected:
        _trailing(ctx, stop - expected, expected)


def _trailing(ctx: ScanContext, n: int, offset: int) -> None:
    ctx.add(
        "numpy.trailing-data",
        Category.FORMAT_ABUSE,
        Severity.MEDIUM,
        Verdict.SUSPICIOUS,
        f"{n} bytes after the array data (np.load ignores them: hidden payload or polyglot)",
        offset=offset,
    )


def scan_npz(reader: Reader, ctx: ScanContext, archive: zipfmt.ZipArchive | None = None) -> None:
    """A .npz: every member; .npy members are scanned here, anything else goes through the router."""
    archive = archive or zipfmt.read_archive(reader, ctx)
    for entry in archive.members():
        ctx.check_time()
        child = ctx.child(entry.name)
        try:
            member = zipfmt.open_member(reader, entry, child)
        except zipfmt.ZipError as exc:
            child.unscannable("zip.member", f"cannot read member: {exc}")
            continue
        except LimitExceeded:
            raise
        head = member.read_at(0, 8)
        if head.startswith(MAGIC):
            scan(member, child)
        elif ctx.scan_nested is not None:
            ctx.scan_nested(member, entry.name, child)
        else:
            child.unscannable("format.unknown", "member of a .npz is not a .npy")
        zipfmt.check_member(member, entry, child)
