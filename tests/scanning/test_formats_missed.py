"""Issue 10 part B item 2: attacks the scanner used to miss entirely.

Benign cases from the real libraries (numpy, torch.save, skops.io.dump, onnx.helper, keras); attacks
from the published techniques (Zip Slip, CVE-2025-8747 keras get_file, skops CVE-2025-54412/54413
style schema edits, onnxruntime PythonOp, weight_map escapes) with harmless targets.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest

from scanning.scanners import scan_file, scan_reader
from scanning.scanners.base import BytesReader, ScanContext, Verdict
from scanning.scanners.keras import walk_config
from tests.scanning import real_formats as rf
from tests.scanning.corpus_formats import _k3, keras3_config


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


# --------------------------------------------------------------------------- Zip Slip


@pytest.mark.parametrize("name", ["../../.bashrc", "/etc/cron.d/job", "a/../../b.sh", "C:\\Windows\\x.dll", "..\\x"])
def test_zip_slip_in_a_generic_zip_is_flagged_like_tar(tmp_path, name):
    result = scan_file(rf.zip_slip(tmp_path / "bundle.zip", [name]))
    assert result.verdict == Verdict.MALICIOUS
    (hit,) = [f for f in result.findings if f.rule == "archive.path_traversal"]
    assert hit.category == "filesystem"  # the tar rule's category
    assert hit.evidence == name


def test_zip_slip_inside_a_real_npz_and_a_torch_checkpoint(tmp_path):
    import numpy as np

    npz = tmp_path / "w.npz"
    np.savez(npz, a=np.ones(3))
    with zipfile.ZipFile(npz, "a") as z:
        info = zipfile.ZipInfo("x")
        info.filename = "../evil.npy"
        z.writestr(info, b"x")
    assert "archive.path_traversal" in rules(scan_file(npz))
    pt = tmp_path / "model.pt"
    pt.write_bytes(rf.torch_zip_bytes())
    with zipfile.ZipFile(pt, "a") as z:
        info = zipfile.ZipInfo("x")
        info.filename = "/tmp/evil.py"
        z.writestr(info, b"print(1)")
    assert "archive.path_traversal" in rules(scan_file(pt))


def test_benign_zips_have_no_traversal(tmp_path):
    import numpy as np

    np.savez(tmp_path / "w.npz", a=np.ones(3))
    (tmp_path / "m.pt").write_bytes(rf.torch_zip_bytes())
    for p in (tmp_path / "w.npz", tmp_path / "m.pt"):
        result = scan_file(p)
        assert result.verdict == Verdict.SAFE, result.findings


# --------------------------------------------------------------------------- sharded-checkpoint indexes


def _index(weight_map: dict[str, str]) -> bytes:
    return json.dumps({"metadata": {"total_size": 1234}, "weight_map": weight_map}).encode()


def test_real_index_from_transformers_layout_is_safe():
    doc = _index(
        {"embed.weight": "model-00001-of-00002.safetensors", "lm_head.weight": "model-00002-of-00002.safetensors"}
    )
    result = scan_reader(BytesReader(doc), "model.safetensors.index.json")
    assert result.verdict == Verdict.SAFE, result.findings


@pytest.mark.parametrize(
    "target",
    ["../../../etc/passwd", "/home/user/.cache/x.bin", "https://evil.example/x.bin", "C:\\x.bin", "sub/../../x.bin"],
)
@pytest.mark.parametrize("index", ["model.safetensors.index.json", "pytorch_model.bin.index.json"])
def test_weight_map_outside_the_repo_is_malicious(target, index):
    result = scan_reader(BytesReader(_index({"a": "model-00001-of-00001.safetensors", "b": target})), index)
    assert result.verdict == Verdict.MALICIOUS
    (hit,) = [f for f in result.findings if f.rule == "weights_index.escape"]
    assert target in hit.evidence


def test_safetensors_index_pointing_at_pickles_is_suspicious():
    result = scan_reader(BytesReader(_index({"a": "pytorch_model-00001.bin"})), "model.safetensors.index.json")
    assert result.verdict == Verdict.SUSPICIOUS
    assert "weights_index.unscanned_format" in rules(result)
    assert (
        scan_reader(BytesReader(_index({"a": "pytorch_model-00001.bin"})), "pytorch_model.bin.index.json").verdict
        == Verdict.SAFE
    )


def test_index_inside_an_archive_is_checked(tmp_path):
    path = rf.zip_with(
        tmp_path / "repo.zip", {"m/model.safetensors.index.json": _index({"a": "/etc/shadow"})}, zipfile.ZIP_DEFLATED
    )
    assert "weights_index.escape" in rules(scan_file(path))


# --------------------------------------------------------------------------- skops


def _skops_model(tmp_path):
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    model = make_pipeline(FunctionTransformer(np.abs), StandardScaler(), LogisticRegression())
    model.fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    return path


def _edit_schema(src, dst, edit):
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "schema.json":
                data = json.dumps(edit(json.loads(data))).encode()
            zout.writestr(info.filename, data)
    dst.write_bytes(buf.getvalue())
    return dst


def _replace_node(doc, match, new):
    if isinstance(doc, dict):
        if all(doc.get(k) == v for k, v in match.items()):
            doc.update(new)
            return doc
        return {k: _replace_node(v, match, new) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_replace_node(v, match, new) for v in doc]
    return doc


@pytest.mark.slow  # scikit-learn + skops
def test_real_skops_pipeline_is_safe_and_edited_schemas_are_judged(tmp_path):
    import skops.io as sio

    path = _skops_model(tmp_path)
    assert sio.get_untrusted_types(file=path) == []
    result = scan_file(path)
    assert result.format == "skops"
    assert result.verdict == Verdict.SAFE, result.findings
    numpy_abs = {"__module__": "numpy", "__class__": "absolute", "__loader__": "FunctionNode"}
    evil = _edit_schema(
        path,
        tmp_path / "evil.skops",
        lambda d: _replace_node(d, numpy_abs, {"__module__": "posix", "__class__": "system"}),
    )
    result = scan_file(evil)
    assert result.verdict == Verdict.MALICIOUS
    assert any(f.rule == "skops.callable.dangerous" and "posix.system" in f.evidence for f in result.findings)
    odd = _edit_schema(
        path,
        tmp_path / "odd.skops",
        lambda d: _replace_node(d, numpy_abs, {"__module__": "mypkg.tools", "__class__": "helper"}),
    )
    result = scan_file(odd)
    assert result.verdict == Verdict.SUSPICIOUS
    assert "skops.untrusted_type" in rules(result)


@pytest.mark.parametrize(
    ("module", "cls", "loader", "verdict"),
    [
        ("builtins", "eval", "FunctionNode", Verdict.MALICIOUS),
        ("operator", "methodcaller", "OperatorFuncNode", Verdict.MALICIOUS),  # CVE-2025-54412 class
        ("subprocess", "Popen", "ObjectNode", Verdict.MALICIOUS),
        ("importlib", "import_module", "FunctionNode", Verdict.MALICIOUS),
        ("sklearn.linear_model._logistic", "LogisticRegression", "ObjectNode", Verdict.SAFE),
        ("numpy", "float64", "TypeNode", Verdict.SAFE),
        ("builtins", "dict", "DictNode", Verdict.SAFE),
        ("xgboost.sklearn", "XGBClassifier", "ObjectNode", Verdict.SUSPICIOUS),
    ],
)
def test_skops_schema_names(module, cls, loader, verdict):
    schema = {
        "__class__": "Pipeline",
        "__module__": "sklearn.pipeline",
        "__loader__": "ObjectNode",
        "content": {
            "__class__": "dict",
            "__module__": "builtins",
            "__loader__": "DictNode",
            "content": {"x": {"__module__": module, "__class__": cls, "__loader__": loader}},
        },
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("schema.json", json.dumps(schema))
    result = scan_reader(BytesReader(buf.getvalue()), "model.skops")
    assert result.format == "skops"
    assert result.verdict == verdict, result.findings


# --------------------------------------------------------------------------- Keras


def test_keras_get_file_cve_2025_8747(tmp_path):
    """JFrog's safe-mode bypass: a config entry resolving to keras.utils.get_file downloads to a chosen path."""
    gadget = _k3(
        "keras.utils",
        "get_file",
        {"fname": "authorized_keys", "origin": "http://127.0.0.1/k", "cache_dir": "/root/.ssh", "cache_subdir": "."},
    )
    config = keras3_config([_k3("keras.layers", "Dense", {"name": "d", "units": 1, "kernel_initializer": gadget})])
    result = scan_file(rf.keras_config_model(tmp_path / "m.keras", config))
    assert result.verdict == Verdict.MALICIOUS
    (hit,) = [f for f in result.findings if f.rule == "keras.callable.dangerous"]
    assert "keras.utils.get_file" in hit.evidence


