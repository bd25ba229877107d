"""GGUF scanner (llama.cpp format, versions 1-3).

Layout: ``b"GGUF"``, ``u32 version``, tensor count, metadata KV count (u32 in v1, u64 since v2),
then the KVs (key string, u32 type, value), the tensor infos (name, n_dims, dims, ggml type,
offset), padding to ``general.alignment`` and the tensor data. The scanner walks header, KVs and
tensor infos through a bounded cursor and checks offsets against the file size; tensor data is
never read.

Rules:

* ``gguf.header.magic``/``gguf.header.version`` (unscannable) - not GGUF, or unknown version.
* ``gguf.header.malformed`` (unscannable) - truncated header, unknown value types; the metadata
  cannot be fully inspected.
* ``gguf.header.abuse`` (malicious, format-abuse) - counts/lengths/dims no writer produces: more than
  a million tensors or KVs, strings or arrays of 4 Gi+ entries, more than 8 dims, dims whose product
  overflows (the integer-overflow / allocation triggers of the 2024 GGUF advisories, TALOS-2024-1912..1916).
* ``gguf.metadata.duplicate_key`` (suspicious, format-abuse) - two KVs with one key: readers
  disagree about which one wins (the scanner could analyse one template, the loader use another).
* ``gguf.tensor.invalid`` (suspicious) - unknown ggml type, misaligned offset, duplicate tensor name.
* ``gguf.tensor.overlap`` (suspicious) - two tensors share bytes.
* ``gguf.data.out_of_bounds`` (suspicious) - tensor data past the end of the file (truncated/forged).
* ``gguf.chat_template.*`` - ``tokenizer.chat_template`` and ``tokenizer.chat_template.<name>``
  strings go through :mod:`scanning.scanners.jinja` (SSTI -> malicious code-execution,
  CVE-2024-34359).
"""

from __future__ import annotations

import math
import struct

from . import jinja
from .base import Category, Reader, ScanContext, Severity, Verdict
from .fmtcommon import Cursor, FormatAbuse, FormatError, short

FORMAT = "gguf"

MAGIC = b"GGUF"
MAX_KV = 1_000_000
MAX_TENSORS = 1_000_000
MAX_ARRAY = 50_000_000
MAX_DIMS = 8  # GGML_MAX_DIMS is 4; a little slack for future versions
MAX_KEY = 65_536
ABSURD_LENGTH = 1 << 32  # no GGUF string/array is 4 Gi long: such values are integer-overflow triggers

# type id -> (struct format, size) for fixed-size scalars
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("<B", 1),
    1: ("<b", 1),
    2: ("<H", 2),
    3: ("<h", 2),
    4: ("<I", 4),
    5: ("<i", 4),
    6: ("<f", 4),
    7: ("<?", 1),
    10: ("<Q", 8),
    11: ("<q", 8),
    12: ("<d", 8),
}
T_STRING = 8
T_ARRAY = 9

# ggml type id -> (block size in elements, bytes per block)
GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 40),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    16: (256, 66),  # IQ2_XXS
    17: (256, 74),  # IQ2_XS
    18: (256, 98),  # IQ3_XXS
    19: (256, 50),  # IQ1_S
    20: (32, 18),  # IQ4_NL
    21: (256, 110),  # IQ3_S
    22: (256, 82),  # IQ2_S
    23: (256, 136),  # IQ4_XS
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    29: (256, 56),  # IQ1_M
    30: (1, 2),  # BF16
    34: (256, 54),  # TQ1_0
    35: (256, 66),  # TQ2_0
    39: (32, 17),  # MXFP4
    40: (64, 36),  # NVFP4
    41: (128, 18),  # Q1_0
}

TEMPLATE_KEY = "tokenizer.chat_template"


