"""Scan router: detect a file's format by CONTENT (extension only as a hint) and dispatch.

Public API (re-exported by :mod:`scanning.scanners`):

* ``scan_file(path, *, limits=Limits()) -> ScanResult`` — local file; the SHA-256 of the whole file
  is computed in a background thread while the scan runs (8 MiB reads; hashlib releases the GIL).
* ``scan_reader(reader, path, *, limits=Limits(), sha256="") -> ScanResult`` — any Reader (HTTP
  range reader, bytes…); ``path`` is used for messages and as the extension hint.
* ``detect(reader, name) -> str`` — the format name this router would dispatch to.
* ``FORMATS`` — every format name a result can carry.

Every exception raised by a scanner becomes an ``unscannable`` finding (``scan.limit`` for
:class:`LimitExceeded`, ``zip.malformed`` for an unreadable zip, ``scan.error`` for anything else):
a malformed file is a finding, never a crash, and never ``safe``.

Archive members come back here through ``ctx.scan_nested(member_reader, name, ctx.child(name))``
(the caller creates the child context, which carries the member path and raises ``LimitExceeded``
past ``max_depth``); each member is routed by content like a top-level file and its exceptions are
contained to that member.

Detection order (content first): empty, zip (then PyTorch / TorchScript / .pt2 / Keras / .npz / generic
by member names), ``\x93NUMPY``, legacy PyTorch magic pickle, HDF5, GGUF, tar/gzip/bz2/xz/7z/rar
(a tar holding ``pickle``/``storages``/``tensors`` is legacy PyTorch), safetensors, pickle (binary
protocol header or protocol 0/1 opcodes that walk cleanly), zlib (compressed joblib), ONNX / TF
protobuf (extension hint + tag sanity), text (``.py`` -> python, ``.json`` -> json, else text),
unknown. The extension is then compared with the content (``format.mismatch``), and a file that also
ends like a zip archive is scanned both ways (``format.polyglot``).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import struct
import threading
import time
from collections.abc import Callable
from types import ModuleType

from scanning.scanners import index_json, sidecar, zipfmt
from scanning.scanners import joblib as joblib_scanner
from scanning.scanners import numpy as numpy_scanner
from scanning.scanners import pickle as pickle_scanner
from scanning.scanners import skops as skops_scanner
from scanning.scanners import torch as torch_scanner
from scanning.scanners.base import (
    BombDetected,
    Category,
    FileReader,
    LimitExceeded,
    Limits,
    NotRegularFile,
    Reader,
    ScanContext,
    ScanResult,
    Severity,
    Verdict,
    open_regular,
    verdict_of,
)
from scanning.scanners.keras import hdf5_offset as keras_hdf5_offset

FORMATS = (
    "pickle",
    "pytorch-zip",
    "pytorch-legacy",
    "torchscript",
    "numpy",
    "numpy-zip",
    "joblib",
    "zip",
    "tar",
    "gzip",
    "bz2",
    "xz",
    "7z",
    "rar",
    "zstd",
    "lz4",
    "hdf5",
    "keras",
    "skops",
    "safetensors",
    "gguf",
    "onnx",
    "onnx-external-data",
    "tensorflow-savedmodel",
    "tensorflow-checkpoint",
    "python",
    "json",
    "jinja",
    "text",
    "empty",
    "unknown",
)

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
HASH_CHUNK = 8 * 1024 * 1024
_HEAD = 4096

_PICKLE_LIKE = {"pickle", "joblib", "pytorch-zip", "torchscript", "pytorch-legacy"}
_ZIP_LIKE = {"zip", "pytorch-zip", "torchscript", "numpy-zip", "keras", "skops"}
# extension -> formats its content may have
EXPECTED: dict[str, set[str]] = {
    **{ext: _PICKLE_LIKE for ext in (".bin", ".pt", ".pth", ".ckpt", ".pt2")},
    # sklearn/joblib pickles are often saved compressed under their usual extension
    **{
        ext: _PICKLE_LIKE | {"gzip", "bz2", "xz", "zstd", "lz4"}
        for ext in (".pkl", ".pickle", ".joblib", ".dill", ".sav")
    },
    ".mar": _ZIP_LIKE,  # TorchServe archive: handler code + serialized model
    ".npy": {"numpy"},
    ".npz": {"numpy-zip", "zip"},
    ".safetensors": {"safetensors"},
    ".gguf": {"gguf"},
    ".onnx": {"onnx"},
    ".pb": {"tensorflow-savedmodel"},
    ".h5": {"hdf5", "keras"},
    ".hdf5": {"hdf5", "keras"},
    ".keras": {"keras", "hdf5"},
    ".skops": {"skops", "zip"},
    ".zip": _ZIP_LIKE,
    ".tar": {"tar"},
    ".gz": {"gzip"},
    ".tgz": {"gzip"},
    ".bz2": {"bz2"},
    ".xz": {"xz"},
    ".7z": {"7z"},
    ".zst": {"zstd"},
    ".lz4": {"lz4"},
    ".rar": {"rar"},
    ".json": {"json"},
    ".jinja": {"jinja"},
    ".py": {"python"},
    ".txt": {"text", "empty"},
    ".md": {"text", "empty"},
}
_PICKLE_EXTS = {".pkl", ".pickle", ".bin", ".pt", ".pth", ".ckpt", ".joblib", ".dill", ".sav"}
_TEXT_PYTHON = (".py",)
_TEXT_JSON = (".json",)
_TEXT_TEMPLATE = (".jinja", ".jinja2", ".j2")  # chat templates: same analysis as tokenizer_config's chat_template


def _ext(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return "." + base.rsplit(".", 1)[-1] if "." in base else ""


def _is_text(head: bytes) -> bool:
    """Printable text (UTF-8 or a legacy 8-bit encoding): no NUL, almost no control characters."""
    if not head or b"\x00" in head:
        return False
    controls = sum(1 for b in head if (b < 0x20 and b not in (9, 10, 12, 13)) or b == 0x7F)
    if controls > 0.02 * len(head):
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte char cut at the end of the sample
            return True
    high = sum(1 for b in head if b >= 0x80)
    return high <= 0.3 * len(head)


def _looks_safetensors(reader: Reader, head: bytes, ext: str = "") -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    if ext == ".safetensors" and head[8:9] == b"{" and n >= 2 and not _is_text(head[:8]):
        return True  # even with a length past the file: the safetensors scanner judges that (header.abuse)
    return 2 <= n <= reader.size - 8 and head[8:9] in (b"{", b" ")


def _looks_protobuf(head: bytes) -> bool:
    if not head:
        return False
    tag = head[0]
    return tag >> 3 >= 1 and tag & 7 in (0, 1, 2, 5)


def _zip_kind(reader: Reader, ctx: ScanContext | None) -> tuple[str, zipfmt.ZipArchive | None]:
    try:
        arc = zipfmt.read_archive(reader, ctx, report=False)
    except zipfmt.ZipError:
        return "zip", None
    names = arc.names()
    kind = torch_scanner.zip_kind(names)
    if kind:
        return kind, arc
    roots = {n for n in names if "/" not in n}
    if "config.json" in roots and ({"model.weights.h5", "metadata.json"} & roots):
        return "keras", arc
    if names and all(n.endswith(".npy") for n in names):
        return "numpy-zip", arc
    if skops_scanner.is_skops(names):
        return "skops", arc
    return "zip", arc


def detect(reader: Reader, name: str = "", ctx: ScanContext | None = None) -> str:
    """Format of ``reader`` by magic bytes; ``name``'s extension only breaks ties (ONNX/TF protobuf)."""
    return _detect(reader, name, ctx)[0]


