"""PyTorch checkpoints: zip archives (torch.save >= 1.6), TorchScript archives, and the legacy format.

* ``pytorch-zip``: every member that is (or looks like) a pickle is walked, not only ``data.pkl``;
  raw storages (``*/data/<n>``) and the small version files are not parsed; anything else goes
  through the router (``ctx.scan_nested``).
* ``torchscript``: same, with ``__torch__.*`` class names and ``torch.jit._pickle`` helpers
  allowed (the C++ loader resolves them against the archive's own compiled types). The ``code/``
  sources are parsed (:mod:`ast`) and the operators they call judged: host file I/O
  (``torch.from_file``, ``torch.save``, ``ops.image.read_file`` …) is ``torchscript.file-io``
  (malicious, with the line); other custom operator / ``torch.classes`` namespaces and sensitive
  host paths (``/etc/passwd``, ``~/.ssh``) are suspicious. A lite-interpreter ``bytecode.pkl``
  (what the mobile runtime actually runs) has its operator table and constants judged the same way.
* ``pytorch-legacy``: ``_use_new_zipfile_serialization=False`` files: five concatenated pickles
  (magic number, protocol, sys info, the object, storage keys) followed by raw storages.

Nothing is loaded: see :mod:`scanning.scanners.pickle`.
"""

from __future__ import annotations

import ast
import pickletools
import re
import struct
from collections.abc import Iterator

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
            if torchscript and entry.name.rsplit("/", 1)[-1] == "bytecode.pkl":
                _check_ts_bytecode(member, child)
        elif torchscript and entry.name.endswith(".py") and "/code/" in f"/{entry.name}":
            _check_ts_code(member, child)
        elif ctx.scan_nested is not None:
            ctx.scan_nested(member, entry.name, child)
        else:
            child.unscannable("format.unknown", "unrecognised member of a PyTorch archive")
        zipfmt.check_member(member, entry, child)


def _check_ts_code(member: Reader, ctx: ScanContext) -> None:
    """TorchScript sources are compiled by torch, not exec'd: judge the operators they call.

    The serialized code is Python syntax (a subset), so it is parsed with :mod:`ast` and every
    ``torch.*`` / ``ops.<ns>.*`` / ``torch.classes.<ns>.*`` reference is resolved to an operator:
    host file I/O (``aten::from_file``, ``aten::save``, torchvision's ``image::read_file`` …) is
    malicious with the line as evidence; other custom namespaces (native code from a loaded library)
    are suspicious; string literals naming credentials or system files are suspicious on their own.
    """
    limit = ctx.limits.max_text_bytes
    if member.size > limit:
        ctx.unscannable("torchscript.code-size", f"TorchScript source larger than {limit} bytes")
        return
    raw = member.read_at(0, member.size)
    text = raw.decode("utf-8", "replace")
    lines = text.splitlines()
    line_offsets = [0]
    for line in raw.splitlines(keepends=True):
        line_offsets.append(line_offsets[-1] + len(line))
    try:
        refs = list(_ts_references(ast.parse(text)))
    except (SyntaxError, ValueError, RecursionError):
        refs = list(_ts_references_regex(text))

    def where(lineno: int) -> tuple[str, int | None]:
        if 1 <= lineno <= len(lines):
            return lines[lineno - 1].strip()[:300], line_offsets[lineno - 1]
        return "", None

    reported_custom = False
    for kind, dotted, lineno in refs:
        evidence, offset = where(lineno)
        if kind == "path":
            ctx.add(
                "torchscript.sensitive-path",
                Category.FILESYSTEM,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                f"TorchScript code names a sensitive host path {dotted!r}",
                evidence or dotted,
                offset=offset,
            )
            continue
        op = _ts_operator(dotted)
        if op is None:
            continue
        ns, name = op
        access = _TS_FILE_OPS.get((ns, name))
        if access is not None:
            ctx.add(
                "torchscript.file-io",
                Category.FILESYSTEM,
                Severity.HIGH,
                Verdict.MALICIOUS,
                f"TorchScript code {access} host files through {ns}::{name} when the model runs",
                evidence or dotted,
                offset=offset,
            )
        elif ns not in (_TS_CLASS_NAMESPACES if kind == "class" else _TS_OP_NAMESPACES) and not reported_custom:
            reported_custom = True
            what = "custom class" if kind == "class" else "custom operator"
            ctx.add(
                "torchscript.custom-op",
                Category.CODE_EXECUTION,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                f"TorchScript uses {what} namespace {ns!r} (native code from a loaded library)",
                evidence or dotted,
                offset=offset,
            )


_OPERATOR_NAME = re.compile(r"^([A-Za-z_]\w*)::([A-Za-z_]\w*)(?:\.\w+)?$")