class _GGUF:
    def __init__(self, reader: Reader, ctx: ScanContext, version: int) -> None:
        self.cur = Cursor(reader, 8)
        self.ctx = ctx
        self.version = version
        self.meta_budget = ctx.limits.max_header_bytes

    def count(self) -> int:
        return self.cur.u32() if self.version == 1 else self.cur.u64()

    def string(self, keep: int) -> tuple[str | None, int]:
        """Read a GGUF string; return its text if shorter than ``keep`` else ``None`` (skipped)."""
        at = self.cur.pos
        n = self.count()
        if n > self.cur.remaining():
            if n >= ABSURD_LENGTH:
                raise FormatAbuse(f"string length {n} at offset {at} (file has {self.cur.end} bytes)")
            raise FormatError(f"string length {n} at offset {at} runs past the end of the file")
        if n > keep:
            self.cur.skip(n)
            return None, n
        raw = self.cur.read(n)
        try:
            return raw.decode("utf-8"), n
        except UnicodeDecodeError:
            raise FormatError(f"string at offset {at} is not valid UTF-8") from None

    def skip_strings(self, n: int) -> None:
        """Skip ``n`` length-prefixed strings (token vocabularies: 100k+ entries) in 1 MiB batches."""
        cur = self.cur
        fmt, width = ("<I", 4) if self.version == 1 else ("<Q", 8)
        unpack = struct.Struct(fmt).unpack_from
        done = 0
        while done < n:
            self.ctx.check_time()
            start = cur.pos
            buf = cur.reader.read_at(start, min(1024 * 1024, cur.end - start))
            rel = 0
            while done < n and rel + width <= len(buf):
                (length,) = unpack(buf, rel)
                if start + rel + width + length > cur.end:
                    raise FormatError(f"string length {length} at offset {start + rel} runs past the end of the file")
                nxt = rel + width + length
                if nxt > len(buf):  # string continues past this batch: jump over it by offset
                    rel = nxt
                    done += 1
                    break
                rel = nxt
                done += 1
            if rel == 0:
                raise FormatError(f"truncated string array at offset {start}")
            cur.pos = start + rel

    def value(self, vtype: int, keep: int) -> object:
        if vtype in _SCALARS:
            fmt, size = _SCALARS[vtype]
            return struct.unpack(fmt, self.cur.read(size))[0]
        if vtype == T_STRING:
            text, _ = self.string(keep)
            return text
        if vtype == T_ARRAY:
            at = self.cur.pos
            etype = self.cur.u32()
            n = self.count()
            if n > MAX_ARRAY:  # the largest real vocabularies hold ~260k tokens
                raise FormatAbuse(f"array of {n} elements of type {etype} at offset {at} ({self.cur.end}-byte file)")
            if etype in _SCALARS:
                self.cur.skip(n * _SCALARS[etype][1])
            elif etype == T_STRING:
                self.skip_strings(n)
            else:
                raise FormatError(f"unsupported array element type {etype}")
            return None
        raise FormatError(f"unknown metadata value type {vtype}")


def scan(reader: Reader, ctx: ScanContext) -> None:
    """Scan a GGUF file; see the module docstring for the rules."""
    head = reader.read_at(0, 8)
    if head[:4] != MAGIC:
        ctx.unscannable("gguf.header.magic", "file does not start with the GGUF magic", short(head[:4]), offset=0)
        return
    if len(head) < 8:
        ctx.unscannable("gguf.header.malformed", "GGUF header truncated", f"{reader.size} bytes")
        return
    (version,) = struct.unpack("<I", head[4:8])
    if version not in (1, 2, 3):
        ctx.unscannable("gguf.header.version", "unsupported GGUF version", str(version), offset=4)
        return
    g = _GGUF(reader, ctx, version)
    try:
        _walk(g, reader, ctx)
    except FormatAbuse as exc:
        ctx.add(
            "gguf.header.abuse",
            Category.FORMAT_ABUSE,
            Severity.HIGH,
            Verdict.MALICIOUS,
            "GGUF header declares counts/lengths no writer produces (loader overflow/exhaustion)",
            str(exc),
            offset=g.cur.pos,
        )
    except FormatError as exc:
        ctx.unscannable("gguf.header.malformed", "GGUF header or metadata is malformed", str(exc), offset=g.cur.pos)