def _detect(reader: Reader, name: str, ctx: ScanContext | None) -> tuple[str, zipfmt.ZipArchive | None]:
    if reader.size == 0:
        return "empty", None
    head = reader.read_at(0, _HEAD)
    ext = _ext(name)
    if zipfmt.is_zip(head):
        return _zip_kind(reader, ctx)
    if head.startswith(numpy_scanner.MAGIC):
        return "numpy", None
    if torch_scanner.is_legacy(head):
        return "pytorch-legacy", None
    if head.startswith(HDF5_MAGIC):
        return "hdf5", None
    if head[:4] == b"GGUF":
        return "gguf", None
    archive = _archive_kind(reader)
    if archive == "tar" and torch_scanner.is_legacy_tar(reader):
        return "pytorch-legacy", None
    if archive:
        return archive, None
    # before the pickle sniff: a safetensors header length can start with 0x80 0x0N like a PROTO opcode
    if _looks_safetensors(reader, head, ext):
        return "safetensors", None
    if pickle_scanner.looks_like_pickle(head, reader):
        if ext == ".joblib" or b"NumpyArrayWrapper" in head:
            return "joblib", None
        return "pickle", None
    zlib_hint = ext in _PICKLE_EXTS or head[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda")
    if joblib_scanner.is_zlib(head) and zlib_hint and not _is_text(head[:64]):
        return "joblib", None
    if ext == ".onnx" and _looks_protobuf(head):
        return "onnx", None
    if ext == ".pb" and _looks_protobuf(head):
        return "tensorflow-savedmodel", None
    if keras_hdf5_offset(reader) is not None:  # HDF5 behind a user block (libhdf5 searches 512, 1024, …)
        return "hdf5", None
    if sidecar.is_tf_index(reader) and (ext == ".index" or sidecar.is_tf_shard_name(name)):
        return sidecar.FORMAT_TF_CHECKPOINT, None
    if not _is_text(head) and _ends_like_zip(reader):
        # zipfile (Keras, numpy, torch's reader) accept data prepended to a zip: judge it as the zip it
        # is; zipfmt reports the prefix ("bytes of data before the first member", zip.mismatch).
        kind, arc = _zip_kind(reader, ctx)
        if arc is not None and arc.central:
            return kind, arc
    if not _is_text(head):
        if sidecar.is_tf_shard_name(name):
            return sidecar.FORMAT_TF_CHECKPOINT, None
        if sidecar.is_onnx_data_name(name) or (
            ctx is not None and ctx.local and ctx.depth == 0 and sidecar.referenced_by_sibling_onnx(ctx.path, ctx)
        ):
            return sidecar.FORMAT_ONNX_DATA, None
    if _is_text(head):
        if ext in _TEXT_PYTHON or (head.startswith(b"#!") and b"python" in head[:80]):
            return "python", None
        if ext in _TEXT_JSON:
            return "json", None
        if ext in _TEXT_TEMPLATE:
            return "jinja", None
        return "text", None
    return "unknown", None


def _archive_kind(reader: Reader) -> str | None:
    try:
        archives = importlib.import_module("scanning.scanners.archives")
    except ImportError:
        head = reader.read_at(0, 8)
        for magic, fmt in (
            (b"\x1f\x8b", "gzip"),
            (b"BZh", "bz2"),
            (b"\xfd7zXZ\x00", "xz"),
            (b"7z\xbc\xaf\x27\x1c", "7z"),
            (b"Rar!\x1a\x07", "rar"),
            (b"\x28\xb5\x2f\xfd", "zstd"),
            (b"\x04\x22\x4d\x18", "lz4"),
        ):
            if head.startswith(magic):
                return fmt
        return "tar" if reader.read_at(257, 5) == b"ustar" else None
    fmt = archives.detect(reader)
    return fmt if isinstance(fmt, str) else None


def _other(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"scanning.scanners.{module}")
    except ImportError:
        return None


def _dispatch(fmt: str, reader: Reader, ctx: ScanContext, archive: zipfmt.ZipArchive | None) -> None:
    if fmt == "pickle":
        pickle_scanner.scan(reader, ctx)
    elif fmt == "joblib":
        joblib_scanner.scan(reader, ctx)
    elif fmt in ("pytorch-zip", "torchscript"):
        torch_scanner.scan_zip(reader, ctx, archive)
    elif fmt == "pytorch-legacy":
        if torch_scanner.is_legacy(reader.read_at(0, 64)):
            torch_scanner.scan_legacy(reader, ctx)
        else:
            torch_scanner.scan_legacy_tar(reader, ctx)
    elif fmt == "numpy":
        numpy_scanner.scan(reader, ctx)
    elif fmt == "numpy-zip":
        numpy_scanner.scan_npz(reader, ctx, archive)
    elif fmt == "zip":
        zipfmt.scan(reader, ctx, archive)
    elif fmt in ("text", "empty"):
        return
    elif fmt == "json" and index_json.is_index_name(ctx.member or ctx.path):
        index_json.scan(reader, ctx)  # weight_map targets; then the generic JSON rules below
        _dispatch_module(fmt, reader, ctx)
    elif fmt == "unknown":
        head = reader.read_at(0, 16)
        ctx.unscannable("format.unknown", "unrecognised binary content (not a known model format)", repr(head))
    else:
        _dispatch_module(fmt, reader, ctx)


def _dispatch_module(fmt: str, reader: Reader, ctx: ScanContext) -> None:
    module_name, func_name = {
        "tar": ("archives", "scan"),
        "gzip": ("archives", "scan"),
        "bz2": ("archives", "scan"),
        "xz": ("archives", "scan"),
        "7z": ("archives", "scan"),
        "rar": ("archives", "scan"),
        "zstd": ("archives", "scan"),
        "lz4": ("archives", "scan"),
        "hdf5": ("keras", "scan"),
        "keras": ("keras", "scan"),
        "skops": ("skops", "scan"),
        "safetensors": ("safetensors", "scan"),
        "gguf": ("gguf", "scan"),
        "onnx": ("onnx", "scan"),
        "tensorflow-savedmodel": ("tensorflow", "scan"),
        "tensorflow-checkpoint": ("sidecar", "scan_tf_checkpoint"),
        "onnx-external-data": ("sidecar", "scan_onnx_data"),
        "python": ("remote_code", "scan_python"),
        "json": ("remote_code", "scan_json"),
        "jinja": ("jinja", "scan"),
    }[fmt]
    module = _other(module_name)
    func: Callable[[Reader, ScanContext], None] | None = None
    if module is not None:
        func = getattr(module, func_name, None) or getattr(module, "scan", None)
    if func is None:
        ctx.unscannable("scan.unsupported", f"no scanner available for format {fmt}", fmt)
        return
    func(reader, ctx)


def _check_extension(fmt: str, name: str, ctx: ScanContext) -> None:
    ext = _ext(name)
    expected = EXPECTED.get(ext)
    if fmt in (sidecar.FORMAT_TF_CHECKPOINT, sidecar.FORMAT_ONNX_DATA):
        return  # only assigned to content no other format claims
    if sidecar.is_tf_shard_name(name) or sidecar.is_onnx_data_name(name):
        ext, expected = "(raw tensor data file)", {"empty"}  # a pickle/zip/… named like raw weights
    if expected is None or fmt in expected or fmt == "empty":
        return
    ctx.add(
        "format.mismatch",
        Category.FORMAT_ABUSE,
        Severity.MEDIUM,
        Verdict.SUSPICIOUS,
        f"extension {ext} but the content is {fmt}",
        f"{ext} -> {fmt}",
    )


def _inside_tar(reader: Reader, pos: int) -> bool:
    archives = _other("archives")
    end = archives.tar_extent(reader) if archives is not None else None
    return end is not None and pos + 22 <= end


def _ends_like_zip(reader: Reader) -> bool:
    if reader.size < 22:
        return False
    tail_start = max(0, reader.size - 65557)
    return zipfmt.EOCD_SIG in reader.read_at(tail_start, reader.size - tail_start)


def _check_polyglot(fmt: str, reader: Reader, ctx: ScanContext) -> None:
    """A zip appended to another format (zipfile and torch read the end of the file)."""
    if fmt in _ZIP_LIKE or fmt == "empty" or reader.size < 22:
        return
    tail_start = max(0, reader.size - 65557)
    eocd = reader.read_at(tail_start, reader.size - tail_start).rfind(zipfmt.EOCD_SIG)
    if eocd < 0:
        return
    if fmt in ("tar", "pytorch-legacy") and _inside_tar(reader, tail_start + eocd):
        return  # the zip is a tar member (NeMo .nemo, tarred checkpoints): scanned as that member
    try:
        archive = zipfmt.read_archive(reader, ctx, report=False)
    except zipfmt.ZipError:
        return
    except LimitExceeded as exc:
        ctx.add(
            "format.polyglot",
            Category.FORMAT_ABUSE,
            Severity.HIGH,
            Verdict.SUSPICIOUS,
            f"{fmt} file ends like a zip archive that is too large to scan: {exc}",
        )
        return
    if not archive.central:
        return
    ctx.add(
        "format.polyglot",
        Category.FORMAT_ABUSE,
        Severity.HIGH,
        Verdict.SUSPICIOUS,
        f"{fmt} file is also a valid zip archive ({len(archive.central)} members): scanned both ways",
        ", ".join(e.name for e in archive.central[:5]),
    )
    kind, arc = _zip_kind(reader, ctx)
    _dispatch(kind, reader, ctx, arc)


def _route(reader: Reader, name: str, ctx: ScanContext) -> str:
    fmt, archive = _detect(reader, name, ctx)
    ctx.formats.append(fmt)
    _check_extension(fmt, name, ctx)
    if archive is not None and fmt in _ZIP_LIKE:
        zipfmt.report_problems(archive, ctx)  # the archive read for detection, not a second read
        zipfmt.check_bomb(archive, ctx)
        if fmt != "keras":  # the keras scanner checks its own member names
            zipfmt.check_names(archive, ctx)
    _dispatch(fmt, reader, ctx, archive)
    _check_polyglot(fmt, reader, ctx)
    return fmt


def _guarded(reader: Reader, name: str, ctx: ScanContext) -> str:
    try:
        return _route(reader, name, ctx)
    except BombDetected as exc:
        if ctx.depth > 0:
            raise  # a bomb condemns the whole top-level file: stop every enclosing archive walk at once
        ctx.add(
            "archive.bomb",
            Category.FORMAT_ABUSE,
            Severity.HIGH,
            Verdict.MALICIOUS,
            "decompression bomb: the file inflates far beyond what its size can honestly hold",
            str(exc)[:300],
        )
    except LimitExceeded as exc:
        ctx.unscannable("scan.limit", f"scan limit reached: {exc}", str(exc))
    except zipfmt.ZipError as exc:
        ctx.unscannable("zip.malformed", f"zip structure cannot be read: {exc}", str(exc)[:200])
    except RecursionError:
        ctx.unscannable("scan.error", "scanner recursion limit reached (deeply nested structure)")
    except Exception as exc:
        ctx.unscannable("scan.error", f"scanner failed: {type(exc).__name__}: {exc}"[:300], type(exc).__name__)
    return ctx.formats[-1] if ctx.formats else "unknown"


def _nested(reader: Reader, name: str, ctx: ScanContext) -> None:
    """``ctx.scan_nested``: route an archive member (``ctx`` is already the member's child context)."""
    _guarded(reader, name, ctx)


def _context(path: str, limits: Limits) -> ScanContext:
    return ScanContext(limits=limits, path=path, scan_nested=_nested)


def scan_reader(
    reader: Reader, path: str, *, limits: Limits | None = None, sha256: str = "", local: bool = False
) -> ScanResult:
    """Scan any Reader; ``path`` names it in findings and gives the extension hint.

    ``local``: ``path`` is a local file whose folder may be consulted (an ONNX model next to a data file).
    """
    started = time.monotonic()
    ctx = _context(str(path), limits or Limits())
    ctx.source_size = reader.size
    ctx.local = local
    fmt = _guarded(reader, str(path), ctx)
    top = ctx.formats[0] if ctx.formats else fmt
    return ScanResult(
        path=str(path),
        format=top,
        verdict=verdict_of(ctx.findings),
        sha256=sha256,
        size=reader.size,
        findings=list(ctx.findings),
        bytes_read=int(getattr(reader, "bytes_read", 0)),
        seconds=time.monotonic() - started,
    )


def _hash_file(path: str | os.PathLike[str], out: dict[str, str]) -> None:
    try:
        h = hashlib.sha256()
        buf = bytearray(HASH_CHUNK)
        view = memoryview(buf)
        with open_regular(path) as fh:
            while True:
                n = fh.readinto(buf)
                if not n:
                    break
                h.update(view[:n])
        out["sha256"] = h.hexdigest()
    except OSError as exc:
        out["error"] = str(exc)


def scan_file(path: str | os.PathLike[str], *, limits: Limits | None = None) -> ScanResult:
    """Scan a local file; SHA-256 is computed concurrently in a background thread."""
    digest: dict[str, str] = {}
    try:
        reader = FileReader(path)
    except NotRegularFile as exc:  # FIFO/socket/device: refused without opening (a read could block for ever)
        ctx = _context(str(path), limits or Limits())
        ctx.unscannable("file.not_regular", str(exc), str(path))
        return ScanResult(str(path), "unknown", verdict_of(ctx.findings), "", 0, list(ctx.findings))
    except OSError as exc:
        ctx = _context(str(path), limits or Limits())
        ctx.unscannable("scan.error", f"cannot open the file: {exc}", type(exc).__name__)
        return ScanResult(str(path), "unknown", verdict_of(ctx.findings), "", 0, list(ctx.findings))
    hasher = threading.Thread(target=_hash_file, args=(path, digest), name="modelgate-sha256", daemon=True)
    hasher.start()
    try:
        with reader:
            result = scan_reader(reader, str(path), limits=limits, local=True)
    finally:
        hasher.join()
    result.sha256 = digest.get("sha256", "")
    if "error" in digest:
        result.findings.append(
            ScanContext(path=str(path)).unscannable("scan.error", f"could not hash the file: {digest['error']}")
        )
        result.verdict = verdict_of(result.findings)
    return result
