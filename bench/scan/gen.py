"""Large benign model files for the throughput and remote benches (written to disk, streamed; never kept).

* ``make_torch_zip(path, size)``: a real ``torch.save`` zip of float32 tensors (``archive/data.pkl`` +
  ``archive/data/0..N`` stored members) when torch is importable in this interpreter, built in a child process so the
  bench process's memory stays small; otherwise the same layout hand-built with ``zipfile`` (stored members) and a
  hand-assembled ``data.pkl`` that references them through ``torch._utils._rebuild_tensor_v2`` like torch does.
* ``make_safetensors(path, size)``: a valid safetensors file (8-byte header length + JSON header + F32 data), data
  streamed in 64 MiB chunks of pseudo-random bytes.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

CHUNK = 64 * 1024 * 1024
TENSOR_BYTES = 128 * 1024 * 1024  # 32 Mi float32 per tensor


def _n_tensors(size: int) -> int:
    return max(1, -(-size // TENSOR_BYTES))


_TORCH_SAVE = """
import sys, torch
n, numel, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
g = torch.Generator().manual_seed(0)
sd = {}
for i in range(n):
    sd[f"model.layers.{i}.mlp.weight"] = torch.randn(numel // 4096, 4096, generator=g)
sd["model.norm.weight"] = torch.ones(4096)
torch.save(sd, path)
"""


def make_torch_zip(path: Path, size: int) -> str:
    """Write a PyTorch zip of at least ``size`` bytes; return how it was made."""
    n = _n_tensors(size)
    numel = TENSOR_BYTES // 4
    try:
        subprocess.run([sys.executable, "-c", _TORCH_SAVE, str(n), str(numel), str(path)], check=True, timeout=900)
        return "torch.save"
    except (subprocess.SubprocessError, OSError):
        path.unlink(missing_ok=True)
    _hand_torch_zip(path, n, numel)
    return "hand-built zip (torch unavailable)"


def _u(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _hand_torch_zip(path: Path, n: int, numel: int) -> None:
    # {name: _rebuild_tensor_v2(persistent_load(('storage', FloatStorage, key, 'cpu', numel)), 0, shape, stride,
    #   False, OrderedDict())} - the shape torch.save produces (protocol 2).
    body = b"\x80\x02}q\x00("
    for i in range(n):
        rows = numel // 4096
        body += _u(f"model.layers.{i}.mlp.weight")
        body += b"ctorch._utils\n_rebuild_tensor_v2\n("
        body += (
            b"(" + _u("storage") + b"ctorch\nFloatStorage\n" + _u(str(i)) + _u("cpu") + b"J" + struct.pack("<i", numel)
        )
        body += b"tQ" + b"K\x00" + b"J" + struct.pack("<i", rows) + b"M\x00\x10\x86" + b"M\x00\x10K\x01\x86" + b"\x89"
        body += b"ccollections\nOrderedDict\n)Rt" + b"R"
    body += b"u."
    rnd = os.urandom(CHUNK)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr("archive/data.pkl", body)
        zf.writestr("archive/byteorder", b"little")
        for i in range(n):
            with zf.open(zipfile.ZipInfo(f"archive/data/{i}"), "w", force_zip64=True) as fh:
                left = numel * 4
                while left:
                    k = min(left, CHUNK)
                    fh.write(rnd[:k])
                    left -= k
        zf.writestr("archive/version", b"3\n")


def make_safetensors(path: Path, size: int) -> str:
    n = _n_tensors(size)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for i in range(n):
        header[f"model.layers.{i}.mlp.weight"] = {
            "dtype": "F32",
            "shape": [TENSOR_BYTES // 4 // 4096, 4096],
            "data_offsets": [offset, offset + TENSOR_BYTES],
        }
        offset += TENSOR_BYTES
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    rnd = os.urandom(CHUNK)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        left = offset
        while left:
            k = min(left, CHUNK)
            fh.write(rnd[:k])
            left -= k
    return "hand-written safetensors"


def make_set(directory: Path, size: int) -> dict[str, Path]:
    """The two large files (reused if already there with at least ``size`` bytes)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {"pytorch-zip": directory / "pytorch_model.bin", "safetensors": directory / "model.safetensors"}
    for kind, path in out.items():
        if path.exists() and path.stat().st_size >= size:
            continue
        how = make_torch_zip(path, size) if kind == "pytorch-zip" else make_safetensors(path, size)
        print(f"[gen] {path.name}: {path.stat().st_size / 1e9:.2f} GB ({how})", flush=True)
    return out