def _check_ts_bytecode(member: Reader, ctx: ScanContext) -> None:
    """Lite-interpreter (mobile) bytecode: ``bytecode.pkl`` lists the operators the runtime calls.

    The mobile runtime executes this table, not ``code/``, so a benign-looking ``code/`` proves nothing: the
    operator names (``'aten::from_file'``) and string constants are judged like the source. The member has
    already been walked as a pickle; here its opcodes are only listed (:mod:`pickletools`), never executed.
    """
    if member.size > ctx.limits.max_text_bytes:
        return  # already walked by the pickle scanner; a bytecode table this large is not listed
    strings: list[tuple[str, int]] = []
    try:
        for _op, arg, pos in pickletools.genops(member.read_at(0, member.size)):
            if isinstance(arg, str):
                strings.append((arg, pos or 0))
    except (ValueError, EOFError, struct.error, UnicodeDecodeError):
        pass  # the pickle scanner reports a malformed stream; the strings read so far still count
    reported_custom = False
    for text, pos in strings:
        m = _OPERATOR_NAME.match(text)
        if m is None:
            if _SENSITIVE_PATH.search(text):
                ctx.add(
                    "torchscript.sensitive-path",
                    Category.FILESYSTEM,
                    Severity.MEDIUM,
                    Verdict.SUSPICIOUS,
                    f"TorchScript bytecode constant names a sensitive host path {text[:200]!r}",
                    text[:300],
                    offset=pos,
                )
            continue
        ns, name = m.group(1), m.group(2)
        access = _TS_FILE_OPS.get((ns, name))
        if access is not None:
            ctx.add(
                "torchscript.file-io",
                Category.FILESYSTEM,
                Severity.HIGH,
                Verdict.MALICIOUS,
                f"TorchScript bytecode {access} host files through {ns}::{name} when the model runs",
                text,
                offset=pos,
            )
        elif ns not in _TS_OP_NAMESPACES and ns not in ("__torch__", "torch") and not reported_custom:
            reported_custom = True
            ctx.add(
                "torchscript.custom-op",
                Category.CODE_EXECUTION,
                Severity.MEDIUM,
                Verdict.SUSPICIOUS,
                f"TorchScript bytecode calls custom operator namespace {ns!r} (native code from a loaded library)",
                text,
                offset=pos,
            )


# Operators that read or write host files when a scripted model runs: (namespace, name) -> verb.
# aten::load does not exist (torch.load cannot be scripted) but a hand-written archive may name it.
_TS_FILE_OPS: dict[tuple[str, str], str] = {
    ("aten", "from_file"): "reads",
    ("aten", "save"): "writes",
    ("aten", "load"): "reads",
    ("jit", "load"): "reads",
    ("jit", "save"): "writes",
    ("debugprims", "load_tensor"): "reads",
    ("image", "read_file"): "reads",  # torchvision.io.read_file
    ("image", "write_file"): "writes",  # torchvision.io.write_file
    ("torchaudio", "sox_io_load_audio_file"): "reads",
    ("torchaudio", "sox_io_save_audio_file"): "writes",
    ("torchaudio", "sox_io_get_info"): "reads",
    ("torchaudio", "ffmpeg_load"): "reads",
    ("torchtext", "_load_vocab_from_file"): "reads",
    ("torchtext", "_load_token_and_vectors_from_file"): "reads",
}
_TS_CLASS_NAMESPACES = _TS_OP_NAMESPACES | {"sparse"}
_SENSITIVE_PATH = re.compile(
    r"(?:^|[\s'\"=:])(?:/etc/(?:passwd|shadow|sudoers|crontab|cron\.d|hosts|ssh)|/proc/self/|/root/|/var/spool/cron)"
    r"|(?:~|\$HOME|/home/[^/]+)/\.(?:ssh|aws|kube|docker|gnupg|netrc|bashrc|profile|git-credentials|config/gcloud)"
    r"|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|\.aws/credentials|\.git-credentials|authorized_keys"
)


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _ts_references(tree: ast.AST) -> Iterator[tuple[str, str, int]]:
    """(kind, dotted name or path, line): outermost attribute chains rooted at torch/ops, and path strings."""
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if id(node) in inner:
                continue
            cur: ast.expr = node.value
            while isinstance(cur, ast.Attribute):
                inner.add(id(cur))
                cur = cur.value
            dotted = _dotted(node)
            if dotted is None:
                continue
            kind = "class" if ".classes." in f".{dotted}." else "op"
            yield kind, dotted, node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _SENSITIVE_PATH.search(node.value):
            yield "path", node.value[:200], node.lineno


def _ts_references_regex(text: str) -> Iterator[tuple[str, str, int]]:
    """Fallback for sources :mod:`ast` rejects: dotted names (whitespace around dots tolerated)."""
    for m in re.finditer(r"\b(?:__torch__\s*\.\s*)?(?:torch|ops)(?:\s*\.\s*[A-Za-z_]\w*)+", text):
        dotted = re.sub(r"\s+", "", m.group(0))
        kind = "class" if ".classes." in f".{dotted}." else "op"
        yield kind, dotted, text.count("\n", 0, m.start()) + 1
    for m in _SENSITIVE_PATH.finditer(text):
        yield "path", m.group(0).strip(" '\"=:"), text.count("\n", 0, m.start()) + 1


def _ts_operator(dotted: str) -> tuple[str, str] | None:
    """(namespace, name) a TorchScript reference resolves to, or None when it is not an operator/class.

    ``torch.from_file`` and ``torch.ops.aten.from_file`` / ``ops.aten.from_file`` are both aten::from_file;
    ``torch.classes.ns.C`` and ``__torch__.torch.classes.ns.C`` name custom class namespace ``ns``.
    """
    parts = dotted.split(".")
    if parts[0] == "__torch__":
        parts = parts[1:]
        if parts[:2] != ["torch", "classes"]:
            return None  # the archive's own compiled types
    if not parts:
        return None
    if parts[0] == "torch":
        parts = parts[1:]
    elif parts[0] != "ops":
        return None
    if len(parts) >= 3 and parts[0] in ("ops", "classes"):
        return parts[1], parts[2]
    if len(parts) == 2 and parts[0] == "jit":
        return "jit", parts[1]
    if parts and parts[0] not in ("ops", "classes"):
        return "aten", parts[-1]
    return None


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
