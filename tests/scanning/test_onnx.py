"""ONNX scanning through the streaming protobuf reader."""

from __future__ import annotations

import pytest
from onnx import TensorProto, helper

from scanning.scanners import onnx as onnx_scanner
from scanning.scanners import protobuf as pb
from scanning.scanners.base import BytesReader, ScanContext, Verdict, verdict_of
from tests.scanning.corpus_formats import onnx_external, onnx_if, onnx_mlp, onnx_model, rules, run


def scan(model) -> ScanContext:
    return run(onnx_scanner.scan, model.SerializeToString(), "model.onnx")


def test_real_model_is_safe():
    assert scan(onnx_mlp()).findings == []


def test_standard_domains_are_safe():
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("FusedGemm", ["h"], ["h2"], domain="com.microsoft"),
        helper.make_node("LabelEncoder", ["h2"], ["y"], domain="ai.onnx.ml"),
    ]
    opsets = [
        helper.make_opsetid("", 17),
        helper.make_opsetid("com.microsoft", 1),
        helper.make_opsetid("ai.onnx.ml", 3),
        helper.make_opsetid("com.microsoft.nchwc", 1),
    ]
    assert scan(onnx_model(nodes, opsets=opsets)).findings == []


def test_custom_domain_is_suspicious():
    node = helper.make_node("Backdoor", ["x"], ["y"], domain="com.attacker.ops")
    ctx = scan(onnx_model([node], opsets=[helper.make_opsetid("", 17), helper.make_opsetid("com.attacker.ops", 1)]))
    assert rules(ctx) == {"onnx.custom_domain"}
    assert verdict_of(ctx.findings) == Verdict.SUSPICIOUS
    assert "Backdoor" in ctx.findings[0].evidence


def test_custom_opset_only_is_suspicious():
    ctx = scan(
        onnx_model(
            [helper.make_node("Relu", ["x"], ["y"])],
            opsets=[helper.make_opsetid("", 17), helper.make_opsetid("evil", 1)],
        )
    )
    assert rules(ctx) == {"onnx.custom_domain"}


def test_nested_subgraph_is_walked():
    ctx = scan(onnx_if("deep.custom"))
    assert rules(ctx) == {"onnx.custom_domain"}
    assert scan(onnx_if("")).findings == []


def test_loop_body_deeply_nested():
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]
    graph = helper.make_graph([helper.make_node("Custom", ["x"], ["y"], domain="x.deep")], "g0", [], out)
    for i in range(5):
        graph = helper.make_graph([helper.make_node("Loop", ["m", "c"], ["y"], body=graph)], f"g{i + 1}", [], out)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert rules(scan(model)) == {"onnx.custom_domain"}


def test_excessive_nesting_is_unscannable():
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g0", [], out)
    for i in range(onnx_scanner.MAX_GRAPH_DEPTH + 2):
        graph = helper.make_graph([helper.make_node("Loop", ["m"], ["y"], body=graph)], f"g{i}", [], out)
    ctx = scan(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert verdict_of(ctx.findings) == Verdict.UNSCANNABLE


@pytest.mark.parametrize(
    "location",
    [
        "../weights.bin",
        "../../../../etc/passwd",
        "/etc/shadow",
        "C:\\Windows\\win.ini",
        "sub/../../x.bin",
        "\\\\server\\share\\w.bin",
        "file:///etc/passwd",
        "~/.ssh/id_rsa",
        "w.bin\x00.txt",
        "a\\..\\..\\b",
    ],
)
def test_external_data_escape_is_malicious(location):
    ctx = scan(onnx_external(location))
    assert "onnx.external_data.escape" in rules(ctx)
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS


@pytest.mark.parametrize("location", ["weights.bin", "data/model.onnx_data", "a..b.bin", "..weights"])
def test_external_data_inside_repo_is_info(location):
    ctx = scan(onnx_external(location))
    assert rules(ctx) == {"onnx.external_data"}
    assert verdict_of(ctx.findings) == Verdict.SAFE


def test_external_flag_without_location_is_suspicious():
    t = TensorProto()
    t.name, t.data_type, t.data_location = "w", TensorProto.FLOAT, TensorProto.EXTERNAL
    ctx = scan(onnx_model([helper.make_node("Relu", ["w"], ["y"])], [t]))
    assert rules(ctx) == {"onnx.external_data.invalid"}


def test_external_in_node_attribute_tensor():
    t = TensorProto()
    t.name, t.data_type, t.data_location = "c", TensorProto.FLOAT, TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "/proc/self/environ"
    ctx = scan(onnx_model([helper.make_node("Constant", [], ["y"], value=t)]))
    assert "onnx.external_data.escape" in rules(ctx)


def test_model_local_function_domain_is_not_custom_op():
    fn = helper.make_function(
        "local.fns", "MyRelu", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])], [helper.make_opsetid("", 17)]
    )
    model = onnx_model(
        [helper.make_node("MyRelu", ["x"], ["y"], domain="local.fns")],
        opsets=[helper.make_opsetid("", 17), helper.make_opsetid("local.fns", 1)],
    )
    model.functions.append(fn)
    assert scan(model).findings == []


