"""safetensors scanner: validates the header without ever reading tensor data.

Layout: ``u64 little-endian N`` + ``N`` bytes of UTF-8 JSON header + data section. The scanner
reads only the first 8 bytes and the header, and compares the declared offsets with the file size.

Rules (ids are stable):

* ``safetensors.header.length`` (unscannable) - N < 2 or a truncated header.
* ``safetensors.header.abuse`` (malicious, format-abuse) - N > ``Limits.max_header_bytes`` (the Rust
  loader's 100 MB ``MAX_HEADER_SIZE``) or N beyond the end of the file.
* ``safetensors.header.duplicate_key`` (malicious, format-abuse) - the header JSON repeats a key.
* ``safetensors.header.json`` (unscannable) - header is not strict UTF-8 JSON (duplicate keys,
  NaN, BOM, bad UTF-8) or not a JSON object; nothing downstream can be trusted.
* ``safetensors.header.metadata`` (suspicious, format-abuse) - ``__metadata__`` is not a str->str
  map (loaders reject it; a smuggling vector for parsers that don't).
* ``safetensors.tensor.invalid`` (suspicious, format-abuse) - a tensor entry lacks/garbles
  ``dtype``/``shape``/``data_offsets`` or uses an unknown dtype.
* ``safetensors.tensor.size_mismatch`` (suspicious) - ``end - begin != prod(shape) * itemsize``.
* ``safetensors.header.overlap`` (suspicious) - two tensors share bytes (aliasing: one write
  changes another tensor; also a classic parser-confusion trick).
* ``safetensors.header.gap`` (suspicious) - bytes between tensors that no tensor owns (hidden
  payload area), or data not starting at 0.
* ``safetensors.data.out_of_bounds`` (suspicious) - offsets point past the end of the file.
* ``safetensors.data.trailing`` (suspicious) - bytes after the last tensor (appended payload,
  e.g. a pickle or zip glued to the file).
"""

from __future__ import annotations

import math
import struct
from typing import Any

from .base import Category, Reader, ScanContext, Severity, Verdict
from .fmtcommon import DuplicateKeyError, FormatError, short, strict_json

FORMAT = "safetensors"

# dtype -> size in bits (sub-byte float formats included; the total must be whole bytes).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E4M3": 8,
    "F8_E5M2": 8,
    "F8_E8M0": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
MAX_DIMS = 64
MAX_REPORTED = 20  # per rule, so a hostile header cannot flood the report


def _abuse(ctx: ScanContext, rule: str, message: str, evidence: str = "", offset: int | None = None) -> None:
    ctx.add(rule, Category.FORMAT_ABUSE, Severity.MEDIUM, Verdict.SUSPICIOUS, message, evidence, offset=offset)


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def scan(reader: Reader, ctx: ScanContext) -> None:
    """Scan a safetensors file; see the module docstring for the rules."""
    size = reader.size
    head = reader.read_at(0, 8)
    if len(head) < 8:
        ctx.unscannable("safetensors.header.length", "file too short to be safetensors", f"{size} bytes")
        return
    (n,) = struct.unpack("<Q", head)
    if (n > ctx.limits.max_header_bytes or n > size - 8) and (
        all(0x20 <= b < 0x7F for b in head) or reader.read_at(8, 1) != b"{"
    ):
        ctx.unscannable(  # no header starts here (text, a pickle, a zip…): not safetensors, nothing to judge
            "safetensors.header.length",
            "not a safetensors file: no JSON header after the length field",
            short(reader.read_at(0, 16)),
            offset=0,
        )
        return
    if n > ctx.limits.max_header_bytes or n > size - 8:
        # The Rust loader refuses these (HeaderTooLarge / InvalidHeaderLength); parsers that trust the
        # length allocate it or read past the buffer. No writer produces them: crafted (or cut mid-header).
        ctx.add(
            "safetensors.header.abuse",
            Category.FORMAT_ABUSE,
            Severity.HIGH,
            Verdict.MALICIOUS,
            "header length field points beyond the file or past any sane header size",
            f"header length {n}, file size {size}, limit {ctx.limits.max_header_bytes}",
            offset=0,
        )
        return
    if n < 2:
        ctx.unscannable(
            "safetensors.header.length",
            "header length field is out of bounds: not a safetensors file, or truncated",
            f"header length {n}, file size {size}, limit {ctx.limits.max_header_bytes}",
            offset=0,
        )
        return
    raw = reader.read_at(8, n)
    if len(raw) != n:
        ctx.unscannable("safetensors.header.length", "header is truncated", f"read {len(raw)} of {n}", offset=8)
        return
    if raw[:1] != b"{":
        ctx.unscannable("safetensors.header.json", "header does not start with '{'", short(raw[:32]), offset=8)
        return
    try:
        header = strict_json(raw)
    except DuplicateKeyError as exc:
        # Python's json keeps the last value, other parsers the first or refuse: a scanner and a loader can
        # see different tensors (parser differential). No writer emits duplicate keys.
        ctx.add(
            "safetensors.header.duplicate_key",
            Category.FORMAT_ABUSE,
            Severity.HIGH,
            Verdict.MALICIOUS,
            "header names the same key twice (parser differential)",
            str(exc),
            offset=8,
        )
        return
    except FormatError as exc:
        ctx.unscannable("safetensors.header.json", "header is not strict JSON", str(exc), offset=8)
        return
    if not isinstance(header, dict):
        ctx.unscannable("safetensors.header.json", "header is not a JSON object", type(header).__name__, offset=8)
        return
    _check_header(header, data_size=size - 8 - n, data_start=8 + n, ctx=ctx)


