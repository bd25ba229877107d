"""tar/gzip/bz2/xz archives: traversal, links, special files, bombs, truncation, nesting."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile

import pytest

from scanning.scanners import archives
from scanning.scanners.base import BytesReader, LimitExceeded, Verdict, verdict_of
from tests.scanning.corpus_formats import rules, run, tar_bytes

CONFIG = json.dumps({"model_type": "bert"}).encode()


def tar_scan(entries, **limits):
    return run(archives.scan_tar, tar_bytes(entries), "bundle.tar", **limits)


def test_benign_tar_members_are_scanned():
    ctx = tar_scan(
        [
            ("model/config.json", "file", CONFIG),
            ("model/sub", "dir", ""),
            ("model/modeling_x.py", "file", "import torch\n"),
        ]
    )
    assert rules(ctx) == {"python.remote_code"}
    assert ctx.findings[0].member == "model/modeling_x.py"


@pytest.mark.parametrize(
    ("entries", "verdict"),
    [
        ([("../../etc/cron.d/x", "file", "x")], Verdict.MALICIOUS),
        ([("/etc/passwd", "file", "x")], Verdict.MALICIOUS),
        ([("C:\\Windows\\x.dll", "file", "x")], Verdict.MALICIOUS),
        ([("a/../../b", "file", "x")], Verdict.MALICIOUS),
        ([("link", "symlink", "/etc/passwd")], Verdict.MALICIOUS),
        ([("a/link", "symlink", "../../x")], Verdict.MALICIOUS),
        ([("hl", "hardlink", "../outside")], Verdict.MALICIOUS),
        ([("d", "symlink", "."), ("d/x.txt", "file", "x")], Verdict.MALICIOUS),
    ],
)
def test_path_traversal(entries, verdict):
    ctx = tar_scan(entries)
    assert "archive.path_traversal" in rules(ctx)
    assert verdict_of(ctx.findings) == verdict


@pytest.mark.parametrize(
    "entries",
    [
        [("a/link", "symlink", "../b")],
        [("a/b/link", "symlink", "../c/file")],
        [("hl", "hardlink", "model/config.json")],
        [("x..y", "file", "x")],
    ],
)
def test_links_inside_root_are_fine(entries):
    assert "archive.path_traversal" not in rules(tar_scan(entries))


def test_special_files_are_suspicious():
    ctx = tar_scan([("pipe", "fifo", ""), ("dev", "chr", "")])
    assert rules(ctx) == {"archive.special_file"}
    assert verdict_of(ctx.findings) == Verdict.SUSPICIOUS


def test_long_names_via_pax_and_gnu():
    long = "a/" * 80 + "../../../../../../etc/x"
    ctx = tar_scan([(long, "file", "x")])  # PAX path record
    assert "archive.path_traversal" in rules(ctx)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("b/" * 80 + "../" * 90 + "evil")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    assert "archive.path_traversal" in rules(run(archives.scan_tar, buf.getvalue(), "gnu.tar"))


def test_ustar_prefix_field():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("p" * 90 + "/" + "../" * 10 + "x")
        info.size = 0
        tf.addfile(info)
    assert "archive.path_traversal" in rules(run(archives.scan_tar, buf.getvalue(), "u.tar"))


def test_member_limit():
    with pytest.raises(LimitExceeded):
        tar_scan([(f"f{i}", "file", "") for i in range(12)], max_members=10)


def _pax_header(size: int) -> bytes:
    h = bytearray(512)
    h[0:9] = b"PaxHeader"
    h[124:136] = b"%011o\0" % size
    h[156:157] = b"x"
    h[257:263] = b"ustar\0"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def test_oversized_pax_header_hits_limit_not_memory():
    size = 2 * 1024 * 1024
    data = _pax_header(size) + bytes(size) + tar_bytes([("x", "file", "")])
    with pytest.raises(LimitExceeded):
        run(archives.scan_tar, data, "p.tar")
    ctx = run(archives.scan_tar, _pax_header(2 * 1024**3) + bytes(1024), "p.tar")  # claims more than the file
    assert rules(ctx) == {"tar.malformed"}


@pytest.mark.parametrize(
    "data",
    [b"x" * 100 + bytes(1436), tar_bytes([("a", "file", "x" * 2000)])[:1024], b""],
    ids=["garbage", "truncated", "empty"],
)
def test_malformed_tar_is_unscannable(data):
    assert rules(run(archives.scan_tar, data, "t.tar")) == {"tar.malformed"}


def test_trailing_data_after_tar():
    ctx = run(archives.scan_tar, tar_bytes([("a.json", "file", CONFIG)]) + b"MZ\x90\x00" * 300, "t.tar")
    assert "archive.trailing_data" in rules(ctx)


# --------------------------------------------------------------------------- compressed streams


@pytest.mark.parametrize(
    ("scanner", "compress", "name"),
    [
        (archives.scan_gzip, gzip.compress, "config.json.gz"),
        (archives.scan_bz2, bz2.compress, "config.json.bz2"),
        (archives.scan_xz, lzma.compress, "config.json.xz"),
    ],
)
def test_streams_decompress_and_nest(scanner, compress, name):
    ctx = run(scanner, compress(json.dumps({"auto_map": {"AutoModel": "m.M"}}).encode()), name)
    assert rules(ctx) == {"config.auto_map"}
    assert ctx.findings[0].member == "config.json"


def test_tar_gz_nesting_reports_member_path():
    inner = tar_bytes([("repo/evil.py", "file", "import os\nos.system('id')\n")])
    ctx = run(archives.scan, gzip.compress(inner), "repo.tar.gz")
    assert "python.process" in rules(ctx)
    assert {f.member for f in ctx.findings} == {"repo.tar/repo/evil.py"}


def test_gzip_original_name_used():
    buf = io.BytesIO()
    with gzip.GzipFile(filename="weights.json", mode="wb", fileobj=buf) as fh:
        fh.write(b'{"auto_map": {"AutoModel": "m.M"}}')
    ctx = run(archives.scan_gzip, buf.getvalue(), "blob.gz")
    assert ctx.findings[0].member == "weights.json"


def test_multi_member_streams():
    data = gzip.compress(b'{"a": ') + gzip.compress(b"1}")
    assert run(archives.scan_gzip, data, "x.json.gz").findings == []
    assert run(archives.scan_bz2, bz2.compress(b'{"a": ') + bz2.compress(b"1}"), "x.json.bz2").findings == []


def test_zero_padding_is_fine_but_junk_is_not():
    data = gzip.compress(b"{}")
    assert run(archives.scan_gzip, data + bytes(512), "x.json.gz").findings == []
    assert rules(run(archives.scan_gzip, data + b"junk", "x.json.gz")) == {"archive.trailing_data"}


@pytest.mark.parametrize(
    ("scanner", "data", "rule"),
    [
        (archives.scan_gzip, gzip.compress(b"{}" * 1000)[:30], "gzip.malformed"),
        (archives.scan_gzip, b"\x1f\x8b\x08\x00" + b"\xff" * 40, "gzip.malformed"),
        (archives.scan_bz2, bz2.compress(b"{}" * 1000)[:30], "bz2.malformed"),
        (archives.scan_bz2, b"BZh9" + b"\x00" * 40, "bz2.malformed"),
        (archives.scan_xz, lzma.compress(b"{}" * 1000)[:40], "xz.malformed"),
        (archives.scan_xz, b"not xz", "xz.malformed"),
    ],
    ids=["gzip-truncated", "gzip-garbage", "bz2-truncated", "bz2-garbage", "xz-truncated", "xz-garbage"],
)
def test_corrupt_or_truncated_streams_are_unscannable(scanner, data, rule):
    ctx = run(scanner, data, "x.json.gz")
    assert rule in rules(ctx)
    assert verdict_of(ctx.findings) == Verdict.UNSCANNABLE


def test_decompression_bomb_hits_budget():
    bomb = gzip.compress(bytes(50 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100 * 1024
    with pytest.raises(LimitExceeded):
        run(archives.scan_gzip, bomb, "bomb.gz", max_decompressed=10 * 1024 * 1024)


def test_nesting_depth_limit():
    data = b"{}"
    for _ in range(6):
        data = gzip.compress(data)
    with pytest.raises(LimitExceeded):
        run(archives.scan_gzip, data, "deep.gz", max_depth=3)


def test_7z_with_a_corrupt_start_header_is_unscannable():
    data = b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24)
    assert archives.detect(BytesReader(data)) == "7z"
    ctx = run(archives.scan, data, "a")
    assert rules(ctx) == {"7z.malformed"}  # 7z is unpacked since issue 10 B (py7zr); this one has a bad CRC
    assert verdict_of(ctx.findings) == Verdict.UNSCANNABLE


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"Rar!\x1a\x07\x00" + bytes(24), "rar"),
        (b"Rar!\x1a\x07\x01\x00" + bytes(24), "rar"),
    ],
)
def test_rar_is_recognised_but_unscannable(data, fmt):
    assert archives.detect(BytesReader(data)) == fmt
    ctx = run(archives.scan, data, "a")
    assert rules(ctx) == {"archive.unsupported"}
    assert verdict_of(ctx.findings) == Verdict.UNSCANNABLE


def test_detect():
    assert archives.detect(BytesReader(gzip.compress(b"x"))) == "gzip"
    assert archives.detect(BytesReader(bz2.compress(b"x"))) == "bz2"
    assert archives.detect(BytesReader(lzma.compress(b"x"))) == "xz"
    assert archives.detect(BytesReader(tar_bytes([("a", "file", "x")]))) == "tar"
    assert archives.detect(BytesReader(b"plain text" * 100)) is None
    assert rules(run(archives.scan, b"plain", "x")) == {"archive.unknown"}


def test_no_router_fails_closed():
    from scanning.scanners.base import ScanContext

    ctx = ScanContext()
    archives.scan_tar(BytesReader(tar_bytes([("a.json", "file", "{}")])), ctx)
    assert rules(ctx) == {"nested.no_router"}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_stream_boundaries_at_any_chunk_size(monkeypatch, chunk):
    monkeypatch.setattr(archives, "CHUNK", chunk)
    data = gzip.compress(b'{"a": ') + gzip.compress(b"1}")
    assert run(archives.scan_gzip, data, "x.json.gz").findings == []
    assert rules(run(archives.scan_gzip, data + b"junk", "x.json.gz")) == {"archive.trailing_data"}
    xz = lzma.compress(b'{"a": ') + lzma.compress(b"1}")
    assert run(archives.scan_xz, xz, "x.json.xz").findings == []
    assert rules(run(archives.scan_gzip, data[:-3], "x.json.gz")) == {"gzip.malformed"}


def test_zero_padding_between_xz_streams():
    data = lzma.compress(b'{"a": ') + bytes(8) + lzma.compress(b"1}")
    assert run(archives.scan_xz, data, "x.json.xz").findings == []
    assert rules(run(archives.scan_xz, data + bytes(4) + b"junk", "x.json.xz")) == {"archive.trailing_data"}