def test_raw_data_is_skipped_not_read():
    import numpy as np
    from onnx import numpy_helper

    big = numpy_helper.from_array(np.zeros((1024, 1024), dtype=np.float32), "w")  # 4 MiB raw_data
    data = onnx_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [big]).SerializeToString()
    reader = BytesReader(data)
    ctx = ScanContext()
    onnx_scanner.scan(reader, ctx)
    assert ctx.findings == []
    assert reader.bytes_read < 512 * 1024


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"garbage that is not protobuf",
        b"\x08\x07",
        b"\x08\x07\x3a\x05abc",
        b"\x0b\x0c",
        pb.enc_varint(1, 8) + pb.enc_bytes(7, b"\xff\xff"),
    ],
)
def test_garbage_is_unscannable(data):
    ctx = run(onnx_scanner.scan, data)
    assert rules(ctx) == {"onnx.malformed"}


def test_truncated_model_is_never_safe():
    data = onnx_mlp().SerializeToString()
    for cut in range(len(data)):
        assert run(onnx_scanner.scan, data[:cut]).findings, cut


def test_protobuf_reader_roundtrip():
    msg = pb.enc_varint(1, 300) + pb.enc_bytes(2, "hi") + pb.enc_msg(3, pb.enc_varint(1, 1))
    win = pb.Window(BytesReader(msg))
    got = [(f.number, f.wire, f.value) for f in pb.fields(win, 0, len(msg))]
    assert got == [(1, 0, 300), (2, 2, 2), (3, 2, 2)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80" * 11, "varint"),  # never-ending varint
        (b"\x0b", "wire type 3"),  # start group
        (b"\x00\x01", "field number 0"),
        (b"\x09\x01\x02", "fixed64"),
        (b"\x0d\x01", "fixed32"),
        (b"\x0a\x05ab", "overruns"),
    ],
)
def test_protobuf_reader_rejects_malformed_wire_data(data, message):
    from scanning.scanners.fmtcommon import FormatError

    win = pb.Window(BytesReader(data))
    with pytest.raises(FormatError, match=message):
        list(pb.fields(win, 0, len(data)))


def test_protobuf_reader_fixed_fields_and_text():
    import struct

    msg = b"\x09" + struct.pack("<Q", 7) + b"\x15" + struct.pack("<I", 9) + pb.enc_bytes(3, "h\xe9llo".encode())
    win = pb.Window(BytesReader(msg))
    fields = list(pb.fields(win, 0, len(msg)))
    assert [(f.number, f.value) for f in fields[:2]] == [(1, 7), (2, 9)]
    assert pb.text(win, fields[2]) == "h\xe9llo"
    assert pb.text(win, pb.Field(3, pb.LEN, 2, fields[2].offset + 2)) == "\ufffdl"  # starts inside a UTF-8 sequence