def _check_header(header: dict[str, Any], data_size: int, data_start: int, ctx: ScanContext) -> None:
    meta = header.get("__metadata__")
    if "__metadata__" in header and not (
        isinstance(meta, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    ):
        _abuse(ctx, "safetensors.header.metadata", "__metadata__ must map strings to strings", short(meta))

    spans: list[tuple[int, int, str]] = []
    invalid = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        ctx.check_time()
        problem = _entry_problem(entry)
        if problem:
            invalid += 1
            if invalid <= MAX_REPORTED:
                _abuse(ctx, "safetensors.tensor.invalid", f"tensor {short(name, 80)}: {problem}", short(entry))
            continue
        begin, end = entry["data_offsets"]
        bits = DTYPE_BITS[entry["dtype"]] * math.prod(entry["shape"])
        if bits % 8 or end - begin != bits // 8:
            _abuse(
                ctx,
                "safetensors.tensor.size_mismatch",
                f"tensor {short(name, 80)}: byte span does not match dtype and shape",
                f"{entry['dtype']} {entry['shape']} needs {bits / 8:g} bytes, offsets give {end - begin}",
            )
        spans.append((begin, end, name))

    spans.sort()
    cursor = 0
    overlaps = gaps = 0
    for begin, end, name in spans:
        if begin < cursor:
            overlaps += 1
            if overlaps <= MAX_REPORTED:
                _abuse(
                    ctx,
                    "safetensors.header.overlap",
                    f"tensor {short(name, 80)} overlaps the previous tensor",
                    f"data_offsets [{begin}, {end}] start before {cursor}",
                    offset=data_start + begin,
                )
        elif begin > cursor:
            gaps += 1
            if gaps <= MAX_REPORTED:
                _abuse(
                    ctx,
                    "safetensors.header.gap",
                    "unreferenced bytes between tensors (hidden data area)",
                    f"{begin - cursor} bytes before {short(name, 80)} at data offset {cursor}",
                    offset=data_start + cursor,
                )
        cursor = max(cursor, end)

    if cursor > data_size:
        _abuse(
            ctx,
            "safetensors.data.out_of_bounds",
            "tensor offsets point past the end of the file (truncated or forged)",
            f"data section needs {cursor} bytes, file has {data_size}",
        )
    elif cursor < data_size:
        _abuse(
            ctx,
            "safetensors.data.trailing",
            "trailing bytes after the last tensor (appended payload)",
            f"{data_size - cursor} bytes at file offset {data_start + cursor}",
            offset=data_start + cursor,
        )


def _entry_problem(entry: Any) -> str:
    """Return why a tensor entry is malformed, or "" if it is well-formed."""
    if not isinstance(entry, dict):
        return "entry is not an object"
    extra = set(entry) - {"dtype", "shape", "data_offsets"}
    if extra:
        return f"unexpected keys {sorted(extra)}"
    dtype = entry.get("dtype")
    if dtype not in DTYPE_BITS:
        return f"unknown dtype {short(dtype, 40)}"
    shape = entry.get("shape")
    if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(_is_uint(d) for d in shape):
        return "shape must be a list of non-negative integers"
    offsets = entry.get("data_offsets")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_uint(o) for o in offsets)):
        return "data_offsets must be [begin, end] non-negative integers"
    if offsets[1] < offsets[0]:
        return "data_offsets end before begin"
    return ""
