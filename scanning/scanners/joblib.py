"""joblib files: a pickle with numpy array bytes interleaved after each ``NumpyArrayWrapper``.

``joblib.dump`` pickles a ``NumpyArrayWrapper`` (shape, dtype, order, alignment) for every array and
writes the array's raw bytes right after the wrapper's BUILD opcode (object arrays: a nested
protocol-2 pickle instead). The pickle walker calls :func:`skip_wrapped_array` on that BUILD so the
walk continues after the raw bytes. Since a plain ``pickle.load`` of the same file would parse those
bytes as opcodes, the skipped region is searched for GLOBAL/STACK_GLOBAL sequences naming denied
callables (``joblib.hidden-global``).

Compressed joblib files (``compress=``; zlib by default) are inflated as a stream.

API: ``FORMAT = "joblib"``, :func:`scan`, :func:`is_zlib`, :func:`skip_wrapped_array`.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from scanning.scanners import pickle as pickle_scanner
from scanning.scanners import zipfmt
from scanning.scanners.base import Category, Reader, ScanContext, Severity, Verdict
from scanning.scanners.numpy import descr_info
from scanning.scanners.pickle_ops import Call, Global, SDict, resolved
from scanning.scanners.pickle_rules import Decision, classify
from scanning.scanners.pickle_walker import _Walker

if TYPE_CHECKING:
    from scanning.scanners.pickle_semantics import _Semantics

FORMAT = "joblib"

_HIDDEN_GLOBAL = re.compile(rb"[ci]([A-Za-z_][\w.]{0,80})\n([A-Za-z_][\w.]{0,80})\n")
_HIDDEN_STACK_GLOBAL = re.compile(
    rb"[\x8cX]([\x01-\x50])(?:\x00\x00\x00)?([A-Za-z_][\w.]{0,79})(?:\x94|q.)?[\x8cX]([\x01-\x50])(?:\x00\x00\x00)?"
    rb"([A-Za-z_][\w.]{0,79})(?:\x94|q.)?\x93",
    re.DOTALL,
)


def is_zlib(head: bytes) -> bool:
    """zlib stream header (joblib's default compressor)."""
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0


def dtype_info(dtype: Any) -> tuple[int | None, bool | None]:
    """(itemsize, hasobject) of a symbolic ``numpy.dtype(...)`` call with its BUILD state."""
    dtype = resolved(dtype)
    if not isinstance(dtype, Call):
        return None, None
    func = resolved(dtype.func)
    if not (isinstance(func, Global) and func.name == "dtype" and func.module.startswith("numpy")):
        return None, None
    args = dtype.args if isinstance(dtype.args, tuple) else ()
    code = resolved(args[0]) if args else None
    if not isinstance(code, str):
        return None, None
    state = resolved(dtype.state)
    elsize = state[5] if isinstance(state, tuple) and len(state) > 7 and isinstance(state[5], int) else -1
    flags = state[7] if isinstance(state, tuple) and len(state) > 7 and isinstance(state[7], int) else 0
    itemsize, has_obj = descr_info(code if code[:1] in "<>|=" else "|" + code)
    if elsize > 0:
        itemsize = elsize
    return itemsize, bool(has_obj or flags & 1)


def skip_wrapped_array(walker: _Semantics, state: Any, pos: int) -> None:
    """Move the walker past the array data that follows a NumpyArrayWrapper's BUILD."""
    buf = walker.buf
    if not isinstance(state, SDict):
        raise pickle_scanner.PickleError("NumpyArrayWrapper without a state dict")
    shape = resolved(state.get("shape"))
    itemsize, has_obj = dtype_info(state.get("dtype"))
    if not (isinstance(shape, tuple) and all(isinstance(resolved(x), int) for x in shape)) or has_obj is None:
        raise pickle_scanner.PickleError("cannot size the array behind a joblib NumpyArrayWrapper")
    if has_obj:
        nested = _Walker(walker.reader, walker.ctx, buf.pos, buf.end, torchscript=False)
        result = nested.walk()
        if not result.ok:
            raise pickle_scanner.PickleError(f"object array pickle after NumpyArrayWrapper: {result.error}")
        buf.pos = result.end
        return
    if itemsize is None:
        raise pickle_scanner.PickleError("cannot size the dtype of a joblib NumpyArrayWrapper")
    _probe_as_pickle(walker, buf.pos)
    align = resolved(state.get("numpy_array_alignment_bytes"))
    if isinstance(align, int):
        pad = buf.read(1)[0]
        buf.skip(pad)
    nbytes = itemsize * math.prod(resolved(x) for x in shape)
    start = buf.pos
    buf.skip(nbytes)
    _search_hidden(walker, start, nbytes)


def _probe_as_pickle(walker: _Semantics, start: int) -> None:
    """What a plain ``pickle.load`` would do with the bytes joblib treats as array data.

    Random array bytes fail within a few opcodes; a crafted region parses on and may name callables.
    Only denied callables are reported (``joblib.hidden-global``): anything else would be noise.
    """
    probe_ctx = ScanContext(limits=walker.ctx.limits, deadline=walker.ctx.deadline)
    probe = _Walker(walker.reader, probe_ctx, start, walker.buf.end, torchscript=False, sniff=True)
    probe.walk()
    for f in probe_ctx.findings:
        if f.verdict is Verdict.MALICIOUS:
            walker.finding(
                "joblib.hidden-global",
                f.category,
                f.severity,
                Verdict.MALICIOUS,
                "bytes joblib reads as array data parse as pickle opcodes reaching a denied callable"
                " (runs when the file is opened with pickle.load)",
                f.evidence,
                f.offset,
            )


def _search_hidden(walker: _Semantics, start: int, length: int) -> None:
    chunk = 4 * 1024 * 1024
    overlap = 256
    pos = start
    end = start + length
    while pos < end:
        walker.ctx.check_time()
        data = walker.reader.read_at(pos, min(chunk + overlap, end - pos))
        if not data:
            break
        for m in _HIDDEN_GLOBAL.finditer(data):
            _hidden(walker, m.group(1), m.group(2), pos + m.start())
        if b"\x93" in data:
            for m in _HIDDEN_STACK_GLOBAL.finditer(data):
                if m.group(1)[0] == len(m.group(2)) and m.group(3)[0] == len(m.group(4)):
                    _hidden(walker, m.group(2), m.group(4), pos + m.start())
        pos += chunk


def _hidden(walker: _Semantics, module: bytes, name: bytes, offset: int) -> None:
    cls = classify(module.decode("ascii"), name.decode("ascii"))
    if cls.decision is Decision.DENY:
        walker.finding(
            "joblib.hidden-global",
            cls.category,
            cls.severity,
            Verdict.MALICIOUS,
            "array bytes after a joblib NumpyArrayWrapper contain a pickle GLOBAL of a denied callable"
            " (runs when the file is opened with pickle.load)",
            f"{module.decode()}.{name.decode()}",
            offset,
        )


def scan(reader: Reader, ctx: ScanContext) -> None:
    """A joblib file, plain or zlib-compressed."""
    head = reader.read_at(0, 4)
    if is_zlib(head):
        inner = zipfmt.InflateReader(reader, 0, reader.size, None, ctx, wbits=15)
        pickle_scanner.scan(inner, ctx)
        if inner.error:
            ctx.unscannable("joblib.zlib", f"compressed joblib stream is corrupt: {inner.error}")
        return
    if head[:2] == b"ZF":
        ctx.add(
            "joblib.legacy",
            Category.UNSCANNABLE,
            Severity.MEDIUM,
            Verdict.UNSCANNABLE,
            "legacy joblib (<0.10) compressed format is not supported",
        )
        return
    pickle_scanner.scan(reader, ctx)
