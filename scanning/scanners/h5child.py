"""Child side of :mod:`scanning.scanners.h5worker`: run as ``python -I h5child.py``.

Stand-alone on purpose (stdlib + h5py only, no package imports): it is started as a fresh
interpreter, never forked from or importing the parent's modules. Protocol on stdin/stdout, frames
of ``u32 big-endian length + payload``:

* child -> parent: JSON ``["read", pos, n]`` (parent answers with one frame of raw bytes), then a
  final JSON ``["ok", result]`` or ``["error", message]``;
* the parent kills the process at the scan deadline.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import sys
from typing import Any, BinaryIO

MAX_READ = 16 * 1024 * 1024
MAX_ATTR_BYTES = 64 * 1024 * 1024
MAX_LINKS = 10_000
ADDRESS_SPACE = 8 * 1024**3
KEEP_ATTRS = ("model_config", "training_config", "keras_version", "backend")


def send(out: BinaryIO, payload: bytes) -> None:
    out.write(struct.pack(">I", len(payload)) + payload)
    out.flush()


def recv(inp: BinaryIO) -> bytes:
    head = inp.read(4)
    if len(head) != 4:
        raise EOFError("parent closed the pipe")
    (n,) = struct.unpack(">I", head)
    data = inp.read(n)
    if len(data) != n:
        raise EOFError("short frame")
    return data


class PipeStream(io.RawIOBase):
    """File object whose reads are served by the parent process."""

    def __init__(self, inp: BinaryIO, out: BinaryIO, size: int) -> None:
        self._inp, self._out, self._size, self._pos = inp, out, size, 0

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
        send(self._out, json.dumps(["read", self._pos, min(len(buffer), MAX_READ)]).encode())
        data = recv(self._inp)
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


def main() -> None:  # pragma: no cover - runs in the child process
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the protocol pipe
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    except (ImportError, ValueError, OSError):
        pass
    try:
        size = int(sys.argv[1])
        import h5py

        result: list[Any] = ["ok", read_metadata(h5py, PipeStream(inp, out, size))]
    except BaseException as exc:
        result = ["error", f"{type(exc).__name__}: {exc}"[:500]]
    send(out, json.dumps(result).encode())


if __name__ == "__main__":
    main()
