"""Fixtures for issue 10 part B / issue 11 item 4, built with the REAL libraries.

Benign files come from the libraries that write them in real repos (torch.save, onnx.save with
external data, keras 3 ``model.save``, py7zr, zstandard, lz4.frame, joblib, skops, NeMo-style
tars). Attack files follow published techniques with harmless payloads (``echo``/``id``).
Every builder writes into a directory it is given and returns the path.
"""

from __future__ import annotations

import io
import json
import lzma
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Any


class EchoPayload:
    """Pickles to ``os.system("echo pwned")`` (never unpickled by the tests)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def evil_pickle(protocol: int = 2) -> bytes:
    return pickle.dumps({"state": EchoPayload()}, protocol=protocol)


def torch_zip_bytes(obj: Any = None) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj if obj is not None else {"w": torch.ones(4, 4)}, buf)
    return buf.getvalue()


def nullifai_7z(path: Path, *, broken: bool = True) -> Path:
    """nullifAI (ReversingLabs, Feb 2025): a PyTorch checkpoint re-packed as 7z, pickle broken after the payload.

    The pickle executes its REDUCE, then hits garbage: ``torch.load`` fails but the payload already ran.
    """
    import py7zr

    payload = evil_pickle(2)
    if broken:
        payload = payload[:-1] + b"\x00\xffbroken"  # drop STOP, append junk: the stream is "broken"
    with py7zr.SevenZipFile(path, "w") as z:
        z.writestr(payload, "archive/data.pkl")
        z.writestr(b"3\n", "archive/version")
        z.writestr(b"\x00" * 64, "archive/data/0")
    return path


def benign_7z(path: Path) -> Path:
    import py7zr

    with py7zr.SevenZipFile(path, "w") as z:
        z.writestr(json.dumps({"model_type": "bert"}).encode(), "model/config.json")
        z.writestr(torch_zip_bytes(), "model/pytorch_model.bin")
    return path


def zstd_pickle(path: Path, data: bytes) -> Path:
    import zstandard

    path.write_bytes(zstandard.ZstdCompressor(level=3).compress(data))
    return path


def lz4_pickle(path: Path, data: bytes) -> Path:
    import lz4.frame

    path.write_bytes(lz4.frame.compress(data))
    return path


def joblib_dump(path: Path, obj: Any, compress: Any) -> Path:
    import joblib

    joblib.dump(obj, path, compress=compress)
    return path


def zip_with(path: Path, members: dict[str, bytes], method: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def keras_model_file(path: Path) -> Path:
    """A real Keras 3 ``.keras`` file (torch backend)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    inputs = keras.Input(shape=(4,))
    x = keras.layers.Dense(3, activation="relu")(inputs)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    model.save(path)
    return path


def rezip(src: Path, dst: Path, *, method_for: dict[str, int] | None = None, prefix: bytes = b"") -> Path:
    """Copy a zip, recompressing chosen members (e.g. config.json with LZMA) and/or prepending junk."""
    method_for = method_for or {}
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w") as zout:
        for info in zin.infolist():
            zout.writestr(
                info.filename, zin.read(info), compress_type=method_for.get(info.filename, info.compress_type)
            )
    dst.write_bytes(prefix + buf.getvalue())
    return dst


def keras_config_model(path: Path, config: dict[str, Any]) -> Path:
    """A ``.keras`` zip with a hand-written config (published CVE reproductions do exactly this)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.10.0", "date_saved": "2025-08-01@00:00:00"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", b"")
    return path


def gguf_model(path: Path, *, tensors: int = 2) -> Path:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_context_length(128)
    for i in range(tensors):
        w.add_tensor(f"blk.{i}.weight", np.ones((4, 32), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def gguf_raw(n_tensors: int, n_kv: int, body: bytes = b"", version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + body


def gguf_string(s: bytes) -> bytes:
    return struct.pack("<Q", len(s)) + s


def safetensors_raw(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def onnx_with_external(directory: Path, location: str = "model.onnx_data") -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((64, 64), dtype=np.float32), "W")
    node = helper.make_node("MatMul", ["X", "W"], ["Y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 64])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = directory / "model.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location=location, size_threshold=0)
    return path


def onnx_python_op(path: Path) -> Path:
    """onnxruntime-extensions / ORT training ``PythonOp`` in ``com.microsoft``: runs a Python callable."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node(
        "PythonOp",
        ["X"],
        ["Y"],
        domain="com.microsoft",
        func_name="os.system",
        input_convention="d",
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    onnx.save_model(model, str(path))
    return path


def nemo_tar(path: Path) -> Path:
    """NeMo ``.nemo``: a tar of model_config.yaml + model_weights.ckpt (a torch zip)."""
    with tarfile.open(path, "w") as tar:
        for name, data in (
            ("./model_config.yaml", b"target: nemo.collections.asr.models.EncDecCTCModel\n"),
            ("./model_weights.ckpt", torch_zip_bytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def tar_xz_torch(path: Path) -> Path:
    with tarfile.open(path, "w:xz") as tar:
        data = torch_zip_bytes()
        info = tarfile.TarInfo("pytorch_model.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def nested_zip_bomb(path: Path, *, layers: int = 4, fanout: int = 10, leaf_mb: int = 20) -> Path:
    """42.zip-style recursive bomb: each layer holds ``fanout`` copies of the layer below."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("0.bin", b"\0" * (leaf_mb * 1024 * 1024))
    blob = buf.getvalue()
    for _ in range(layers - 1):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            for i in range(fanout):
                z.writestr(f"{i}.zip", blob)
        blob = buf.getvalue()
    path.write_bytes(blob)
    return path


def overlap_zip_bomb(path: Path, *, files: int = 200, kernel_mb: int = 20) -> Path:
    """David Fifield's non-recursive bomb ("A better zip bomb", 2019), quoted-overlap variant simplified:
    every central directory entry points at the same local header, whose deflate stream inflates to
    ``kernel_mb`` MiB. Members fully overlap; total declared output = ``files * kernel_mb`` MiB.
    """
    kernel = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = b"\0" * (kernel_mb * 1024 * 1024)
    comp = kernel.compress(raw) + kernel.flush()
    crc = zlib.crc32(raw)
    name = b"0"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(comp), len(raw), len(name), 0)
    body = local + name + comp
    central = b""
    for i in range(files):
        n = str(i).encode()
        central += (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(comp),
                len(raw),
                len(n),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + n
        )
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, files, files, len(central), len(body), 0)
    path.write_bytes(body + central + eocd)
    return path


def zip_slip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for n in names:
            info = zipfile.ZipInfo("placeholder")
            info.filename = n  # ZipInfo() would normalise away leading slashes; attackers write raw names
            z.writestr(info, b"#!/bin/sh\necho pwned\n")
    return path


def lzma_member_zip(path: Path, members: dict[str, bytes]) -> Path:
    return zip_with(path, members, zipfile.ZIP_LZMA)


def raw_lzma(data: bytes) -> bytes:
    return lzma.compress(data)
