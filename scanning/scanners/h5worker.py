"""HDF5 metadata read in a separate, killable process.

libhdf5 is C code: a crafted file can make it loop for ever or crash (fuzzing found mutated Keras
``.h5`` files on which reading one attribute never returns). Neither ``ScanContext.check_time`` nor a
``try`` can stop that in-process, so ``h5py`` runs in a child interpreter (:mod:`h5child`, started
as ``python -I h5child.py``: no fork, no import of the parent's ``__main__``):

* the child never sees the file: its file object asks for ``(pos, n)`` over stdin/stdout and the
  parent answers from the :class:`~scanning.scanners.base.Reader` (memory stays bounded, remote
  readers work);
* the parent enforces the scan deadline and kills the child when it is exceeded (``LimitExceeded``)
  or reports a crash of the child as a malformed file (``FormatError``);
* the child's address space is capped (``RLIMIT_AS``) so a forged length cannot exhaust memory;
* results come back as JSON (never pickle): a compromised child cannot attack the parent through
  deserialisation.
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .base import LimitExceeded, Reader, ScanContext
from .fmtcommon import FormatError

CHILD = Path(__file__).with_name("h5child.py")
MAX_READ = 16 * 1024 * 1024
MAX_FRAME = 256 * 1024 * 1024


class _Child:
    def __init__(self, size: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(CHILD), str(size)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin
        self.fd = self.proc.stdout.fileno()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ)

    def read_exact(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LimitExceeded("HDF5 reader exceeded the scan time limit (killed)")
            if not self.selector.select(min(remaining, 0.5)):
                continue
            chunk = os.read(self.fd, min(n - len(buf), 1024 * 1024))
            if not chunk:
                raise FormatError(f"HDF5 library crashed on this file (exit code {self.proc.poll()})")
            buf += chunk
        return bytes(buf)

    def frame(self, deadline: float) -> bytes:
        (n,) = struct.unpack(">I", self.read_exact(4, deadline))
        if n > MAX_FRAME:
            raise FormatError("HDF5 reader sent an oversized message")
        return self.read_exact(n, deadline)

    def reply(self, data: bytes) -> None:
        try:
            self.stdin.write(struct.pack(">I", len(data)) + data)
            self.stdin.flush()
        except (BrokenPipeError, OSError):
            raise FormatError(f"HDF5 reader died (exit code {self.proc.poll()})") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        self.selector.close()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def read_isolated(reader: Reader, ctx: ScanContext) -> dict[str, Any]:
    """Run ``h5child.read_metadata`` in a child interpreter serving its reads from ``reader``.

    Raises :class:`LimitExceeded` past the scan deadline and :class:`FormatError` if the child
    reports an error or dies.
    """
    child = _Child(reader.size)
    try:
        while True:
            raw = child.frame(ctx.deadline)
            try:
                msg = json.loads(raw)
            except ValueError:
                raise FormatError("HDF5 reader sent garbage") from None
            if not isinstance(msg, list) or not msg:
                raise FormatError("HDF5 reader sent an invalid message")
            if msg[0] == "read" and len(msg) == 3 and isinstance(msg[1], int) and isinstance(msg[2], int):
                pos, n = msg[1], msg[2]
                child.reply(reader.read_at(pos, min(max(n, 0), MAX_READ)) if pos >= 0 else b"")
            elif msg[0] == "ok" and len(msg) == 2 and isinstance(msg[1], dict):
                return msg[1]
            else:
                raise FormatError(str(msg[1] if len(msg) > 1 else msg[0])[:500])
    finally:
        child.close()


def decode_attrs(result: dict[str, Any]) -> dict[str, bytes]:
    attrs = result.get("attrs")
    if not isinstance(attrs, dict):
        return {}
    return {str(k): base64.b64decode(v) for k, v in attrs.items() if isinstance(v, str)}
