"""Keras HDF5 and .keras scanning: Lambda bytecode, function references, custom objects."""

from __future__ import annotations

import base64
import json
import zipfile

import pytest

from scanning.scanners import keras
from scanning.scanners.base import BytesReader, FileReader, ScanContext, Verdict, verdict_of
from tests.scanning.corpus_formats import (
    KERAS2_CONFIG,
    _k3,
    keras2_with,
    keras3_config,
    lambda_code,
    mini_router,
    rules,
    run,
    write_h5,
    write_keras3,
)


def scan_file(path) -> ScanContext:
    ctx = ScanContext(path=str(path), scan_nested=mini_router)
    with FileReader(path) as reader:
        keras.scan(reader, ctx)
    return ctx


def lam(function, **extra):
    return {
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "function": function,
            "function_type": "lambda",
            "module": "__main__",
            "arguments": {},
            **extra,
        },
    }


def test_realistic_h5_is_safe(tmp_path):
    write_h5(tmp_path / "m.h5", KERAS2_CONFIG)
    assert scan_file(tmp_path / "m.h5").findings == []


def test_weights_only_h5_is_safe(tmp_path):
    write_h5(tmp_path / "w.h5", None)
    assert scan_file(tmp_path / "w.h5").findings == []


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: __import__("os").system("id") or x,
        lambda x: eval("x"),  # noqa: S307 - only marshalled, never run
        lambda x: open("/etc/passwd").read(),  # noqa: SIM115
        lambda x: __import__("subprocess").check_output(["id"]),
        lambda x: __import__("socket").socket(),
    ],
)
def test_lambda_with_dangerous_names_is_malicious(tmp_path, fn):
    write_h5(tmp_path / "m.h5", keras2_with(lam([lambda_code(fn), None, None])))
    ctx = scan_file(tmp_path / "m.h5")
    assert "keras.lambda.dangerous" in rules(ctx)
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS


def test_benign_lambda_is_suspicious(tmp_path):
    write_h5(tmp_path / "m.h5", keras2_with(lam([lambda_code(lambda x: x * 2), None, None])))
    ctx = scan_file(tmp_path / "m.h5")
    assert rules(ctx) == {"keras.lambda.code"}
    assert verdict_of(ctx.findings) == Verdict.SUSPICIOUS


def test_legacy_string_lambda_and_output_shape_lambda(tmp_path):
    cfg = keras2_with(
        lam(
            lambda_code(lambda x: x),
            output_shape=[lambda_code(lambda s: __import__("os")), None, None],
            output_shape_type="lambda",
        )
    )
    write_h5(tmp_path / "m.h5", cfg)
    ctx = scan_file(tmp_path / "m.h5")
    assert {"keras.lambda.code", "keras.lambda.dangerous"} <= rules(ctx)


@pytest.mark.parametrize(
    ("module", "function"),
    [("os", "system"), ("subprocess", "Popen"), ("builtins", "eval"), ("builtins", "exec"), ("posix", "system")],
)
def test_function_module_reference_is_malicious(tmp_path, module, function):
    layer = {
        "class_name": "Lambda",
        "config": {"name": "l", "function": function, "module": module, "function_type": "function"},
    }
    write_h5(tmp_path / "m.h5", keras2_with(layer))
    ctx = scan_file(tmp_path / "m.h5")
    assert "keras.function.dangerous" in rules(ctx)
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS


def test_function_reference_to_user_module_is_suspicious(tmp_path):
    layer = {
        "class_name": "Lambda",
        "config": {"name": "l", "function": "my_activation", "module": "my_pkg.acts", "function_type": "function"},
    }
    write_h5(tmp_path / "m.h5", keras2_with(layer))
    assert rules(scan_file(tmp_path / "m.h5")) == {"keras.custom_object"}


def test_invalid_model_config_is_unscannable(tmp_path):
    import h5py

    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": '
    ctx = scan_file(tmp_path / "m.h5")
    assert rules(ctx) == {"keras.config.invalid"}


