"""Remote-code scanner: ``.py`` files and JSON configs of a model repository.

``transformers`` runs repository Python when a user passes ``trust_remote_code=True``: the
``auto_map`` of ``config.json``/``tokenizer_config.json`` names the modules to import. This
scanner never imports or executes anything: Python is parsed with :func:`ast.parse` and walked.

Python rules (format ``python``):

* ``python.process`` / ``python.code_exec`` / ``python.network`` / ``python.obfuscation``
  (malicious) - calls of ``os.system``/``subprocess.*``/``pty.spawn``…, ``eval``/``exec``/
  ``compile``/``__import__``/``importlib.import_module``/``marshal.loads``/``pickle.loads``,
  network clients (``socket``, ``urllib``, ``requests``, ``httpx``, ``http.client``), and
  ``exec(base64.b64decode(...))``-style decoding feeding execution, and reaching Python internals
  (``__builtins__``, ``__globals__``, ``__subclasses__``, ``sys.modules['os']``). Import aliases
  (``import subprocess as sp``, ``from os import system as s``, ``from os import *``) are resolved.
* ``python.remote_code`` (suspicious, high) - a module that would run under
  ``trust_remote_code`` (``modeling_*``/``configuration_*``/``tokenization_*``/
  ``processing_*``/``image_processing_*``/``feature_extraction_*`` files, or one subclassing
  ``PreTrainedModel``/``PretrainedConfig``/``PreTrainedTokenizer*``).
* ``python.present`` (info) - any other Python file without dangerous calls.
* ``python.syntax`` (suspicious) - not parseable: cannot be analysed, but the loader would fail too.

JSON rules (format ``json``):

* ``config.auto_map`` (suspicious, high, remote-code) - every ``auto_map`` entry, evidence
  ``auto_map.AutoModel -> modeling_x.MyModel``; entries pointing to another repo (``org/repo--mod.Cls``)
  are named as such.
* ``config.custom_pipeline`` / ``config.custom_component`` (suspicious, high, remote-code) -
  ``custom_pipelines`` of a transformers config, diffusers ``model_index.json`` components whose
  library is not ``diffusers``/``transformers`` (loaded from repository modules).
* ``config.trust_remote_code`` (info) - a config asks for ``trust_remote_code``.
* ``tokenizer.chat_template.*`` - the ``chat_template`` of ``tokenizer_config.json`` /
  ``processor_config.json`` / ``chat_template.json`` (string or list of named templates) goes through
  :mod:`scanning.scanners.jinja` (``jinja.*`` rules); a value that only names a ``.jinja`` file is
  ``config.chat_template_file`` (info): the router analyses that file as a template by itself.
* ``json.invalid`` (unscannable) - not strict JSON.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from . import jinja
from .base import Category, Reader, ScanContext, Severity, Verdict
from .fmtcommon import FormatError, basename, read_bounded, short, strict_json

FORMAT = "python"
FORMAT_JSON = "json"

PROCESS_CALLS = {
    "os.system",
    "os.popen",
    "os.execv",
    "os.execve",
    "os.execl",
    "os.execle",
    "os.execlp",
    "os.execvp",
    "os.execvpe",
    "os.spawnl",
    "os.spawnv",
    "os.spawnve",
    "os.spawnlp",
    "os.spawnvp",
    "os.posix_spawn",
    "os.posix_spawnp",
    "os.fork",
    "os.forkpty",
    "pty.spawn",
    "posix.system",
    "nt.system",
    "commands.getoutput",
    "platform.popen",
    "ctypes.CDLL",
    "ctypes.cdll.LoadLibrary",
}
PROCESS_MODULES = {"subprocess", "pexpect", "sh", "plumbum"}
CODE_EXEC_CALLS = {
    "eval",
    "exec",
    "compile",
    "__import__",
    "execfile",
    "builtins.eval",
    "builtins.exec",
    "builtins.__import__",
    "importlib.import_module",
    "importlib.__import__",
    "marshal.loads",
    "pickle.loads",
    "pickle.load",
    "cPickle.loads",
    "dill.loads",
    "runpy.run_path",
    "runpy.run_module",
    "types.FunctionType",
    "types.CodeType",
}
NETWORK_MODULES = {
    "socket",
    "urllib",
    "urllib2",
    "urllib3",
    "requests",
    "httpx",
    "http",
    "aiohttp",
    "ftplib",
    "telnetlib",
    "smtplib",
    "paramiko",
    "websocket",
    "websockets",
}
# Names only needed to reach Python internals (sandbox escapes, builtins smuggling, frame walking).
INTERNALS = {
    "__builtins__",
    "__subclasses__",
    "__globals__",
    "__code__",
    "func_globals",
    "f_globals",
    "f_builtins",
    "gi_frame",
    "tb_frame",
    "co_code",
    "__reduce__",
    "__reduce_ex__",
}
NETWORK_HARMLESS = ("urllib.parse", "http.HTTPStatus", "requests.exceptions", "http.cookies")
DECODERS = {
    "base64.b64decode",
    "base64.b32decode",
    "base64.a85decode",
    "base64.b85decode",
    "base64.decodebytes",
    "codecs.decode",
    "zlib.decompress",
    "bytes.fromhex",
    "binascii.unhexlify",
    "binascii.a2b_base64",
}
DIFFUSERS_LIBRARIES = {"diffusers", "transformers", "onnxruntime.training", "k_diffusion", "open_clip"}
REMOTE_CODE_FILE = re.compile(
    r"^(modeling|configuration|tokenization|processing|image_processing|feature_extraction|video_processing)_.*\.py$"
)
REMOTE_CODE_BASES = re.compile(r"^(PreTrained|Pretrained)\w*$|^(ProcessorMixin|GenerationMixin|PretrainedConfig)$")
MAX_REPORTED = 25
# ``"chat_template": "chat_template.jinja"`` / ``"templates/tool_use.jinja"``: a reference, not a template.
_TEMPLATE_PATH = re.compile(r"[\w.\-/]+\.(?:jinja2?|j2)")


class _PyVisitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.hits: list[tuple[str, Category, str, int]] = []  # rule, category, evidence, line
        self.remote_bases: list[str] = []
        self.star: list[str] = []  # modules imported with ``from m import *``

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.aliases[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            self._import_hit(a.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        for a in node.names:
            if a.name == "*":
                self.star.append(mod)
                continue
            self.aliases[a.asname or a.name] = f"{mod}.{a.name}" if mod else a.name
            self._import_hit(f"{mod}.{a.name}" if mod else a.name, node.lineno)

    def _import_hit(self, name: str, line: int) -> None:
        root = name.split(".")[0]
        if root in PROCESS_MODULES or name in PROCESS_CALLS:
            self.hits.append(("python.process", Category.PROCESS, f"import {name}", line))
        # network modules are judged by their calls: ``from urllib.parse import urljoin`` is harmless

    def resolve(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            if node.id not in self.aliases:
                for mod in self.star:  # from os import *; system("id")
                    if f"{mod}.{node.id}" in PROCESS_CALLS or f"{mod}.{node.id}" in CODE_EXEC_CALLS:
                        return f"{mod}.{node.id}"
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else ""
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            return node.args[0].value
        return ""

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            name = self.resolve(base).rsplit(".", 1)[-1]
            if REMOTE_CODE_BASES.match(name):
                self.remote_bases.append(f"class {node.name}({name})")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in INTERNALS:
            self.hits.append(("python.obfuscation", Category.OBFUSCATION, f"….{node.attr}", node.lineno))
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in INTERNALS:
            self.hits.append(("python.obfuscation", Category.OBFUSCATION, node.id, node.lineno))

    def visit_Subscript(self, node: ast.Subscript) -> None:
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            base = self.resolve(node.value)
            target = key.value
            if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name):
                base = node.value.func.id  # globals()[…], vars()[…], locals()[…]
            if target in INTERNALS or (
                (base in ("sys.modules", "globals", "vars") or base.endswith("__dict__"))
                and (
                    target in PROCESS_MODULES
                    or target in ("os", "builtins", "__builtins__")
                    or target in CODE_EXEC_CALLS
                )
            ):
                self.hits.append(("python.obfuscation", Category.OBFUSCATION, f"{base}[{target!r}]", node.lineno))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.resolve(node.func)
        root = name.split(".")[0]
        line = node.lineno
        if name in PROCESS_CALLS or root in PROCESS_MODULES:
            self.hits.append(("python.process", Category.PROCESS, f"{name}(…)", line))
        elif name in CODE_EXEC_CALLS or name.endswith(".__import__"):
            decoded = any(
                isinstance(n, ast.Call) and self.resolve(n.func) in DECODERS for n in ast.walk(node) if n is not node
            )
            if decoded:
                self.hits.append(("python.obfuscation", Category.OBFUSCATION, f"{name}(<decoded payload>)", line))
            else:
                self.hits.append(("python.code_exec", Category.CODE_EXECUTION, f"{name}(…)", line))
        elif root in NETWORK_MODULES and not name.startswith(NETWORK_HARMLESS):
            self.hits.append(("python.network", Category.NETWORK, f"{name}(…)", line))
        elif isinstance(node.func, ast.Name) and node.func.id in ("getattr",) and len(node.args) >= 2:
            target = self.resolve(node.args[0])
            attr = node.args[1]
            if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                full = f"{target}.{attr.value}"
                if full in PROCESS_CALLS or full in CODE_EXEC_CALLS or target.split(".")[0] in PROCESS_MODULES:
                    self.hits.append(("python.process", Category.PROCESS, f"getattr({target}, {attr.value!r})", line))
        self.generic_visit(node)


def scan(reader: Reader, ctx: ScanContext) -> None:
    """Dispatch on content: JSON configs vs Python source."""
    head = reader.read_at(0, 64).lstrip()
    if head[:1] in (b"{", b"[") or basename(ctx).lower().endswith(".json"):
        scan_json(reader, ctx)
    else:
        scan_python(reader, ctx)


def scan_python(reader: Reader, ctx: ScanContext) -> None:
    """Static AST scan of a Python file; see the module docstring."""
    data = read_bounded(reader, ctx, what="Python file")
    name = basename(ctx)
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        source = data.decode("latin-1")
    try:
        tree = ast.parse(source, filename=name or "<repo file>")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        ctx.add(
            "python.syntax",
            Category.REMOTE_CODE,
            Severity.MEDIUM,
            Verdict.SUSPICIOUS,
            "Python file cannot be parsed; its behaviour cannot be analysed",
            short(str(exc), 200),
        )
        return
    visitor = _PyVisitor()
    try:
        visitor.visit(tree)
    except RecursionError:
        ctx.unscannable("python.too_deep", "Python AST nested too deeply to analyse")
        return
    seen: set[tuple[str, str]] = set()
    for rule, category, evidence, line in visitor.hits:
        if (rule, evidence) in seen or len(seen) >= MAX_REPORTED:
            continue
        seen.add((rule, evidence))
        ctx.add(
            rule,
            category,
            Severity.CRITICAL,
            Verdict.MALICIOUS,
            f"Python code in the model repository {_WHAT[rule]}",
            f"line {line}: {evidence}",
        )
    if REMOTE_CODE_FILE.match(name) or visitor.remote_bases:
        ctx.add(
            "python.remote_code",
            Category.REMOTE_CODE,
            Severity.HIGH,
            Verdict.SUSPICIOUS,
            "module runs on the loading machine under trust_remote_code=True",
            ", ".join(visitor.remote_bases[:5]) or name,
        )
    elif not visitor.hits:
        ctx.add(
            "python.present",
            Category.REMOTE_CODE,
            Severity.INFO,
            Verdict.SAFE,
            "Python file in the model repository (no dangerous calls found)",
            name,
        )


_WHAT = {
    "python.process": "starts processes or loads native code",
    "python.code_exec": "executes dynamically built code",
    "python.network": "opens network connections",
    "python.obfuscation": "executes a decoded (obfuscated) payload",
}


def scan_json(reader: Reader, ctx: ScanContext) -> None:
    """``config.json``/``tokenizer_config.json``/other JSON: auto_map, trust_remote_code, chat_template."""
    data = read_bounded(reader, ctx, what="JSON file")
    try:
        doc = strict_json(data)
    except FormatError as exc:
        ctx.unscannable("json.invalid", "JSON file cannot be parsed", str(exc))
        return
    if not isinstance(doc, dict):
        return
    check_config(doc, ctx)


def check_config(doc: dict[str, Any], ctx: ScanContext) -> None:
    auto_map = doc.get("auto_map")
    if isinstance(auto_map, dict):
        for key, target in list(auto_map.items())[:MAX_REPORTED]:
            targets = target if isinstance(target, list) else [target]
            for t in targets:
                if t is None:
                    continue
                ctx.add(
                    "config.auto_map",
                    Category.REMOTE_CODE,
                    Severity.HIGH,
                    Verdict.SUSPICIOUS,
                    "config maps a model class to repository code (runs under trust_remote_code)"
                    + (" in another repository" if isinstance(t, str) and "--" in t else ""),
                    f"auto_map.{short(key, 60)} -> {short(t, 120)}",
                )
    elif auto_map is not None:
        ctx.add(
            "config.auto_map",
            Category.REMOTE_CODE,
            Severity.HIGH,
            Verdict.SUSPICIOUS,
            "config has a malformed auto_map",
            short(auto_map, 120),
        )
    pipelines = doc.get("custom_pipelines")
    if isinstance(pipelines, dict):
        for task, spec in list(pipelines.items())[:MAX_REPORTED]:
            impl = spec.get("impl") if isinstance(spec, dict) else spec
            ctx.add(
                "config.custom_pipeline",
                Category.REMOTE_CODE,
                Severity.HIGH,
                Verdict.SUSPICIOUS,
                "config registers a custom pipeline implemented by repository code",
                f"custom_pipelines.{short(task, 60)} -> {short(impl, 120)}",
            )
    if isinstance(doc.get("_class_name"), str) and "_diffusers_version" in doc:  # diffusers model_index.json
        for key, value in list(doc.items())[:256]:
            if (
                isinstance(value, list)
                and len(value) == 2
                and isinstance(value[0], str)
                and value[0] not in DIFFUSERS_LIBRARIES
            ):
                ctx.add(
                    "config.custom_component",
                    Category.REMOTE_CODE,
                    Severity.HIGH,
                    Verdict.SUSPICIOUS,
                    "diffusers pipeline component comes from repository code",
                    f"{short(key, 60)} -> {short(value[0], 80)}.{short(value[1], 80)}",
                )
    if doc.get("trust_remote_code") is True:
        ctx.add(
            "config.trust_remote_code",
            Category.REMOTE_CODE,
            Severity.INFO,
            Verdict.SAFE,
            "config asks loaders for trust_remote_code",
            "trust_remote_code: true",
        )
    template = doc.get("chat_template")
    if isinstance(template, str) and _TEMPLATE_PATH.fullmatch(template.strip()):
        ctx.add(
            "config.chat_template_file",
            Category.REMOTE_CODE,
            Severity.INFO,
            Verdict.SAFE,
            "chat_template names a template file; the file itself is analysed as a template",
            short(template.strip(), 160),
        )
    elif isinstance(template, str):
        jinja.report(ctx, template, "chat_template")
    elif isinstance(template, list):
        for i, item in enumerate(template[:64]):
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                jinja.report(ctx, item["template"], f"chat_template[{short(item.get('name', i), 40)}]")


def referenced_modules(doc: dict[str, Any]) -> set[str]:
    """Module file names (``modeling_x.py``) an ``auto_map`` would import, for repo-level correlation."""
    out: set[str] = set()
    auto_map = doc.get("auto_map")
    if isinstance(auto_map, dict):
        for target in auto_map.values():
            for t in target if isinstance(target, list) else [target]:
                if isinstance(t, str) and "." in t:
                    out.add(t.split("--")[-1].rsplit(".", 1)[0] + ".py")
    return out


def readme_hints(text: str) -> list[str]:
    """Lines of a README/model card that tell users to pass ``trust_remote_code=True``."""
    return [short(line.strip(), 160) for line in text.splitlines() if "trust_remote_code" in line][:10]
