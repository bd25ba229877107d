"""7z header bombs: the encoded (LZMA2-compressed) header's declared size is judged before py7zr decodes it.

The bomb is an encoded header built with py7zr's own header coder (LZMA2, one property byte) and its
7z number encoding; its packed stream is a real LZMA2 stream that inflates to what it declares.
"""

from __future__ import annotations

import io
import lzma
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import py7zr
import pytest
from py7zr.archiveinfo import HeaderStreamsInfo, write_uint64

from scanning.scanners import scan_file, scan_reader, sevenzip
from scanning.scanners.base import BytesReader, Verdict
from tests.scanning import real_formats as rf

MiB = 1024 * 1024
_FILTER = {"id": lzma.FILTER_LZMA2, "preset": 0}


def lzma2_zeros(decoded: int) -> bytes:
    """A raw LZMA2 stream inflating to b"\\x01" (kHeader) + zeros, ``decoded`` bytes in all."""
    comp = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[_FILTER])
    out = [comp.compress(b"\x01")]
    left = decoded - 1
    chunk = bytes(4 * MiB)
    while left > 0:
        out.append(comp.compress(chunk[: min(left, len(chunk))]))
        left -= len(chunk)
    out.append(comp.flush())
    return b"".join(out)


def encoded_header(packed_size: int, declared: int) -> bytes:
    buf = io.BytesIO()
    buf.write(b"\x17\x06")  # EncodedHeader, PackInfo
    write_uint64(buf, 0)  # pack position (right after the start header)
    write_uint64(buf, 1)
    buf.write(b"\x09")
    write_uint64(buf, packed_size)
    buf.write(b"\x00\x07\x0b")  # End, UnpackInfo, Folder
    write_uint64(buf, 1)
    buf.write(b"\x00")  # not external
    write_uint64(buf, 1)  # one coder: LZMA2 (id 0x21) with one property byte
    props = lzma._encode_filter_properties(_FILTER)  # type: ignore[attr-defined]
    buf.write(bytes([0x20 | 1, 0x21]))
    write_uint64(buf, len(props))
    buf.write(props + b"\x0c")
    write_uint64(buf, declared)
    buf.write(b"\x00\x00")  # End UnpackInfo, End StreamsInfo
    return buf.getvalue()


def seven_zip(packed: bytes, header: bytes) -> bytes:
    tail = struct.pack("<QQI", len(packed), len(header), zlib.crc32(header))
    return sevenzip.MAGIC + b"\x00\x04" + struct.pack("<I", zlib.crc32(tail)) + tail + packed + header


@pytest.fixture(scope="module")
def bomb64() -> bytes:
    packed = lzma2_zeros(64 * MiB)
    return seven_zip(packed, encoded_header(len(packed), 64 * MiB))


def test_header_bomb_is_real_for_py7zr(bomb64: bytes) -> None:
    """The fixture really is a bomb: py7zr alone decodes the whole 64 MiB header into memory."""
    tracemalloc.start()
    try:
        with py7zr.SevenZipFile(io.BytesIO(bomb64), "r") as z:  # kHeader + zeros: an empty archive
            assert z.list() == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak > 64 * MiB
    assert len(bomb64) < 64 * 1024  # ~10 KiB on disk


def test_header_bomb_is_malicious_fast_and_small(bomb64: bytes) -> None:
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        result = scan_reader(BytesReader(bomb64), "model.7z")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - t0 < 5
    assert peak < 8 * MiB, peak
    assert (result.format, result.verdict) == ("7z", Verdict.MALICIOUS), result.findings
    [finding] = [f for f in result.findings if f.rule == "7z.header.bomb"]
    assert f"declare {64 * MiB} decoded bytes" in finding.evidence


def test_absurd_declared_header_size_is_malicious() -> None:
    packed = lzma2_zeros(1024)
    result = scan_reader(BytesReader(seven_zip(packed, encoded_header(len(packed), 1 << 40))), "m.7z")
    assert result.verdict is Verdict.MALICIOUS
    assert [f.rule for f in result.findings] == ["7z.header.bomb"]


def test_small_header_bomb_caught_by_ratio() -> None:
    packed = lzma2_zeros(8 * MiB)  # under the size cap, but ~6000:1
    result = scan_reader(BytesReader(seven_zip(packed, encoded_header(len(packed), 8 * MiB))), "m.7z")
    assert result.verdict is Verdict.MALICIOUS
    assert any(f.rule == "7z.header.bomb" and "1000:1" in f.message for f in result.findings)


def test_oversized_plain_header_is_malicious() -> None:
    header = b"\x01" + bytes(sevenzip.MAX_DECODED_HEADER)
    result = scan_reader(BytesReader(seven_zip(b"", header)), "m.7z")
    assert [f.rule for f in result.findings] == ["7z.header.bomb"]


def test_truncated_encoded_header_is_unscannable() -> None:
    header = encoded_header(10, 100)[:9]
    result = scan_reader(BytesReader(seven_zip(b"x" * 10, header)), "m.7z")
    assert result.verdict is Verdict.UNSCANNABLE
    assert any(f.rule == "7z.malformed" for f in result.findings)


def _sizes_by_py7zr(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    next_off, next_size, _ = struct.unpack_from("<QQI", data, 12)
    header = io.BytesIO(data[32 + next_off : 32 + next_off + next_size])
    assert header.read(1) == b"\x17"
    streams = HeaderStreamsInfo.retrieve(header)
    return sum(streams.packinfo.packsizes), sum(f.unpacksizes[-1] for f in streams.unpackinfo.folders)


def test_real_py7zr_headers_are_read_exactly_and_pass(tmp_path: Path) -> None:
    path = tmp_path / "many.7z"
    with py7zr.SevenZipFile(path, "w") as z:
        for i in range(600):
            z.writestr(f"{i}\n".encode(), f"shard/{i:05d}/config.json")
    data = path.read_bytes()
    next_off, next_size, _ = struct.unpack_from("<QQI", data, 12)
    mine = sevenzip.encoded_header_sizes(data[32 + next_off : 32 + next_off + next_size])
    assert mine == _sizes_by_py7zr(path)
    assert mine[1] > 6_000  # a real multi-member header, decoded size well above its packed size
    assert scan_file(path).verdict is Verdict.SAFE


def test_nullifai_and_benign_7z_still_judged(tmp_path: Path) -> None:
    bad = scan_file(rf.nullifai_7z(tmp_path / "pytorch_model.bin"))
    assert (bad.format, bad.verdict) == ("7z", Verdict.MALICIOUS), bad.findings
    assert not any(f.rule.startswith("7z.header") for f in bad.findings)
    good = scan_file(rf.benign_7z(tmp_path / "model.7z"))
    assert good.verdict is Verdict.SAFE, good.findings