def test_truncated_and_garbage_hdf5_are_unscannable(tmp_path):
    write_h5(tmp_path / "m.h5", KERAS2_CONFIG)
    data = (tmp_path / "m.h5").read_bytes()
    for cut in (8, 100, 800, 2000, len(data) // 2, len(data) - 1):
        ctx = run(keras.scan, data[:cut])
        assert verdict_of(ctx.findings) == Verdict.UNSCANNABLE, cut
    assert verdict_of(run(keras.scan, b"\x89HDF\r\n\x1a\n" + b"\xff" * 600).findings) == Verdict.UNSCANNABLE
    assert rules(run(keras.scan, b"not a model")) == {"keras.malformed"}


# --------------------------------------------------------------------------- Keras 3 .keras


def test_keras3_zip_is_safe_and_weights_are_scanned(tmp_path):
    write_h5(tmp_path / "w.h5", None)
    write_keras3(tmp_path / "m.keras", keras3_config(), tmp_path / "w.h5")
    ctx = scan_file(tmp_path / "m.keras")
    assert ctx.findings == []
    assert "hdf5" in ctx.formats


def test_keras3_lambda_is_malicious(tmp_path):
    code = lambda_code(lambda x: __import__("os").system("id"))
    layer = _k3(
        "keras.layers",
        "Lambda",
        {
            "name": "l",
            "function": {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}},
        },
    )
    write_keras3(tmp_path / "m.keras", keras3_config([layer]))
    assert "keras.lambda.dangerous" in rules(scan_file(tmp_path / "m.keras"))


def test_keras3_builtins_eval_function_is_malicious(tmp_path):
    layer = _k3(
        "keras.layers",
        "Lambda",
        {
            "name": "l",
            "function": {
                "module": "builtins",
                "class_name": "function",
                "config": "eval",
                "registered_name": "function",
            },
        },
    )
    write_keras3(tmp_path / "m.keras", keras3_config([layer]))
    assert verdict_of(scan_file(tmp_path / "m.keras").findings) == Verdict.MALICIOUS


def test_keras3_custom_object_is_suspicious(tmp_path):
    layer = _k3("acme.layers", "Fancy", {"name": "f"}, "Acme>Fancy")
    write_keras3(tmp_path / "m.keras", keras3_config([layer]))
    ctx = scan_file(tmp_path / "m.keras")
    assert rules(ctx) == {"keras.custom_object"}
    assert ctx.findings[0].category.value == "remote-code"


def test_keras3_object_in_os_module_is_malicious(tmp_path):
    layer = _k3("os", "system", {"name": "f"})
    write_keras3(tmp_path / "m.keras", keras3_config([layer]))
    assert "keras.function.dangerous" in rules(scan_file(tmp_path / "m.keras"))


