"""Issue 10 part B: formats that used to end `unscannable` are judged; benign files from the real libraries.

Benign side: py7zr archives of a torch.save checkpoint, joblib ``compress="lz4"``, zstandard frames,
zipfile bzip2/LZMA members, Keras 3 ``model.save`` re-packed the ways real tools do, onnx.save with
external data, NeMo-style tars. Attack side: nullifAI (7z-packed torch pickle, broken stream),
pickles hidden behind zstd/lz4, the same payload in bzip2/LZMA zip members.
"""

from __future__ import annotations

import base64
import json
import pickle
import zipfile

import pytest

from scanning.scanners import scan_file, scan_reader
from scanning.scanners.base import BytesReader, Verdict
from tests.scanning import real_formats as rf


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


def denied(result) -> bool:
    return any(f.rule.startswith("pickle.") and f.verdict == Verdict.MALICIOUS for f in result.findings)


# --------------------------------------------------------------------------- 7z


def test_nullifai_7z_torch_pickle_is_found_and_judged(tmp_path):
    result = scan_file(rf.nullifai_7z(tmp_path / "pytorch_model.bin"))
    assert result.format == "7z"
    assert result.verdict == Verdict.MALICIOUS
    assert denied(result)
    hit = next(f for f in result.findings if f.verdict == Verdict.MALICIOUS)
    assert hit.member == "archive/data.pkl"
    assert "system" in hit.evidence or "system" in hit.message
    # raw storages of the re-packed checkpoint are data, not "unknown binary"
    assert "format.unknown" not in rules(result)


def test_nullifai_with_an_intact_pickle_too(tmp_path):
    result = scan_file(rf.nullifai_7z(tmp_path / "model.7z", broken=False))
    assert result.verdict == Verdict.MALICIOUS and denied(result)


def test_benign_7z_of_a_real_checkpoint_is_safe(tmp_path):
    result = scan_file(rf.benign_7z(tmp_path / "model.7z"))
    assert result.format == "7z"
    assert result.verdict == Verdict.SAFE, result.findings


def test_7z_member_path_traversal(tmp_path):
    import struct
    import zlib

    import py7zr

    path = tmp_path / "evil.7z"
    with py7zr.SevenZipFile(path, "w") as z:
        z.encoded_header_mode = False  # plain header, so the stored name can be edited like an attacker would
        z.writestr(b"echo pwned\n", "ok.txt")
    data = bytearray(path.read_bytes())
    at = data.index("ok.txt".encode("utf-16-le"))
    data[at : at + 12] = "../a.t".encode("utf-16-le")  # py7zr refuses to WRITE such names
    next_off, next_size = struct.unpack_from("<QQ", data, 12)
    header = bytes(data[32 + next_off : 32 + next_off + next_size])
    struct.pack_into("<I", data, 28, zlib.crc32(header))
    struct.pack_into("<I", data, 8, zlib.crc32(bytes(data[12:32])))
    path.write_bytes(bytes(data))
    result = scan_file(path)
    assert result.verdict == Verdict.MALICIOUS
    assert "archive.path_traversal" in rules(result)


def test_encrypted_7z_is_unscannable(tmp_path):
    import py7zr

    path = tmp_path / "secret.7z"
    with py7zr.SevenZipFile(path, "w", password="x") as z:
        z.writestr(rf.evil_pickle(), "data.pkl")
    result = scan_file(path)
    assert result.verdict >= Verdict.UNSCANNABLE
    assert rules(result) & {"7z.encrypted", "7z.malformed"}