@pytest.mark.parametrize(
    ("obj", "rule"),
    [
        (
            {"module": "keras.saving", "class_name": "load_model", "config": {"filepath": "/tmp/x.keras"}},
            "keras.callable.dangerous",
        ),
        (
            {"module": "keras.config", "class_name": "enable_unsafe_deserialization", "config": {}},
            "keras.callable.dangerous",
        ),
        ({"module": "keras.src.utils.file_utils", "class_name": "get_file", "config": {}}, "keras.callable.dangerous"),
        (
            {"module": "keras.layers", "class_name": "TFSMLayer", "config": {"filepath": "/srv/other_model"}},
            "keras.callable.dangerous",
        ),
        (
            {"class_name": "function", "module": "keras.utils", "config": "get_file", "registered_name": "function"},
            "keras.callable.dangerous",
        ),
        ({"module": "keras.utils", "class_name": "to_categorical", "config": {}}, "keras.callable"),
        (
            {"module": "keras", "class_name": "Foo", "config": {}, "registered_name": "keras.utils>get_file"},
            "keras.callable.dangerous",
        ),
    ],
)
def test_keras_non_layer_callables(obj, rule):
    ctx = ScanContext()
    walk_config(keras3_config([obj]), ctx, "config.json")
    assert rule in {f.rule for f in ctx.findings}