def test_keras3_zip_problems(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.keras", "w") as z:
        z.writestr("metadata.json", "{}")
    assert rules(scan_file(tmp_path / "a.keras")) == {"keras.malformed"}
    with zipfile.ZipFile(tmp_path / "b.keras", "w") as z:
        z.writestr("config.json", "{oops")
    assert rules(scan_file(tmp_path / "b.keras")) == {"keras.config.invalid"}
    with zipfile.ZipFile(tmp_path / "c.keras", "w") as z:
        z.writestr("config.json", json.dumps(keras3_config()))
        z.writestr("../../evil.sh", "id")
    assert "archive.path_traversal" in rules(scan_file(tmp_path / "c.keras"))
    (tmp_path / "d.keras").write_bytes(b"PK\x03\x04" + bytes(50))
    assert verdict_of(scan_file(tmp_path / "d.keras").findings) == Verdict.UNSCANNABLE


def test_keras3_config_bomb_hits_limit(tmp_path):
    from scanning.scanners.base import LimitExceeded

    with zipfile.ZipFile(tmp_path / "bomb.keras", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", " " * (20 * 1024 * 1024))
    with pytest.raises(LimitExceeded):
        scan_file(tmp_path / "bomb.keras")


def test_code_names_needs_no_unmarshal():
    raw = base64.b64decode(lambda_code(lambda x: __import__("os").popen("id")))
    assert {b"os", b"popen", b"__import__"} <= keras.code_names(raw)
    assert keras.code_names(base64.b64decode(lambda_code(lambda x: x + 1))) == set()


def test_tf_keras_tuple_encoded_lambda(tmp_path):
    """tf.keras 2.x writes the (code, defaults, closure) tuple as {"class_name": "__tuple__", "items": [...]}."""
    evil = {"class_name": "__tuple__", "items": [lambda_code(lambda x: __import__("os").system("id")), None, None]}
    write_h5(tmp_path / "m.h5", keras2_with(lam(evil)))
    assert "keras.lambda.dangerous" in rules(scan_file(tmp_path / "m.h5"))
    benign = {"class_name": "__tuple__", "items": [lambda_code(lambda x: x + 1), None, None]}
    write_h5(tmp_path / "b.h5", keras2_with(lam(benign)))
    assert rules(scan_file(tmp_path / "b.h5")) == {"keras.lambda.code"}


def test_unknown_lambda_encoding_is_suspicious(tmp_path):
    write_h5(tmp_path / "m.h5", keras2_with(lam({"class_name": "Mystery", "blob": "x"})))
    assert verdict_of(scan_file(tmp_path / "m.h5").findings) >= Verdict.SUSPICIOUS


@pytest.mark.parametrize(
    ("target", "verdict"),
    [("/etc/passwd", Verdict.MALICIOUS), ("../../secrets.h5", Verdict.MALICIOUS), ("shard2.h5", Verdict.SUSPICIOUS)],
)
def test_hdf5_external_links_are_flagged_not_followed(tmp_path, target, verdict):
    import h5py

    write_h5(tmp_path / "m.h5", KERAS2_CONFIG)
    with h5py.File(tmp_path / "m.h5", "a") as f:
        f["model_weights"]["ext"] = h5py.ExternalLink(target, "/")
        f["top_ext"] = h5py.ExternalLink(target, "/data")
    ctx = scan_file(tmp_path / "m.h5")
    assert rules(ctx) == {"hdf5.external_link"}
    assert len(ctx.findings) == 2
    assert verdict_of(ctx.findings) == verdict


def test_model_weights_as_external_link_is_not_followed(tmp_path):
    import h5py

    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.attrs["model_config"] = json.dumps(KERAS2_CONFIG)
        f["model_weights"] = h5py.ExternalLink("/nonexistent/other.h5", "/")
    ctx = scan_file(tmp_path / "m.h5")
    assert rules(ctx) == {"hdf5.external_link"}
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS


# Edits (start, end, replacement) turning write_h5(KERAS2_CONFIG) into a file on which libhdf5 1.14 (h5py 3.16)
# never returns from reading a root attribute; found by the mutation fuzzer.
HANG_EDITS = [
    (1665, 1666, b"\x80"),
    (2690, 2691, b"%"),
    (2843, 2843, b"\\\x0e\x1f!u\xe4\xa3\xe2\xab"),
    (2914, 2915, b""),
    (7615, 7615, b"\x02"),
    (7999, 8001, b" "),
    (8274, 8275, b"\x04"),
    (10044, 10045, b"\x80"),
]


def test_hdf5_library_hang_is_killed_at_the_deadline(tmp_path):
    """The h5py child process is killed at the scan deadline; the scanner itself never hangs."""
    import time

    from scanning.scanners.base import LimitExceeded, Limits

    write_h5(tmp_path / "m.h5", KERAS2_CONFIG)
    data = (tmp_path / "m.h5").read_bytes()
    out, pos = [], 0
    for start, end, replacement in HANG_EDITS:
        out += [data[pos:start], replacement]
        pos = end
    mutated = b"".join([*out, data[pos:]])
    ctx = ScanContext(limits=Limits(max_seconds=3), scan_nested=mini_router)
    started = time.monotonic()
    with pytest.raises(LimitExceeded):
        keras.scan(BytesReader(mutated), ctx)
    assert time.monotonic() - started < 10