def test_truncated_7z_is_unscannable(tmp_path):
    full = rf.benign_7z(tmp_path / "full.7z").read_bytes()
    path = tmp_path / "cut.7z"
    path.write_bytes(full[: len(full) // 2])
    result = scan_file(path)
    assert result.verdict == Verdict.UNSCANNABLE
    assert "7z.malformed" in rules(result)


def test_7z_start_header_with_absurd_offset_is_format_abuse():
    import struct
    import zlib

    body = struct.pack("<QQI", 1 << 60, 64, 0)
    data = b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", zlib.crc32(body)) + body
    result = scan_reader(BytesReader(data), "x.7z")
    assert result.verdict == Verdict.MALICIOUS
    assert rules(result) == {"7z.header.abuse"}


# --------------------------------------------------------------------------- zstd / lz4


@pytest.mark.parametrize("wrap", [rf.zstd_pickle, rf.lz4_pickle], ids=["zstd", "lz4"])
def test_compressed_pickles_are_unwrapped_and_judged(tmp_path, wrap):
    bad = scan_file(wrap(tmp_path / "model.pkl", rf.evil_pickle()))
    assert bad.verdict == Verdict.MALICIOUS and denied(bad)
    good = scan_file(wrap(tmp_path / "ok.pkl", pickle.dumps({"weights": [1.0, 2.0]}, protocol=4)))
    assert good.verdict == Verdict.SAFE, good.findings


def test_joblib_lz4_from_the_real_library(tmp_path):
    import numpy as np

    path = rf.joblib_dump(tmp_path / "model.joblib", {"coef": np.arange(10.0)}, "lz4")
    assert path.read_bytes()[:4] == b"\x04\x22\x4d\x18"
    result = scan_file(path)
    assert result.format == "lz4"
    assert result.verdict == Verdict.SAFE, result.findings
    bad = rf.joblib_dump(tmp_path / "bad.joblib", {"x": rf.EchoPayload()}, "lz4")
    assert scan_file(bad).verdict == Verdict.MALICIOUS


@pytest.mark.slow  # imports scikit-learn
def test_sklearn_pipeline_zstd_pickle(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression()).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    result = scan_file(rf.zstd_pickle(tmp_path / "model.pkl.zst", pickle.dumps(model)))
    assert result.format == "zstd"
    assert result.verdict <= Verdict.SUSPICIOUS
    assert result.verdict != Verdict.UNSCANNABLE


def test_zstd_bomb_is_judged(tmp_path):
    import zstandard

    from scanning.scanners.base import Limits

    data = zstandard.ZstdCompressor(level=3).compress(b"\0" * (40 * 1024 * 1024))
    assert len(data) < 10 * 1024
    result = scan_reader(BytesReader(data), "model.pkl.zst", limits=Limits(bomb_floor=16 * 1024**2))
    assert result.verdict == Verdict.MALICIOUS
    assert "archive.bomb" in rules(result)


def test_corrupt_zstd_is_unscannable():
    result = scan_reader(BytesReader(b"\x28\xb5\x2f\xfd" + b"\xff" * 64), "x.zst")
    assert result.verdict == Verdict.UNSCANNABLE


# --------------------------------------------------------------------------- zip methods 12 / 14


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["bzip2", "lzma"])
def test_zip_members_compressed_with_bzip2_or_lzma_are_read(tmp_path, method):
    bad = scan_file(rf.zip_with(tmp_path / "bad.zip", {"archive/data.pkl": rf.evil_pickle()}, method))
    assert bad.verdict == Verdict.MALICIOUS and denied(bad)
    good = scan_file(rf.zip_with(tmp_path / "good.zip", {"config.json": b'{"model_type": "bert"}'}, method))
    assert good.verdict == Verdict.SAFE, good.findings


def test_lzma_member_with_a_forged_huge_dictionary_stays_bounded(tmp_path):
    path = rf.zip_with(tmp_path / "m.zip", {"config.json": b'{"a": 1}' * 100}, zipfile.ZIP_LZMA)
    data = bytearray(path.read_bytes())
    at = data.index(b"config.json") + len("config.json") + 4 + 1  # LZMA version(2) + props size(2) + lc/lp/pb
    data[at : at + 4] = (0xFFFFFFFF).to_bytes(4, "little")  # 4 GiB dictionary
    result = scan_reader(BytesReader(bytes(data)), "m.zip")
    assert result.verdict <= Verdict.UNSCANNABLE  # decoded with a capped dictionary, or a finding; never a crash


# --------------------------------------------------------------------------- .keras variants


def _lambda_config() -> dict:
    code = base64.b64encode(b"\xe3\x00\x00\x00\xda\x02os\xda\x06system").decode()
    layer = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {"name": "l", "function": {"class_name": "__lambda__", "config": {"code": code}}},
    }
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [layer]}}


@pytest.mark.slow  # imports keras (~7 s)
def test_real_keras_file_with_lzma_config_is_safe(tmp_path):
    src = rf.keras_model_file(tmp_path / "real.keras")
    lz = rf.rezip(src, tmp_path / "lzma.keras", method_for={"config.json": zipfile.ZIP_LZMA})
    result = scan_file(lz)
    assert result.format == "keras"
    assert result.verdict == Verdict.SAFE, result.findings


def test_keras_with_lzma_config_is_judged(tmp_path):
    evil_src = rf.keras_config_model(tmp_path / "evil_src.keras", _lambda_config())
    evil = rf.rezip(evil_src, tmp_path / "evil.keras", method_for={"config.json": zipfile.ZIP_LZMA})
    result = scan_file(evil)
    assert result.verdict == Verdict.MALICIOUS
    assert "keras.lambda.dangerous" in rules(result)


