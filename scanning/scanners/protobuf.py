"""Minimal streaming protobuf wire-format reader (and a writer for tests).

Used by the ONNX and TensorFlow scanners instead of the generated ``onnx``/``tensorflow`` classes,
which would parse the whole message into memory. :func:`fields` walks one message's fields between
two offsets of a :class:`Reader`; length-delimited fields are reported by offset and length, so a
caller reads only what it needs (names, op types) and skips large payloads (``raw_data``, constant
tensors) without touching them. Groups (wire types 3/4) are rejected: neither ONNX nor TensorFlow
uses them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from .base import Reader
from .fmtcommon import FormatError

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
MAX_FIELD_NUMBER = (1 << 29) - 1


@dataclass(frozen=True, slots=True)
class Field:
    number: int
    wire: int
    value: int  # varint / fixed value; for LEN the payload length
    offset: int  # payload start (for LEN: first byte of the bytes/submessage)

    @property
    def end(self) -> int:
        return self.offset + self.value if self.wire == LEN else self.offset


class Window:
    """Caching random-access view used while walking (one chunk in memory at a time)."""

    def __init__(self, reader: Reader, chunk: int = 64 * 1024) -> None:
        self.reader = reader
        self.size = reader.size
        self._chunk = chunk
        self._start = 0
        self._buf = b""

    def byte(self, pos: int) -> int:
        rel = pos - self._start
        if not 0 <= rel < len(self._buf):
            self._start = pos
            self._buf = self.reader.read_at(pos, self._chunk)
            rel = 0
            if not self._buf:
                raise FormatError(f"unexpected end of data at offset {pos}")
        return self._buf[rel]

    def read(self, pos: int, n: int) -> bytes:
        rel = pos - self._start
        if rel >= 0 and rel + n <= len(self._buf):
            return self._buf[rel : rel + n]
        data = self.reader.read_at(pos, n)
        if len(data) != n:
            raise FormatError(f"unexpected end of data at offset {pos}")
        return data


def read_varint(win: Window, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise FormatError(f"truncated varint at offset {pos}")
        b = win.byte(pos)
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise FormatError(f"varint too long at offset {pos}")


def fields(win: Window, start: int, end: int) -> Iterator[Field]:
    """Yield the fields of the message occupying ``[start, end)``; :class:`FormatError` if malformed."""
    if end > win.size:
        raise FormatError(f"message end {end} beyond data size {win.size}")
    pos = start
    while pos < end:
        key, pos = read_varint(win, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0 or number > MAX_FIELD_NUMBER:
            raise FormatError(f"invalid field number {number} at offset {pos}")
        if wire == VARINT:
            value, pos2 = read_varint(win, pos, end)
            yield Field(number, wire, value, pos)
            pos = pos2
        elif wire == I64:
            if pos + 8 > end:
                raise FormatError(f"truncated fixed64 at offset {pos}")
            yield Field(number, wire, struct.unpack("<Q", win.read(pos, 8))[0], pos)
            pos += 8
        elif wire == I32:
            if pos + 4 > end:
                raise FormatError(f"truncated fixed32 at offset {pos}")
            yield Field(number, wire, struct.unpack("<I", win.read(pos, 4))[0], pos)
            pos += 4
        elif wire == LEN:
            length, pos = read_varint(win, pos, end)
            if pos + length > end:
                raise FormatError(f"field {number} length {length} at offset {pos} overruns its message")
            yield Field(number, wire, length, pos)
            pos += length
        else:
            raise FormatError(f"unsupported wire type {wire} (field {number}) at offset {pos}")


def text(win: Window, f: Field, limit: int = 4096) -> str:
    """Decode a string field (cut at ``limit`` bytes; invalid UTF-8 replaced, never raised)."""
    if f.wire != LEN:
        raise FormatError(f"field {f.number} is not length-delimited")
    raw = win.read(f.offset, min(f.value, limit))
    return raw.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- writer (tests, corpus)


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def enc_varint(number: int, value: int) -> bytes:
    return _varint(number << 3 | VARINT) + _varint(value)


def enc_bytes(number: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | LEN) + _varint(len(data)) + data


def enc_msg(number: int, *parts: bytes) -> bytes:
    return enc_bytes(number, b"".join(parts))