def _walk(g: _GGUF, reader: Reader, ctx: ScanContext) -> None:
    n_tensors = g.count()
    n_kv = g.count()
    if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
        # llama.cpp sizes vectors from these counts (TALOS-2024-1915/1916 class): no model has a million
        raise FormatAbuse(f"{n_tensors} tensors / {n_kv} metadata entries declared in a {reader.size}-byte file")
    keys: set[str] = set()
    alignment = 32
    templates: list[tuple[str, str, int]] = []
    for _ in range(n_kv):
        ctx.check_time()
        at = g.cur.pos
        key, _n = g.string(MAX_KEY)
        if key is None:
            raise FormatError(f"metadata key at offset {at} longer than {MAX_KEY} bytes")
        vtype = g.cur.u32()
        is_template = key == TEMPLATE_KEY or key.startswith(TEMPLATE_KEY + ".")
        value = g.value(vtype, ctx.limits.max_text_bytes if is_template else 4096)
        if key in keys:
            ctx.add(
                "gguf.metadata.duplicate_key",
                Category.FORMAT_ABUSE,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                "metadata key appears twice; loaders may pick either value",
                short(key, 100),
                offset=at,
            )
        keys.add(key)
        if key == "general.alignment":
            if vtype != 4 or not isinstance(value, int) or value == 0 or value & (value - 1):
                raise FormatError(f"general.alignment must be a power-of-two uint32, got {short(value)}")
            alignment = value
        if is_template:
            if vtype != T_STRING:
                ctx.add(
                    "gguf.chat_template.type",
                    Category.FORMAT_ABUSE,
                    Severity.MEDIUM,
                    Verdict.SUSPICIOUS,
                    "chat template metadata is not a string",
                    key,
                    offset=at,
                )
            elif value is None:
                ctx.unscannable("gguf.chat_template.too_large", "chat template larger than the text limit", key)
            else:
                templates.append((key, str(value), at))

    for key, template, at in templates:
        jinja.report(ctx, template, f"GGUF {key}", offset=at)

    spans: list[tuple[int, int, str]] = []
    names: set[str] = set()
    for _ in range(n_tensors):
        ctx.check_time()
        at = g.cur.pos
        name, _n = g.string(MAX_KEY)
        if name is None:
            raise FormatError(f"tensor name at offset {at} too long")
        n_dims = g.cur.u32()
        if n_dims > MAX_DIMS:
            raise FormatAbuse(f"tensor {short(name, 80)} has {n_dims} dimensions (GGML_MAX_DIMS is 4)")
        dims = [g.cur.u32() if g.version == 1 else g.cur.u64() for _ in range(n_dims)]
        if any(d >= 1 << 62 for d in dims) or math.prod(dims) >= 1 << 62:
            raise FormatAbuse(f"tensor {short(name, 80)} dims {dims} overflow 64-bit element counts")
        ttype = g.cur.u32()
        offset = g.cur.u64()
        if name in names:
            _tensor_issue(ctx, "gguf.tensor.invalid", f"duplicate tensor name {short(name, 80)}", at)
        names.add(name)
        if ttype not in GGML_TYPES:
            _tensor_issue(ctx, "gguf.tensor.invalid", f"tensor {short(name, 80)} has unknown ggml type {ttype}", at)
            continue
        if offset % alignment:
            _tensor_issue(ctx, "gguf.tensor.invalid", f"tensor {short(name, 80)} offset {offset} is misaligned", at)
        elems = 1
        for d in dims:
            elems *= d
        block, block_bytes = GGML_TYPES[ttype]
        if elems % block:
            _tensor_issue(ctx, "gguf.tensor.invalid", f"tensor {short(name, 80)} size not a multiple of its block", at)
            continue
        spans.append((offset, offset + elems // block * block_bytes, name))

    data_start = -(-g.cur.pos // alignment) * alignment
    spans.sort()
    end_of_data = 0
    for begin, end, name in spans:
        if begin < end_of_data:
            _tensor_issue(ctx, "gguf.tensor.overlap", f"tensor {short(name, 80)} overlaps another tensor", None)
        end_of_data = max(end_of_data, end)
    if spans and data_start + end_of_data > reader.size:
        ctx.add(
            "gguf.data.out_of_bounds",
            Category.FORMAT_ABUSE,
            Severity.MEDIUM,
            Verdict.SUSPICIOUS,
            "tensor data runs past the end of the file (truncated or forged)",
            f"needs {data_start + end_of_data} bytes, file has {reader.size}",
        )
    elif not spans and n_tensors == 0 and g.cur.pos < reader.size and reader.size - data_start > 0:
        ctx.add(
            "gguf.data.trailing",
            Category.FORMAT_ABUSE,
            Severity.LOW,
            Verdict.SUSPICIOUS,
            "bytes after the header of a GGUF file without tensors",
            f"{reader.size - g.cur.pos} bytes",
            offset=g.cur.pos,
        )


def _tensor_issue(ctx: ScanContext, rule: str, message: str, offset: int | None) -> None:
    ctx.add(rule, Category.FORMAT_ABUSE, Severity.MEDIUM, Verdict.SUSPICIOUS, message, offset=offset)
