"""Remote scans fetch what they need, once: right-sized header reads, one archive read, small files once per import.

Everything goes through the real ``huggingface_hub`` client against the suite's Hub-compatible server, and the
byte counts are the server's (``RequestRecord.bytes_sent``), not the client's own bookkeeping.
"""

from __future__ import annotations

import hashlib
import io
import re

import pytest

from inventory import services as inventory_services
from inventory.hub import SMALL_FILE_CACHE, HubClient
from licenses.services.analysis import analyse_version
from scanning import services
from scanning.choices import ScanState, ScanVerdict
from scanning.scanners import scan_reader
from scanning.scanners.base import Limits, Verdict
from tests.hubserver.repos import TINY_BERT_CARD, safetensors_bytes

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.django_db


def torch_zip(n: int, rows: int = 64) -> bytes:
    """A real ``torch.save`` of ``n`` float32 tensors (``rows`` x 64..128 columns)."""
    state = {f"blocks.{i // 8}.p{i % 8}.weight": torch.zeros(rows, 64 + (i % 5) * 16) for i in range(n)}
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def served(hub_env, path: str, *, cdn: bool = False) -> list[tuple[int, int]]:
    """(start, end) byte ranges the server sent for ``path`` (whole bodies count as ``0..n-1``).

    ``cdn``: also what the CDN listener sent (LFS bodies are addressed by sha256 there; one LFS file per test).
    """
    out = []
    for r in hub_env.requests:
        if r.method == "GET" and (r.path.endswith("/" + path) or (cdn and r.server == "cdn")) and r.bytes_sent:
            m = re.fullmatch(r"bytes=(\d+)-(\d+)", r.range or "")
            start = int(m.group(1)) if m else 0
            out.append((start, start + r.bytes_sent - 1))
    return out


def scan_remote(hub_env, repo_id: str, path: str, data: bytes):
    commit = hub_env.add_repo(repo_id, {path: data})  # .bin: LFS, ranges served by the CDN listener
    hub_env.requests.clear()
    client = HubClient(endpoint=hub_env.endpoint, token="", timeout=30)
    reader = client.range_reader(repo_id, commit, path, len(data))
    result = scan_reader(reader, path, limits=Limits(), sha256=hashlib.sha256(data).hexdigest())
    return result, reader, served(hub_env, path, cdn=True)


@pytest.mark.slow
def test_two_thousand_tensor_zip_stays_under_five_percent(hub_env):
    data = torch_zip(2000)  # ~50 MB, 2,006 members
    result, reader, ranges = scan_remote(hub_env, "eff-test/many-tensors", "pytorch_model.bin", data)
    assert result.verdict == Verdict.SAFE and result.format == "pytorch-zip", result.findings
    sent = sum(b - a + 1 for a, b in ranges)
    assert sent == reader.bytes_transferred
    assert sent < len(data) * 0.05, (sent, len(data))
    assert _refetched(ranges) < len(data) / 1000, "parts of the archive were fetched twice"


def test_zip_is_read_once_with_right_sized_header_ranges(hub_env):
    data = torch_zip(300, rows=16)  # ~1.6 MB, members 4-8 KiB apart
    result, _reader, ranges = scan_remote(hub_env, "eff-test/small-tensors", "pytorch_model.bin", data)
    assert result.verdict == Verdict.SAFE, result.findings
    assert _refetched(ranges) < len(data) / 100, "the archive was read twice (detection, then scanning)"
    header_sized = [b - a + 1 for a, b in ranges if b - a + 1 < 1024]
    assert len(header_sized) >= 250, "local headers are fetched right-sized, not as 64 KiB blocks"
    assert sum(b - a + 1 for a, b in ranges) < len(data) / 4


def test_prefetch_is_bounded_and_falls_back_to_blocks(hub_env, monkeypatch):
    from inventory.hub import HubRangeReader

    monkeypatch.setattr(HubRangeReader, "max_extent_bytes", 4096)
    data = torch_zip(300, rows=16)
    result, reader, ranges = scan_remote(hub_env, "eff-test/bounded", "pytorch_model.bin", data)
    assert result.verdict == Verdict.SAFE, result.findings
    assert reader._extent_bytes <= 4096
    assert any(b - a + 1 == 64 * 1024 for a, b in ranges)  # the rest went through the block cache


def test_small_files_are_fetched_once_per_import(hub_env):
    license_text = "Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/\n" * 20
    files = {
        "config.json": b'{"model_type": "bert", "architectures": ["BertModel"]}',
        "LICENSE": license_text.encode(),
        "tokenizer_config.json": b'{"chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"}',
        "model.safetensors": safetensors_bytes(),
    }
    hub_env.add_repo("eff-test/once", files, card=TINY_BERT_CARD)
    hub_env.requests.clear()
    SMALL_FILE_CACHE.clear()
    version, _ = inventory_services.import_from_hub(repo_id="eff-test/once")
    run = services.scan_version_now(version.pk)
    assert run.state == ScanState.SUCCEEDED and run.verdict == ScanVerdict.SAFE, run.error
    analyse_version(version_id=version.pk)
    for path in ("README.md", "LICENSE", "config.json", "tokenizer_config.json"):
        assert len(served(hub_env, path)) == 1, (path, served(hub_env, path))
    assert SMALL_FILE_CACHE.hits >= 2  # README (card, then scanner) and LICENSE (scanner, then licenses)


def test_corrupted_small_file_is_not_cached_and_fails_closed(hub_env):
    data = b'{"model_type": "bert"}'
    commit = hub_env.add_repo("eff-test/corrupt", {"config.json": data})
    client = HubClient(endpoint=hub_env.endpoint, token="", timeout=30)
    hub_env.corrupt_next("*/config.json")
    from inventory.hub import IntegrityError

    with pytest.raises(IntegrityError):
        client.range_reader("eff-test/corrupt", commit, "config.json", len(data)).read_at(0, 4)
    assert client.range_reader("eff-test/corrupt", commit, "config.json", len(data)).read_at(0, 100) == data


def _refetched(ranges: list[tuple[int, int]]) -> int:
    """Bytes sent more than once (0 when every byte crossed the wire at most once)."""
    union = 0
    reach = -1
    for a, b in sorted(ranges):
        if b > reach:
            union += b - max(a, reach + 1) + 1
            reach = b
    return sum(b - a + 1 for a, b in ranges) - union