def test_ordinary_keras_config_has_no_callable_findings():
    ctx = ScanContext()
    walk_config(keras3_config(), ctx, "config.json")
    assert ctx.findings == []


def _evil_code() -> str:
    # marshal layout of a code object naming os.system (never produced by marshal.dumps here: no exec)
    return base64.b64encode(b"\xe3\x00\x00\x00\x00\xda\x02os\xda\x06system\xa9\x00").decode()


def _lambda(code: str) -> dict:
    return _k3(
        "keras.layers",
        "Lambda",
        {"name": "l", "function": _k3("builtins", "__lambda__", {"code": code}), "arguments": {}},
    )


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(
            lambda lam: _k3("keras.layers", "TimeDistributed", {"name": "td", "layer": lam}), id="TimeDistributed"
        ),
        pytest.param(
            lambda lam: _k3(
                "keras.layers",
                "Bidirectional",
                {
                    "name": "bi",
                    "layer": _k3("keras.layers", "RNN", {"cell": lam}),
                    "backward_layer": _k3("keras.layers", "RNN", {"cell": lam}),
                },
            ),
            id="Bidirectional",
        ),
        pytest.param(
            lambda lam: _k3("keras", "Sequential", {"name": "inner", "layers": [lam]}), id="nested-Sequential"
        ),
        pytest.param(
            lambda lam: _k3(
                "keras", "Functional", {"name": "f", "layers": [_k3("keras", "Sequential", {"layers": [lam]})]}
            ),
            id="Functional-in-Sequential",
        ),
    ],
)
def test_lambda_nested_in_wrappers_is_decoded(wrap):
    ctx = ScanContext()
    walk_config(keras3_config([wrap(_lambda(_evil_code()))]), ctx, "config.json")
    hits = [f for f in ctx.findings if f.rule == "keras.lambda.dangerous"]
    assert hits and all(f.verdict == Verdict.MALICIOUS for f in hits)
    assert "os" in hits[0].evidence and "system" in hits[0].evidence


@pytest.mark.slow  # imports keras
def test_real_keras_nested_lambda_is_decoded(tmp_path):
    import os
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "os.environ['KERAS_BACKEND'] = 'torch'\n"
        "import keras\n"
        "inner = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: __import__('os').system('true') or t)])\n"
        "inp = keras.Input((3, 4))\n"
        "x = keras.layers.TimeDistributed(keras.layers.Lambda(lambda t: t * 2))(inp)\n"
        "x = keras.layers.TimeDistributed(inner)(x)\n"
        "keras.Model(inp, x).save(sys.argv[1])\n"
    )
    path = tmp_path / "nested.keras"
    subprocess.run(
        [sys.executable, "-c", script, str(path)], check=True, capture_output=True, timeout=300, env=os.environ
    )
    result = scan_file(path)
    assert result.verdict == Verdict.MALICIOUS
    dangerous = [f for f in result.findings if f.rule == "keras.lambda.dangerous"]
    assert (
        dangerous and "layers[2].config.layer.config.layers[1]" in dangerous[0].evidence
    )  # TimeDistributed(Sequential)


# --------------------------------------------------------------------------- ONNX custom domains


