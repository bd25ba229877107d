"""zipfmt: both views of a zip, mismatch findings, member readers."""

from __future__ import annotations

import io
import os
import zipfile
import zlib

import pytest

from scanning.scanners import scan_reader, zipfmt
from scanning.scanners.base import BytesReader, LimitExceeded, Limits, ScanContext, SubReader, Verdict
from tests.scanning.corpus_pickle import (
    bad_crc_zip,
    local_only_zip,
    plain_zip,
    system,
    torch_zip,
    zip_with_hidden_member,
)


def test_well_formed_zip_has_no_problems() -> None:
    data = plain_zip({"a.txt": b"hello", "dir/b.bin": b"\x00" * 1000})
    ctx = ScanContext()
    arc = zipfmt.read_archive(BytesReader(data), ctx)
    assert arc.names() == ["a.txt", "dir/b.bin"]
    assert arc.problems == [] and ctx.findings == []


def test_local_only_member_is_listed_and_reported() -> None:
    data = zip_with_hidden_member({"data.pkl": b"x"}, "hidden.pkl", b"payload")
    ctx = ScanContext()
    arc = zipfmt.read_archive(BytesReader(data), ctx)
    assert "hidden.pkl" in arc.names()
    assert "hidden.pkl" not in [e.name for e in arc.central]
    assert any(f.rule == "zip.mismatch" and "only in local headers" in f.message for f in ctx.findings)


def test_no_central_directory_falls_back_to_local_headers() -> None:
    arc = zipfmt.read_archive(BytesReader(local_only_zip({"a": b"1", "b": b"22"})), ScanContext())
    assert arc.names() == ["a", "b"] and not arc.has_central


def test_prepended_data_and_name_mismatch() -> None:
    data = b"X" * 100 + plain_zip({"a": b"1"}, deflate=False)
    ctx = ScanContext()
    arc = zipfmt.read_archive(BytesReader(data), ctx)
    assert arc.names() == ["a"]
    assert any("before the first member" in p for p in arc.problems)
    raw = bytearray(plain_zip({"name1": b"1"}, deflate=False))
    raw[30:35] = b"nameX"  # local header name only
    arc = zipfmt.read_archive(BytesReader(bytes(raw)), ScanContext())
    assert any("name differs" in p for p in arc.problems)


def test_bad_crc_reported_after_scanning_member() -> None:
    data = bad_crc_zip({"data.pkl": b"hello"})
    ctx = ScanContext()
    arc = zipfmt.read_archive(BytesReader(data), ctx)
    entry = next(e for e in arc.central if e.name.endswith("data.pkl"))
    member = zipfmt.open_member(BytesReader(data), entry, ctx)
    zipfmt.check_member(member, entry, ctx)
    assert any("CRC mismatch" in f.message for f in ctx.findings)


def test_stored_member_is_subreader_and_deflated_streams() -> None:
    payload = os.urandom(3_000_000) + b"tail"
    data = plain_zip({"s.bin": payload}, deflate=False) + b""
    arc = zipfmt.read_archive(BytesReader(data), ScanContext())
    member = zipfmt.open_member(BytesReader(data), arc.central[0], ScanContext())
    assert isinstance(member, SubReader) and member.read_at(len(payload) - 4, 10) == b"tail"

    text = b"".join(b"line %d\n" % i for i in range(400_000))
    data = plain_zip({"t.txt": text})
    ctx = ScanContext()
    arc = zipfmt.read_archive(BytesReader(data), ctx)
    member = zipfmt.open_member(BytesReader(data), arc.central[0], ctx)
    assert isinstance(member, zipfmt.InflateReader)
    assert member.size == len(text)
    assert member.read_at(len(text) - 10, 10) == text[-10:]
    assert member.read_at(0, 12) == text[:12]  # backwards: restart
    assert member.read_at(1_000_000, 100) == text[1_000_000:1_000_100]
    zipfmt.check_member(member, arc.central[0], ctx)
    assert ctx.findings == []


def test_decompression_budget_is_enforced() -> None:
    data = plain_zip({"zeros.bin": b"\x00" * (20 * 1024 * 1024)})
    ctx = ScanContext(limits=Limits(max_decompressed=1024 * 1024))
    arc = zipfmt.read_archive(BytesReader(data), ctx)
    member = zipfmt.open_member(BytesReader(data), arc.central[0], ctx)
    with pytest.raises(LimitExceeded):
        member.read_at(10 * 1024 * 1024, 10)
    result = scan_reader(BytesReader(data), "bomb.zip", limits=Limits(max_decompressed=1024 * 1024))
    assert result.verdict is Verdict.UNSCANNABLE


def test_inflate_reader_zlib_stream_of_unknown_size() -> None:
    raw = b"abc" * 100_000
    comp = zlib.compress(raw)
    r = zipfmt.InflateReader(BytesReader(comp), 0, len(comp), None, ScanContext(), wbits=15)
    assert r.read_at(0, 3) == b"abc"
    assert r.read_at(len(raw) - 3, 100) == b"abc"
    assert r.read_at(len(raw), 10) == b"" and r.size == len(raw)


def test_member_limit() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(30):
            z.writestr(f"m{i}", b"x")
    with pytest.raises(LimitExceeded):
        zipfmt.read_archive(BytesReader(buf.getvalue()), ScanContext(limits=Limits(max_members=10)))


def test_zip64_torch_archive_and_generic_zip_routing() -> None:
    result = scan_reader(BytesReader(torch_zip({"data.pkl": system()})), "model.pt")
    assert result.format == "pytorch-zip" and result.verdict is Verdict.MALICIOUS
    result = scan_reader(BytesReader(plain_zip({"docs/readme.md": b"# hi\n", "w.pkl": system()})), "x.zip")
    assert result.format == "zip" and result.verdict is Verdict.MALICIOUS
    assert {f.member for f in result.findings if f.verdict is Verdict.MALICIOUS} == {"w.pkl"}


def test_unsupported_method_and_encryption_fail_closed() -> None:
    raw = bytearray(plain_zip({"a.pkl": b"\x80\x02N."}, deflate=False))
    raw[8:10] = (12).to_bytes(2, "little")  # bzip2 in the local header
    cd = raw.find(b"PK\x01\x02")
    raw[cd + 10 : cd + 12] = (12).to_bytes(2, "little")
    result = scan_reader(BytesReader(bytes(raw)), "x.zip")
    assert result.verdict is Verdict.UNSCANNABLE


def test_encryption_flag_bypass_still_scanned() -> None:
    raw = bytearray(plain_zip({"a.pkl": system()}, deflate=False))
    lh = raw.find(b"PK\x03\x04")
    raw[lh + 6 : lh + 8] = (1).to_bytes(2, "little")
    cd = raw.find(b"PK\x01\x02")
    raw[cd + 8 : cd + 10] = (1).to_bytes(2, "little")
    result = scan_reader(BytesReader(bytes(raw)), "x.zip")
    rules = {f.rule for f in result.findings}
    assert {"zip.encrypted", "pickle.global.denied"} <= rules
    assert result.verdict is Verdict.MALICIOUS


def test_member_hidden_in_prepended_data_is_scanned() -> None:
    from tests.scanning.corpus_pickle import local_header

    hidden = local_header("evil.pkl", system())
    visible = plain_zip({"a.txt": b"hello"}, deflate=False)
    result = scan_reader(BytesReader(hidden + visible), "x.zip")
    assert result.verdict is Verdict.MALICIOUS
    assert any(f.member == "evil.pkl" and f.verdict is Verdict.MALICIOUS for f in result.findings)
    assert any(f.rule == "zip.mismatch" for f in result.findings)
