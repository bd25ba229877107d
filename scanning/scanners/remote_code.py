"""Remote-code scanner: ``.py`` files and JSON configs of a model repository.

``transformers`` runs repository Python when a user passes ``trust_remote_code=True``: the
``auto_map`` of ``config.json``/``tokenizer_config.json`` names the modules to import. This
scanner never imports or executes anything: Python is parsed with :func:`ast.parse` and walked.

Python rules (format ``python``), analysed by :mod:`scanning.scanners.remote_python`:

* capabilities (suspicious, high) - ``python.process`` / ``python.network`` / ``python.native`` /
  ``python.code_exec`` / ``python.internals``: one finding per kind, evidence ``line N: call(…); …``.
  Starting ``nvcc -V``, fetching an image, loading a CUDA kernel are what remote code does.
* intent (malicious, critical) - ``python.payload`` (decoded payload executed),
  ``python.download_exec``, ``python.exfiltration`` (credentials/environment sent out),
  ``python.persistence``, ``python.reverse_shell``, ``python.obfuscation`` (hiding what is called).
* ``python.remote_code`` (suspicious, high) - a module that would run under
  ``trust_remote_code`` (``modeling_*``/``configuration_*``/``tokenization_*``/
  ``processing_*``/``image_processing_*``/``feature_extraction_*`` files, or one subclassing
  ``PreTrainedModel``/``PretrainedConfig``/``PreTrainedTokenizer*``).
* ``python.present`` (info) - any other Python file without capabilities.
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

from . import jinja, remote_python
from .base import Category, Reader, ScanContext, Severity, Verdict
from .fmtcommon import FormatError, basename, read_bounded, short, strict_json

FORMAT = "python"
FORMAT_JSON = "json"

DIFFUSERS_LIBRARIES = {"diffusers", "transformers", "onnxruntime.training", "k_diffusion", "open_clip"}
REMOTE_CODE_FILE = re.compile(
    r"^(modeling|configuration|tokenization|processing|image_processing|feature_extraction|video_processing)_.*\.py$"
)
MAX_REPORTED = 25
# ``"chat_template": "chat_template.jinja"`` / ``"templates/tool_use.jinja"``: a reference, not a template.
_TEMPLATE_PATH = re.compile(r"[\w.\-/]+\.(?:jinja2?|j2)")


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
    try:
        analysis = remote_python.Analysis().run(tree)
    except RecursionError:
        ctx.unscannable("python.too_deep", "Python AST nested too deeply to analyse")
        return
    for rule, hits in analysis.intents.items():
        category, what = _INTENTS[rule]
        ctx.add(
            rule,
            category,
            Severity.CRITICAL,
            Verdict.MALICIOUS,
            f"Python code in the model repository {what}",
            _lines(hits),
        )
    for kind, hits in analysis.capabilities().items():
        category, what = _CAPABILITIES[kind]
        ctx.add(
            f"python.{kind}",
            category,
            Severity.HIGH,
            Verdict.SUSPICIOUS,
            f"Python code in the model repository {what} (a capability; no sign of intent found)",
            _lines(hits),
        )
    if REMOTE_CODE_FILE.match(name) or analysis.remote_bases:
        ctx.add(
            "python.remote_code",
            Category.REMOTE_CODE,
            Severity.HIGH,
            Verdict.SUSPICIOUS,
            "module runs on the loading machine under trust_remote_code=True",
            ", ".join(analysis.remote_bases[:5]) or name,
        )
    elif not analysis.intents and not analysis.capabilities():
        ctx.add(
            "python.present",
            Category.REMOTE_CODE,
            Severity.INFO,
            Verdict.SAFE,
            "Python file in the model repository (no dangerous calls found)",
            name,
        )


_INTENTS = {
    "python.payload": (Category.OBFUSCATION, "executes a decoded (obfuscated) payload"),
    "python.download_exec": (Category.NETWORK, "downloads code and executes it"),
    "python.exfiltration": (Category.NETWORK, "sends credentials or the environment over the network"),
    "python.persistence": (Category.FILESYSTEM, "installs itself to run again (persistence)"),
    "python.reverse_shell": (Category.PROCESS, "wires a network socket to a shell (reverse shell)"),
    "python.obfuscation": (Category.OBFUSCATION, "hides what it calls (interpreter internals, computed names)"),
}
_CAPABILITIES = {
    "process": (Category.PROCESS, "can start processes"),
    "network": (Category.NETWORK, "can open network connections"),
    "native": (Category.CODE_EXECUTION, "loads native code (shared library / compiled kernel)"),
    "code_exec": (Category.CODE_EXECUTION, "can execute dynamically built code or deserialize objects"),
    "internals": (Category.OBFUSCATION, "reaches interpreter internals"),
}


def _lines(hits: list[remote_python.Hit]) -> str:
    """``line 12: subprocess.check_output(…); line 40: …`` (first lines, de-duplicated)."""
    seen: list[str] = []
    for h in sorted(hits, key=lambda h: h.line):
        text = f"line {h.line}: {h.evidence}"
        if text not in seen:
            seen.append(text)
    more = f"; … {len(seen) - 6} more" if len(seen) > 6 else ""
    return short("; ".join(seen[:6]) + more, 400)


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