@pytest.mark.slow  # imports keras (~7 s)
def test_real_keras_file_with_junk_prepended_is_judged_as_keras(tmp_path):
    src = rf.keras_model_file(tmp_path / "real.keras")
    junk = scan_file(rf.rezip(src, tmp_path / "junk.keras", prefix=b"\x00\x01junk" * 50))
    assert junk.format == "keras"
    assert junk.verdict == Verdict.SUSPICIOUS  # the prefix is reported, the model itself is fine
    assert rules(junk) == {"zip.mismatch"}


def test_keras_with_junk_prepended_is_judged_as_keras(tmp_path):
    evil = rf.keras_config_model(tmp_path / "evil_src.keras", _lambda_config())
    result = scan_file(rf.rezip(evil, tmp_path / "evil.keras", prefix=b"\x7fELF" + bytes(300)))
    assert result.format == "keras"
    assert result.verdict == Verdict.MALICIOUS
    assert "keras.lambda.dangerous" in rules(result)


@pytest.mark.slow  # imports keras (~7 s)
def test_real_keras_file_is_safe(tmp_path):
    result = scan_file(rf.keras_model_file(tmp_path / "model.keras"))
    assert result.format == "keras"
    assert result.verdict == Verdict.SAFE, result.findings


# --------------------------------------------------------------------------- tars that hold a torch zip


def test_nemo_tar_is_not_a_polyglot(tmp_path):
    result = scan_file(rf.nemo_tar(tmp_path / "model.nemo"))
    assert "format.polyglot" not in rules(result)
    assert result.verdict == Verdict.SAFE, result.findings


def test_tar_xz_of_a_torch_checkpoint_is_not_a_polyglot(tmp_path):
    result = scan_file(rf.tar_xz_torch(tmp_path / "model.tar.xz"))
    assert "format.polyglot" not in rules(result)
    assert result.verdict == Verdict.SAFE, result.findings


def test_tar_with_an_appended_zip_still_is(tmp_path):
    """A zip glued AFTER the end of a tar (not inside a member) remains a polyglot."""
    base = rf.nemo_tar(tmp_path / "a.nemo").read_bytes()
    tail = rf.zip_with(tmp_path / "t.zip", {"data.pkl": rf.evil_pickle()}, zipfile.ZIP_STORED).read_bytes()
    path = tmp_path / "b.nemo"
    path.write_bytes(base + tail)
    result = scan_file(path)
    assert result.verdict == Verdict.MALICIOUS
    assert rules(result) & {"format.polyglot", "archive.trailing_data"}


def test_json_contract_shape_unchanged_for_new_formats(tmp_path):
    result = scan_file(rf.nullifai_7z(tmp_path / "m.7z"))
    line = json.loads(json.dumps(result.as_contract()))
    assert set(line) == {"path", "format", "verdict", "sha256", "findings"}
    assert line["verdict"] in {"safe", "suspicious", "malicious", "unscannable"}
    for f in line["findings"]:
        assert set(f) == {"rule", "category", "severity", "message", "evidence"}
        assert f["severity"] in {"critical", "high", "medium", "low", "info"}
        assert f["category"] in {
            "code-execution",
            "process",
            "network",
            "filesystem",
            "obfuscation",
            "format-abuse",
            "remote-code",
            "unscannable",
        }


# --------------------------------------------------------------------------- side files: ONNX external data, TF checkpoints


def test_onnx_repo_with_external_data_is_not_flagged(tmp_path):
    model = rf.onnx_with_external(tmp_path, "model.onnx_data")
    assert (tmp_path / "model.onnx_data").stat().st_size == 64 * 64 * 4
    results = {p.name: scan_file(p) for p in tmp_path.iterdir()}
    assert results["model.onnx"].verdict == Verdict.SAFE, results["model.onnx"].findings
    assert "onnx.external_data" in rules(results["model.onnx"])
    data = results["model.onnx_data"]
    assert data.format == "onnx-external-data"
    assert data.verdict == Verdict.SAFE, data.findings
    assert model.exists()


def test_onnx_external_data_with_a_generic_name_is_resolved_through_the_model(tmp_path):
    rf.onnx_with_external(tmp_path, "weights.bin")  # a .bin that is NOT a pickle: only the model says so
    result = scan_file(tmp_path / "weights.bin")
    assert result.format == "onnx-external-data"
    assert result.verdict == Verdict.SAFE, result.findings
    # the same bytes without the model next to them stay unknown (fail closed)
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "weights.bin").write_bytes((tmp_path / "weights.bin").read_bytes())
    assert scan_file(alone / "weights.bin").verdict == Verdict.UNSCANNABLE
    # and remote scans (no folder) do not guess from a generic name
    from scanning.scanners.base import BytesReader

    assert scan_reader(BytesReader((tmp_path / "weights.bin").read_bytes()), "weights.bin").verdict != Verdict.SAFE