def test_onnx_python_op_is_malicious(tmp_path):
    result = scan_file(rf.onnx_python_op(tmp_path / "m.onnx"))
    assert result.verdict == Verdict.MALICIOUS
    (hit,) = [f for f in result.findings if f.rule == "onnx.python_op"]
    assert "com.microsoft::PythonOp" in hit.evidence and "os.system" in hit.evidence


def test_onnx_contrib_pyop_is_malicious_and_other_custom_domains_suspicious(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    def model(domain, op):
        node = helper.make_node(op, ["X"], ["Y"], domain=domain)
        graph = helper.make_graph(
            [node],
            "g",
            [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])],
        )
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)])
        return m.SerializeToString()

    assert scan_reader(BytesReader(model("ai.onnx.contrib", "PyOp")), "m.onnx").verdict == Verdict.MALICIOUS
    custom = scan_reader(BytesReader(model("com.example.ops", "FastGelu")), "m.onnx")
    assert custom.verdict == Verdict.SUSPICIOUS and "onnx.custom_domain" in rules(custom)
    native = scan_reader(BytesReader(model("com.microsoft", "FusedMatMul")), "m.onnx")
    assert native.verdict == Verdict.SAFE, native.findings
    assert onnx.__version__


# --------------------------------------------------------------------------- TensorFlow ops with host paths


def _const_string(name: str, value: str) -> bytes:
    from scanning.scanners.protobuf import enc_bytes, enc_msg, enc_varint

    tensor = enc_varint(1, 7) + enc_bytes(8, value)  # TensorProto{dtype: DT_STRING, string_val: [value]}
    attr = enc_msg(5, enc_bytes(1, "value"), enc_msg(2, enc_bytes(8, tensor)))
    return enc_bytes(1, name) + enc_bytes(2, "Const") + attr


@pytest.mark.parametrize(
    ("op", "path", "verdict"),
    [
        ("ReadFile", "/etc/passwd", Verdict.MALICIOUS),
        ("MatchingFiles", "/home/*/.ssh/*", Verdict.MALICIOUS),
        ("WriteFile", "~/.bashrc", Verdict.MALICIOUS),
        ("SaveV2", "/tmp/../root/.profile", Verdict.MALICIOUS),
        ("CreateSummaryFileWriter", "/var/tmp/logs", Verdict.MALICIOUS),
        ("CreateSummaryFileWriter", "logs", Verdict.SUSPICIOUS),
        ("ReadFile", "assets/vocab.txt", Verdict.SUSPICIOUS),
    ],
)
def test_tf_file_ops_with_host_paths(op, path, verdict):
    from tests.scanning.corpus_formats import tf_function, tf_node, tf_realistic

    fn = tf_function("__inference_leak_7", [_const_string("path", path), tf_node("op", op, ("path:output:0",))])
    result = scan_reader(BytesReader(tf_realistic(extra_functions=[fn])), "saved_model.pb")
    assert result.verdict == verdict, result.findings
    if verdict == Verdict.MALICIOUS:
        (hit,) = [f for f in result.findings if f.rule == "tensorflow.op.host_path"]
        assert path in hit.evidence and op in hit.evidence


def test_tf_host_path_constant_at_graph_level_and_standard_saver_untouched():
    from tests.scanning.corpus_formats import tf_node, tf_realistic

    graph_level = tf_realistic(
        extra_nodes=[_const_string("p", "C:\\Users\\x\\secret.txt"), tf_node("r", "ReadFile", ("p",))]
    )
    assert "tensorflow.op.host_path" in rules(scan_reader(BytesReader(graph_level), "saved_model.pb"))
    saver = tf_realistic(extra_nodes=[_const_string("save/Const", "model")])  # TF1 saver default prefix
    result = scan_reader(BytesReader(saver), "saved_model.pb")
    assert result.verdict == Verdict.SAFE, result.findings


@pytest.mark.slow  # runs TensorFlow
def test_real_tf_graph_reading_a_host_file(tmp_path):
    import os
    import subprocess
    import sys

    pytest.importorskip("tensorflow")
    script = (
        "import os, sys\n"
        "os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "import tensorflow as tf\n"
        "class M(tf.Module):\n"
        "    @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])\n"
        "    def __call__(self, x):\n"
        "        return tf.strings.length(tf.io.read_file('/etc/hostname'))\n"
        "tf.saved_model.save(M(), sys.argv[1])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "sm")], capture_output=True, timeout=300, env=os.environ
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    result = scan_file(tmp_path / "sm" / "saved_model.pb")
    assert result.verdict == Verdict.MALICIOUS
    assert any(f.rule == "tensorflow.op.host_path" and "/etc/hostname" in f.evidence for f in result.findings)
