"""HDF5 metadata read in a separate, killable process.

libhdf5 is C code: a crafted file can make it loop for ever or crash (fuzzing found mutated Keras
``.h5`` files on which reading one attribute never returns). Neither ``ScanContext.check_time`` nor a
``try`` can stop that in-process, so ``h5py`` runs in a child process:

* the child never sees the file: its file object forwards ``read(pos, n)`` requests over a pipe and
  the parent answers from the :class:`~scanning.scanners.base.Reader` (memory stays bounded, remote
  readers work);
* the parent enforces the scan deadline and kills the child when it is exceeded (``LimitExceeded``)
  or when the child dies (``FormatError``: the file crashed the HDF5 library);
* the child's address space is capped (``RLIMIT_AS``) so a forged length cannot exhaust memory;
* results come back as JSON (never pickle): a compromised child cannot attack the parent through
  deserialisation.

``read_metadata(h5py, fileobj)`` is the actual reader, also usable in-process.
"""

from __future__ import annotations

import base64
import io
import json
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from typing import Any

from .base import LimitExceeded, Reader, ScanContext
from .fmtcommon import FormatError

MAX_READ = 16 * 1024 * 1024
MAX_ATTR_BYTES = 64 * 1024 * 1024
MAX_RESULT = 4 * MAX_ATTR_BYTES
MAX_LINKS = 10_000
CHILD_ADDRESS_SPACE = 8 * 1024**3
KEEP_ATTRS = ("model_config", "training_config", "keras_version", "backend")


class _PipeStream(io.RawIOBase):
    """File object whose reads are served by the parent process."""

    def __init__(self, conn: Connection, size: int) -> None:
        self._conn = conn
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos}.get(whence, self._size)
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), MAX_READ)
        self._conn.send_bytes(json.dumps(["read", self._pos, n]).encode())
        data = self._conn.recv_bytes()
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _attrs(manager: Any) -> tuple[dict[str, str], str]:
    """Keras string attributes (base64) and the name of an oversized one ("" if none)."""
    out: dict[str, str] = {}
    for name in list(manager.keys())[:256]:
        if name not in KEEP_ATTRS:
            continue
        if manager.get_id(name).get_storage_size() > MAX_ATTR_BYTES:
            return out, name
        value = manager[name]
        if isinstance(value, str):
            raw = value.encode("utf-8", "surrogatepass")
        elif isinstance(value, bytes):
            raw = value
        elif hasattr(value, "tobytes") and getattr(value, "dtype", None) is not None and value.dtype.kind in "SU":
            raw = value.tobytes()
        else:
            continue
        if len(raw) > MAX_ATTR_BYTES:
            return out, name
        out[name] = base64.b64encode(raw).decode("ascii")
    return out, ""


def _links(h5py: Any, group: Any, where: str) -> tuple[list[list[str]], dict[str, str]]:
    """External links of a group (never followed) and the kind of every member link."""
    external: list[list[str]] = []
    kinds: dict[str, str] = {}
    for i, name in enumerate(group.keys()):
        if i >= MAX_LINKS:
            break
        link = group.get(name, getlink=True)
        kinds[name] = type(link).__name__
        if isinstance(link, h5py.ExternalLink):
            external.append([where + name, str(link.filename), str(link.path)])
    return external, kinds


def read_metadata(h5py: Any, fileobj: Any) -> dict[str, Any]:
    """Root and ``model_weights`` Keras attributes plus external links, as JSON-able data."""
    with h5py.File(fileobj, "r") as h5:
        attrs, oversized = _attrs(h5.attrs)
        external, kinds = _links(h5py, h5, "/")
        if not oversized and kinds.get("model_weights") == "HardLink":
            group = h5["model_weights"]
            if isinstance(group, h5py.Group):
                more, oversized = _attrs(group.attrs)
                for key, value in more.items():
                    attrs.setdefault(key, value)
                ext2, _ = _links(h5py, group, "/model_weights/")
                external.extend(ext2)
    return {"attrs": attrs, "oversized": oversized, "external": external}


def _child(conn: Connection, size: int) -> None:  # pragma: no cover - runs in the child process
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))
    except (ImportError, ValueError, OSError):
        pass
    try:
        import h5py

        result: list[Any] = ["ok", read_metadata(h5py, _PipeStream(conn, size))]
    except BaseException as exc:
        result = ["error", f"{type(exc).__name__}: {exc}"[:500]]
    conn.send_bytes(json.dumps(result).encode())
    conn.close()


_CTX: Any = None


def _context() -> Any:
    """A fork server (single-threaded, h5py preloaded: a child costs milliseconds), else spawn."""
    global _CTX
    if _CTX is None:
        try:
            server = multiprocessing.get_context("forkserver")
            server.set_forkserver_preload(["scanning.scanners.h5worker", "h5py"])
            _CTX = server
        except ValueError:  # no fork server on this platform
            _CTX = multiprocessing.get_context("spawn")
    return _CTX


def read_isolated(reader: Reader, ctx: ScanContext) -> dict[str, Any]:
    """Run :func:`read_metadata` in a child process serving its reads from ``reader``.

    Raises :class:`LimitExceeded` past the scan deadline and :class:`FormatError` if the child
    reports an error or dies.
    """
    mp = _context()
    parent, child = mp.Pipe()
    proc = mp.Process(target=_child, args=(child, reader.size), daemon=True, name="modelgate-hdf5")
    proc.start()
    child.close()
    try:
        while True:
            remaining = ctx.deadline - time.monotonic()
            if remaining <= 0:
                raise LimitExceeded("HDF5 reader exceeded the scan time limit (killed)")
            if not parent.poll(min(remaining, 0.5)):
                if not proc.is_alive() and not parent.poll(0):
                    raise FormatError(f"HDF5 library crashed on this file (exit code {proc.exitcode})")
                continue
            try:
                msg = json.loads(parent.recv_bytes(MAX_RESULT))
            except (EOFError, OSError, ValueError) as exc:
                raise FormatError(f"HDF5 reader died or sent garbage ({type(exc).__name__})") from None
            if not isinstance(msg, list) or not msg:
                raise FormatError("HDF5 reader sent an invalid message")
            if msg[0] == "read" and len(msg) == 3 and isinstance(msg[1], int) and isinstance(msg[2], int):
                pos, n = msg[1], msg[2]
                parent.send_bytes(reader.read_at(pos, min(max(n, 0), MAX_READ)) if pos >= 0 else b"")
            elif msg[0] == "ok" and len(msg) == 2 and isinstance(msg[1], dict):
                return msg[1]
            else:
                raise FormatError(str(msg[1] if len(msg) > 1 else msg[0])[:500])
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=5)
        parent.close()


def decode_attrs(result: dict[str, Any]) -> dict[str, bytes]:
    attrs = result.get("attrs")
    if not isinstance(attrs, dict):
        return {}
    return {str(k): base64.b64decode(v) for k, v in attrs.items() if isinstance(v, str)}


# Spawned children import this module fresh: keep numeric libraries single-threaded there.
if multiprocessing.parent_process() is not None:  # pragma: no cover - child side
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
