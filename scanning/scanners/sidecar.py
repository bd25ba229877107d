"""Side files of a model that hold raw data: TF checkpoint shards and index, ONNX external data.

A SavedModel keeps its weights in ``variables/variables.data-00000-of-00001`` (raw tensor bytes,
read by ``RestoreV2`` at the offsets the index names) and ``variables/variables.index`` (a LevelDB
SSTable of ``BundleEntryProto`` per tensor; TF writes it uncompressed). An ONNX model saved with
``save_as_external_data`` keeps tensors in the file its ``location`` names (``model.onnx_data``,
``model.onnx.data``, one file per tensor for old exporters). None of these is deserialized as code.

The router sends a file here only when its CONTENT matched no other format (a pickle or zip named
``variables.data-…`` is still a pickle or zip, and the name mismatch is reported) and either its name
is one of the known side-file names, or (local scans) a sibling ``.onnx`` file references it.

Rules:

* ``tensorflow.checkpoint`` / ``onnx.external_data.file`` (info) - recognised side file.
* ``tensorflow.checkpoint.malformed`` (unscannable) - index footer/blocks unreadable.
* ``tensorflow.checkpoint.invalid`` (suspicious, format-abuse) - an entry names a shard beyond the
  header's shard count or an absurd offset/size (a restore would allocate it).
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

from . import protobuf as pb
from .base import BytesReader, Category, LimitExceeded, Reader, ScanContext, Severity, Verdict
from .fmtcommon import FormatError, short

FORMAT_TF_CHECKPOINT = "tensorflow-checkpoint"
FORMAT_ONNX_DATA = "onnx-external-data"

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER = 48
MAX_INDEX_ENTRIES = 1_000_000
ABSURD = 1 << 48

TF_SHARD = re.compile(r"\.data-\d{5}-of-\d{5}$")
ONNX_DATA = re.compile(r"(\.onnx[._-]?data|\.onnx\.weights?|\.onnx_weights?|_data\.bin)$|^onnx__", re.IGNORECASE)
MAX_SIBLINGS = 16


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def is_tf_shard_name(name: str) -> bool:
    return bool(TF_SHARD.search(_base(name)))


def is_onnx_data_name(name: str) -> bool:
    return bool(ONNX_DATA.search(_base(name)))


def is_tf_index(reader: Reader) -> bool:
    """LevelDB table footer magic (TF tensor-bundle index)."""
    if reader.size < FOOTER:
        return False
    tail = reader.read_at(reader.size - 8, 8)  # short when a compressed member lies about its size
    return len(tail) == 8 and struct.unpack("<Q", tail)[0] == TABLE_MAGIC


def referenced_by_sibling_onnx(path: str, ctx: ScanContext) -> bool:
    """Local scans: does a ``.onnx`` file in the same folder name ``path`` as external data?"""
    from . import onnx  # local import: onnx uses the protobuf reader only

    p = Path(path)
    try:
        siblings = sorted(x for x in p.parent.iterdir() if x.suffix.lower() == ".onnx" and x.is_file())
    except OSError:
        return False
    from .base import FileReader

    for model in siblings[:MAX_SIBLINGS]:
        ctx.check_time()
        try:
            with FileReader(model) as reader:
                locations = onnx.external_locations(reader, ctx)
        except (OSError, FormatError, LimitExceeded):
            continue
        for location in locations:
            if not onnx.location_escapes(location) and os.path.normpath(p.parent / location) == os.path.normpath(p):
                return True
    return False


def scan_onnx_data(reader: Reader, ctx: ScanContext) -> None:
    ctx.add(
        "onnx.external_data.file",
        Category.FILESYSTEM,
        Severity.INFO,
        Verdict.SAFE,
        "ONNX external tensor data (raw bytes read at the offsets the model names)",
        f"{reader.size} bytes",
    )


def scan_tf_checkpoint(reader: Reader, ctx: ScanContext) -> None:
    """A checkpoint data shard (raw bytes) or, by its footer magic, the bundle index."""
    if not is_tf_index(reader):
        ctx.add(
            "tensorflow.checkpoint",
            Category.FILESYSTEM,
            Severity.INFO,
            Verdict.SAFE,
            "TensorFlow checkpoint data shard (raw tensor bytes read by RestoreV2)",
            f"{reader.size} bytes",
        )
        return
    try:
        entries, shards = _walk_index(reader, ctx)
    except FormatError as exc:
        ctx.unscannable("tensorflow.checkpoint.malformed", "TensorFlow checkpoint index cannot be read", str(exc))
        return
    ctx.add(
        "tensorflow.checkpoint",
        Category.FILESYSTEM,
        Severity.INFO,
        Verdict.SAFE,
        f"TensorFlow checkpoint index: {entries} tensors in {shards} shard(s)",
    )


# --------------------------------------------------------------------------- LevelDB table (TF io/table)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise FormatError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise FormatError("varint too long")


def _block(reader: Reader, offset: int, size: int, ctx: ScanContext) -> bytes:
    if offset + size + 5 > reader.size - FOOTER or size > ctx.limits.max_header_bytes:
        raise FormatError(f"block at {offset}+{size} outside the index file ({reader.size} bytes)")
    data = reader.read_at(offset, size + 5)
    if data[size] != 0:
        raise FormatError(f"block at {offset} uses compression type {data[size]} (TF writes none)")
    return data[:size]


def _entries(block: bytes) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise FormatError("block too short")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * restarts
    if restarts == 0 or end < 0:
        raise FormatError("bad restart array")
    out: list[tuple[bytes, bytes]] = []
    key = b""
    pos = 0
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + vlen > end:
            raise FormatError(f"entry at {pos} overruns its block")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        out.append((key, block[pos : pos + vlen]))
        pos += vlen
        if len(out) > MAX_INDEX_ENTRIES:
            raise FormatError("too many entries")
    return out


def _proto(value: bytes) -> dict[int, int]:
    win = pb.Window(BytesReader(value))
    return {f.number: f.value for f in pb.fields(win, 0, len(value)) if f.wire == pb.VARINT}


def _walk_index(reader: Reader, ctx: ScanContext) -> tuple[int, int]:
    footer = reader.read_at(reader.size - FOOTER, FOOTER)
    _, pos = _varint(footer, 0)  # metaindex handle (unused by TF)
    _, pos = _varint(footer, pos)
    index_off, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    shards = 1
    tensors = 0
    bad = 0
    for _, handle in _entries(_block(reader, index_off, index_size, ctx)):
        ctx.check_time()
        off, hp = _varint(handle, 0)
        size, _ = _varint(handle, hp)
        for key, value in _entries(_block(reader, off, size, ctx)):
            fields = _proto(value)
            if key == b"":  # BundleHeaderProto
                shards = fields.get(1, 1) or 1
                continue
            tensors += 1
            shard, offset, nbytes = fields.get(3, 0), fields.get(4, 0), fields.get(5, 0)
            if shard >= shards or offset >= ABSURD or nbytes >= ABSURD:
                bad += 1
                if bad <= 10:
                    ctx.add(
                        "tensorflow.checkpoint.invalid",
                        Category.FORMAT_ABUSE,
                        Severity.MEDIUM,
                        Verdict.SUSPICIOUS,
                        "checkpoint entry names an impossible shard/offset/size",
                        f"{short(key.decode('utf-8', 'replace'), 100)}: shard {shard}/{shards}, "
                        f"offset {offset}, size {nbytes}",
                    )
    return tensors, shards