def test_a_pickle_named_like_external_data_is_still_a_pickle(tmp_path):
    rf.onnx_with_external(tmp_path, "model.onnx_data")
    (tmp_path / "model.onnx_data").write_bytes(rf.evil_pickle())
    result = scan_file(tmp_path / "model.onnx_data")
    assert result.verdict == Verdict.MALICIOUS
    assert "format.mismatch" in rules(result)


def _tf_saved_model(directory):
    """A real SavedModel written by TensorFlow (subprocess: TF is heavy and chatty)."""
    import os
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "import tensorflow as tf\n"
        "class M(tf.Module):\n"
        "    def __init__(self):\n"
        "        self.w = tf.Variable(tf.ones([4, 4]), name='w')\n"
        "        self.b = tf.Variable(tf.zeros([4]), name='b')\n"
        "    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])\n"
        "    def __call__(self, x):\n"
        "        return tf.matmul(x, self.w) + self.b\n"
        "tf.saved_model.save(M(), sys.argv[1])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(directory)],
        capture_output=True,
        timeout=300,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    if proc.returncode != 0:
        pytest.skip(f"tensorflow not usable here: {proc.stderr[-300:]!r}")
    return directory


@pytest.mark.slow  # runs TensorFlow (~10 s)
def test_real_tensorflow_saved_model_folder_is_not_flagged(tmp_path):
    pytest.importorskip("tensorflow")
    folder = _tf_saved_model(tmp_path / "sm")
    results = {str(p.relative_to(folder)): scan_file(p) for p in folder.rglob("*") if p.is_file()}
    assert "variables/variables.index" in results
    assert "variables/variables.data-00000-of-00001" in results
    for name, result in results.items():
        assert result.verdict == Verdict.SAFE, (name, result.findings)
    assert results["variables/variables.index"].format == "tensorflow-checkpoint"
    index_msg = next(f.message for f in results["variables/variables.index"].findings)
    assert "tensors in 1 shard" in index_msg


def test_checkpoint_index_written_by_hand_per_the_leveldb_table_format():
    """Same layout TF's table builder writes (no compression), one header and one tensor entry."""
    import struct

    from scanning.scanners import protobuf as pbw

    def varint(n):
        return pbw._varint(n)

    def block(entries):
        out = b""
        for k, v in entries:
            out += varint(0) + varint(len(k)) + varint(len(v)) + k + v
        return out + struct.pack("<II", 0, 1)

    header = pbw.enc_varint(1, 1)  # num_shards
    entry = pbw.enc_varint(1, 1) + pbw.enc_varint(3, 0) + pbw.enc_varint(4, 0) + pbw.enc_varint(5, 64)
    data_block = block([(b"", header), (b"w/.ATTRIBUTES/VARIABLE_VALUE", entry)])
    trailer = b"\0" + bytes(4)
    index_block = block([(b"x", varint(0) + varint(len(data_block)))])
    body = data_block + trailer
    index_off = len(body)
    body += index_block + trailer
    meta_off = len(body)
    meta = block([])
    body += meta + trailer
    handles = varint(meta_off) + varint(len(meta)) + varint(index_off) + varint(len(index_block))
    footer = handles + bytes(40 - len(handles)) + struct.pack("<Q", 0xDB4775248B80FB57)
    good = body + footer
    ok = scan_reader(BytesReader(good), "variables/variables.index")
    assert ok.format == "tensorflow-checkpoint" and ok.verdict == Verdict.SAFE, ok.findings
    bad_entry = pbw.enc_varint(3, 7) + pbw.enc_varint(5, 2**60)  # shard 7 of 1, absurd size
    bad_block = block([(b"", header), (b"w", bad_entry)])
    assert len(bad_block) != len(data_block)
    bad_body = bad_block + trailer
    bad_index = block([(b"x", varint(0) + varint(len(bad_block)))])
    io_ = len(bad_body)
    bad_body += bad_index + trailer
    mo = len(bad_body)
    bad_body += meta + trailer
    h = varint(mo) + varint(len(meta)) + varint(io_) + varint(len(bad_index))
    bad = bad_body + h + bytes(40 - len(h)) + struct.pack("<Q", 0xDB4775248B80FB57)
    result = scan_reader(BytesReader(bad), "variables/variables.index")
    assert result.verdict == Verdict.SUSPICIOUS
    assert "tensorflow.checkpoint.invalid" in rules(result)
    cut = scan_reader(BytesReader(good[:20] + good[-48:]), "variables/variables.index")
    assert cut.verdict == Verdict.UNSCANNABLE


def test_pickle_named_like_a_checkpoint_shard_is_still_a_pickle():
    result = scan_reader(BytesReader(rf.evil_pickle()), "variables/variables.data-00000-of-00001")
    assert result.verdict == Verdict.MALICIOUS
    assert "format.mismatch" in rules(result)
