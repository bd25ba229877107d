"""Static analysis of Jinja2 chat templates (``tokenizer_config.json``, ``chat_template.jinja``, GGUF).

Loaders such as llama-cpp-python (CVE-2024-34359) and some transformers versions rendered chat
templates in a non-sandboxed Jinja environment; a template that walks Python object internals
(``''.__class__.__mro__[1].__subclasses__()``, ``cycler.__init__.__globals__.os.popen``) gets code
execution at model-load / first-chat time.

The template is parsed with Jinja2's own parser, configured like transformers' chat-template
environment (``ImmutableSandboxedEnvironment`` with ``loopcontrols`` and the ``{% generation %}`` tag):
``Environment.parse`` only lexes and builds the AST - nothing is compiled, rendered or imported. The AST
is then judged with the sandbox's own rules, statically:

* ``jinja.ssti.dunder`` (malicious, code-execution) - an attribute, subscript, ``attr()`` filter argument,
  ``map``/``selectattr``/``sort``… ``attribute=`` path or ``str.format`` field that reaches a name the
  sandbox treats as internal (``__``-prefixed: ``__class__``, ``__globals__``…, name-mangled
  ``_TemplateReference__context``), including names *built* by the template: string literals,
  ``~``/``+`` concatenation, ``*`` repetition, ``%``/``format``/``str.format`` (``'%c'|format(95)``),
  ``join`` (of lists and of ``dict(__cla=1, ss__=1)``), ``replace``, ``reverse``, ``lower``/``upper``,
  slicing, conditional expressions and ``{% set %}`` variables (also ``namespace`` attributes) across the
  template are folded to their possible values. A name assembled from unknown pieces that still starts or
  ends with ``__`` counts too.
* ``jinja.ssti.internals`` (malicious, code-execution) - attributes the sandbox's
  ``is_internal_attribute`` blocks on functions, methods, types, frames, code objects and generators
  (``func_globals``, ``mro``, ``gi_frame``, ``f_globals``, ``tb_frame``, ``co_code``…), Flask gadgets
  (``request.…``, ``config.items()``…), calls of process/eval functions through a module attribute
  (``….os.popen(…)``).
* ``jinja.ssti.attr_filter`` - the ``attr`` filter (the standard way around ``.``/``[]`` blocklists;
  chat templates never need it): malicious with a computed or internal name, suspicious otherwise; same
  for ``map('attr', …)``.
* ``jinja.obfuscation`` (suspicious) - ``%c`` formatting, underscore-only pieces being assembled,
  character harvesting from ``|string`` of objects (``(lipsum|string)[0]``, ``x|string|list``).
* ``jinja.private_attr`` (suspicious) - access to a ``_private`` attribute (the sandbox denies it).
* ``jinja.loader`` (suspicious, filesystem) - ``include``/``import``/``extends``: a chat template has no
  loader; with one, these read other files.
* ``jinja.syntax`` (suspicious) - the template does not parse; it is then searched token by token
  (:mod:`scanning.scanners.jinja_lexical`) so that a lenient renderer's reading is still covered.
* ``jinja.too_large`` (unscannable) - over :data:`MAX_TEMPLATE_CHARS`.

Normal template features are not findings: loops, macros, ``namespace()`` objects (``ns.system`` is a
namespace attribute, not ``os.system``), ``raise_exception``, ``strftime_now``, ``tojson``, ``|string``
of message fields, English prose in string literals.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import jinja2.ext
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from . import jinja_lexical
from .base import Category, Finding, Reader, ScanContext, Severity, Verdict
from .fmtcommon import basename, read_bounded, short

FORMAT = "jinja"
TEMPLATE_EXTENSIONS = (".jinja", ".jinja2", ".j2")  # chat_template.jinja, additional_chat_templates/*.jinja
MAX_TEMPLATE_CHARS = 256 * 1024  # real chat templates are < 50 KB; bounds analysis time
MAX_ISSUES = 25
_MAX_ALTS = 64  # alternatives kept per folded string expression
_MAX_LEN = 512  # characters kept per folded string
_MAX_DEPTH = 60  # folding recursion
UNKNOWN = "\uffff"  # stands for a part of a folded string that depends on the data

JinjaIssue = jinja_lexical.JinjaIssue

# What ``jinja2.sandbox.is_internal_attribute`` blocks besides ``__``-prefixed names, by object kind
# (function/method attributes of Python 2, ``mro`` of types, generator/coroutine/async-generator frames,
# and every attribute of frame, code and traceback objects).
INTERNAL_ATTRS = {
    "func_closure",
    "func_code",
    "func_dict",
    "func_defaults",
    "func_globals",
    "im_class",
    "im_func",
    "im_self",
    "mro",
    "gi_frame",
    "gi_code",
    "gi_yieldfrom",
    "cr_frame",
    "cr_code",
    "cr_await",
    "ag_frame",
    "ag_code",
    "f_globals",
    "f_locals",
    "f_builtins",
    "f_back",
    "f_code",
    "tb_frame",
    "tb_next",
    "co_code",
    "co_consts",
    "co_names",
}
# Module-like attribute names and the process/eval functions reached through them (``x.os.popen('id')``).
_MODULE_ATTRS = {"os", "sys", "subprocess", "builtins", "importlib", "posix", "nt", "pty", "socket", "shutil", "io"}
_GADGET_CALLS = {
    "popen",
    "system",
    "check_output",
    "check_call",
    "getoutput",
    "run",
    "Popen",
    "spawnv",
    "spawnl",
    "execv",
    "execl",
    "import_module",
    "load_module",
    "eval",
    "exec",
    "open",
    "remove",
    "rmtree",
}
# Flask/Jinja web-context globals used by SSTI payloads; never defined for a chat template.
_WEB_GLOBALS = {"request", "config", "url_for", "get_flashed_messages", "session", "g"}
# Filters whose ``attribute=`` (or first positional) argument is an attribute path looked up with getattr.
_ATTRIBUTE_FILTERS = {"map", "sort", "groupby", "sum", "unique", "min", "max", "selectattr", "rejectattr"}
_POSITIONAL_ATTRIBUTE = {"selectattr", "rejectattr", "groupby"}
_DUNDER_NAME = re.compile(r"__\w*")
_MANGLED = re.compile(r"_[A-Za-z][A-Za-z0-9]*__\w+")
_PY_DUNDER_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])__[A-Za-z][A-Za-z0-9_]*?__(?![A-Za-z0-9])")
_PERCENT = re.compile(r"%(?:\((\w+)\))?([-+ #0]*)(\d+|\*)?(?:\.(\d+|\*))?([diouxXeEfFgGcrsa%])")
_BRACE_FIELD = re.compile(r"\{([^{}!:]*)(?:![rsa])?(?::[^{}]*)?\}")
_FIELD_ATTR = re.compile(r"\.([^.\[]+)|\[([^\]]+)\]")


class _GenerationTag(jinja2.ext.Extension):
    """Parse-only ``{% generation %}…{% endgeneration %}`` (transformers' ``AssistantTracker`` tag)."""

    tags = {"generation"}

    def parse(self, parser: jinja2.parser.Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def _environment() -> ImmutableSandboxedEnvironment:
    # Same parser configuration as transformers' chat templates; also accepts ``{% do %}``.
    return ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationTag, jinja2.ext.loopcontrols, jinja2.ext.do],
    )


_ENV = _environment()


def parse(template: str) -> nodes.Template:
    """Jinja2's AST of ``template`` (lexing and parsing only; raises ``TemplateSyntaxError``)."""
    return _ENV.parse(template)


@dataclass(frozen=True, slots=True)
class _Site:
    """Where an issue is: the line of the template and the expression, re-rendered."""

    line: int
    expr: str

    def evidence(self) -> str:
        return short(f"line {self.line}: {self.expr}", 200)


class _Issues:
    def __init__(self) -> None:
        self.items: list[JinjaIssue] = []
        self._seen: set[tuple[str, str]] = set()

    def hit(
        self,
        rule: str,
        verdict: Verdict,
        message: str,
        evidence: str,
        category: Category = Category.CODE_EXECUTION,
        severity: Severity | None = None,
    ) -> None:
        key = (rule, evidence)
        if key in self._seen or len(self.items) >= MAX_ISSUES:
            return
        self._seen.add(key)
        if severity is None:
            severity = Severity.CRITICAL if verdict == Verdict.MALICIOUS else Severity.MEDIUM
        self.items.append(JinjaIssue(rule, verdict, category, severity, message, evidence))


def analyse(template: str) -> list[JinjaIssue]:
    """Return the issues of a template (empty list = nothing dangerous found)."""
    issues = _Issues()
    if len(template) > MAX_TEMPLATE_CHARS:
        issues.hit(
            "jinja.too_large",
            Verdict.UNSCANNABLE,
            "chat template too large to analyse",
            str(len(template)),
            Category.UNSCANNABLE,
        )
        return issues.items
    try:
        tree = parse(template)
    except RecursionError:
        return _fallback(template, issues, "template nested too deeply for Jinja2's parser")
    except Exception as exc:  # TemplateSyntaxError and whatever a malformed template makes the lexer raise
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        return _fallback(template, issues, f"{getattr(exc, 'message', None) or exc}{where}")
    try:
        _Judge(template, tree, issues).run()
    except RecursionError:
        return _fallback(template, issues, "template nested too deeply to analyse")
    return issues.items


def _fallback(template: str, issues: _Issues, reason: str) -> list[JinjaIssue]:
    found = jinja_lexical.analyse_tokens(template)
    if not any(i.rule == "jinja.syntax" for i in found):
        issues.hit(
            "jinja.syntax",
            Verdict.SUSPICIOUS,
            "template does not parse as Jinja; analysed token by token",
            short(reason, 200),
            Category.FORMAT_ABUSE,
        )
    for issue in found:
        issues.hit(issue.rule, issue.verdict, issue.message, issue.evidence, issue.category, issue.severity)
    return issues.items


def _walk(node: nodes.Node, parent: nodes.Node | None = None) -> Iterator[tuple[nodes.Node, nodes.Node | None]]:
    """Every node with its parent, iteratively (no recursion on deep templates)."""
    stack: list[tuple[nodes.Node, nodes.Node | None]] = [(node, parent)]
    while stack:
        current, up = stack.pop()
        yield current, up
        children = list(current.iter_child_nodes())
        stack.extend((child, current) for child in reversed(children))


class _Judge:
    def __init__(self, source: str, tree: nodes.Template, issues: _Issues) -> None:
        self.lines = source.splitlines() or [""]
        self.tree = tree
        self.issues = issues
        # Values assigned to plain names ({% set x = … %}, {% for x in [literal] %}) and to namespace
        # attributes ({% set ns.x = … %}), for folding string expressions across the template.
        self.assigned: dict[str, list[nodes.Node]] = {}
        self.namespaces: set[str] = set()
        self.locals: set[str] = set()  # every name the template binds itself (set/for/macro/params)
        self._folding: set[str] = set()
        self._folded: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ collection

    def _collect(self) -> None:
        for node, _ in _walk(self.tree):
            if isinstance(node, nodes.Assign):
                self._bind(node.target, node.node)
            elif isinstance(node, nodes.AssignBlock):
                self._bind(node.target, None)
            elif isinstance(node, nodes.For):
                items = node.iter.items if isinstance(node.iter, (nodes.List, nodes.Tuple)) else None
                for target in self._targets(node.target):
                    self.locals.add(target.name)
                    if items is not None and isinstance(node.target, nodes.Name):
                        self.assigned.setdefault(target.name, []).extend(items)
                    else:
                        self.assigned.setdefault(target.name, []).append(nodes.Name("", "load"))
            elif isinstance(node, (nodes.Macro, nodes.CallBlock)):
                if isinstance(node, nodes.Macro):
                    self.locals.add(node.name)
                for arg in node.args:
                    self.locals.add(arg.name)

    def _targets(self, target: nodes.Node) -> list[nodes.Name]:
        if isinstance(target, nodes.Name):
            return [target]
        if isinstance(target, nodes.Tuple):
            return [t for t in target.items if isinstance(t, nodes.Name)]
        return []

    def _bind(self, target: nodes.Node, value: nodes.Node | None) -> None:
        unknown = nodes.Name("", "load")
        if isinstance(target, nodes.NSRef):
            self.assigned.setdefault(f"{target.name}.{target.attr}", []).append(value or unknown)
            return
        for name in self._targets(target):
            self.locals.add(name.name)
            single = isinstance(target, nodes.Name) and value is not None
            self.assigned.setdefault(name.name, []).append(value if single and value is not None else unknown)
            if single and isinstance(value, nodes.Call) and _is_name(value.node, "namespace"):
                self.namespaces.add(name.name)
                for kw in value.kwargs:
                    self.assigned.setdefault(f"{name.name}.{kw.key}", []).append(kw.value)

    # ------------------------------------------------------------------ judging

    def run(self) -> None:
        self._collect()
        for node, parent in _walk(self.tree):
            if isinstance(node, nodes.Getattr):
                self._getattr(node)
            elif isinstance(node, nodes.Getitem):
                self._getitem(node)
            elif isinstance(node, nodes.Filter):
                self._filter(node)
            elif isinstance(node, nodes.Call):
                self._call(node)
            elif isinstance(node, nodes.Name):
                self._name(node)
            elif isinstance(node, nodes.Const) and isinstance(node.value, str):
                self._const(node, parent)
            elif isinstance(node, nodes.NSRef) and node.attr.startswith("_"):
                self._sink_name(node.attr, node, "namespace attribute")
            elif isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
                self.issues.hit(
                    "jinja.loader",
                    Verdict.SUSPICIOUS,
                    f"template loads another template ({type(node).__name__.lower()}): reads files when a "
                    "loader is configured",
                    self._site(node).evidence(),
                    Category.FILESYSTEM,
                )
            if isinstance(node, (nodes.Concat, nodes.Add, nodes.Mul, nodes.Mod, nodes.Filter, nodes.Call)):
                self._built_string(node, parent)

    def _site(self, node: nodes.Node) -> _Site:
        return _Site(getattr(node, "lineno", 0) or 0, _render(node))

    def _sink_name(self, name: str, node: nodes.Node, how: str) -> None:
        """Judge a name the template looks up on an object (attribute, subscript, attr(), attribute=)."""
        site = self._site(node).evidence()
        if UNKNOWN in name:
            known = name.replace(UNKNOWN, "")
            if not known:
                return
            if name.startswith("__") or name.endswith("__") or (name.startswith("_") and "__" in known):
                self.issues.hit(
                    "jinja.ssti.dunder",
                    Verdict.MALICIOUS,
                    f"{how} name assembled from pieces looks like a Python dunder: {_show(name)!r}",
                    site,
                )
            elif name.startswith("_"):
                self.issues.hit(
                    "jinja.private_attr",
                    Verdict.SUSPICIOUS,
                    f"{how} name assembled from pieces starts with '_': {_show(name)!r}",
                    site,
                )
            return
        if name.startswith("__") or _MANGLED.fullmatch(name):
            self.issues.hit(
                "jinja.ssti.dunder",
                Verdict.MALICIOUS,
                f"template reaches Python internals via {how} {short(name, 60)!r}",
                site,
            )
        elif name in INTERNAL_ATTRS:
            self.issues.hit(
                "jinja.ssti.internals",
                Verdict.MALICIOUS,
                f"template reaches interpreter internals via {how} {name!r}",
                site,
            )
        elif name.startswith("_") and how != "subscript":
            self.issues.hit(
                "jinja.private_attr",
                Verdict.SUSPICIOUS,
                f"template accesses private {how} {short(name, 60)!r}",
                site,
            )

    def _getattr(self, node: nodes.Getattr) -> None:
        self._sink_name(node.attr, node, "attribute")
        base = node.node
        if isinstance(base, nodes.Name) and base.name in _WEB_GLOBALS and base.name not in self.locals:
            self.issues.hit(
                "jinja.ssti.internals",
                Verdict.MALICIOUS,
                f"template touches the web framework object {base.name!r} (SSTI gadget)",
                self._site(node).evidence(),
            )

    def _getitem(self, node: nodes.Getitem) -> None:
        if isinstance(node.arg, nodes.Slice):
            return
        base = node.node
        if isinstance(base, nodes.Name) and base.name in _WEB_GLOBALS and base.name not in self.locals:
            self.issues.hit(
                "jinja.ssti.internals",
                Verdict.MALICIOUS,
                f"template touches the web framework object {base.name!r} (SSTI gadget)",
                self._site(node).evidence(),
            )
        if isinstance(base, nodes.Filter) and base.name == "string" and _is_int(node.arg):
            self._harvest(node)
        for value in self.fold(node.arg):
            self._sink_name(value, node, "subscript")

    def _harvest(self, node: nodes.Node) -> None:
        self.issues.hit(
            "jinja.obfuscation",
            Verdict.SUSPICIOUS,
            "characters harvested from an object's string form (name building)",
            self._site(node).evidence(),
            Category.OBFUSCATION,
        )

    def _filter(self, node: nodes.Filter) -> None:
        name = node.name
        if name == "attr":
            self._attr_filter(node, node.args[0] if node.args else None)
        elif name in _ATTRIBUTE_FILTERS:
            paths: list[nodes.Node] = [kw.value for kw in node.kwargs if kw.key == "attribute"]
            if name in _POSITIONAL_ATTRIBUTE and node.args:
                paths.append(node.args[0])
            for path in paths:
                for value in self.fold(path):
                    for part in value.split("."):
                        if not part.isdigit():
                            self._sink_name(part, node, f"{name}() attribute")
            if name == "map" and node.args and "attr" in self.fold(node.args[0]):
                self._attr_filter(node, node.args[1] if len(node.args) > 1 else None)
        elif name == "list" and isinstance(node.node, nodes.Filter) and node.node.name == "string":
            source = node.node.node
            plain = isinstance(source, (nodes.Const, nodes.Name, nodes.Getattr, nodes.Getitem))
            if not plain or (isinstance(source, nodes.Name) and source.name in ("lipsum", "cycler", "joiner")):
                self._harvest(node)

    def _attr_filter(self, node: nodes.Node, arg: nodes.Node | None) -> None:
        site = self._site(node).evidence()
        values = self.fold(arg) if arg is not None else [UNKNOWN]
        if any(v.replace(UNKNOWN, "") == "" for v in values):
            self.issues.hit(
                "jinja.ssti.attr_filter",
                Verdict.MALICIOUS,
                "attr() filter with a computed attribute name (blocklist bypass)",
                site,
            )
        before = len(self.issues.items)
        for value in values:
            self._sink_name(value, node, "attr()")
        if len(self.issues.items) == before:
            self.issues.hit("jinja.ssti.attr_filter", Verdict.SUSPICIOUS, "attr() filter in a chat template", site)

    def _call(self, node: nodes.Call) -> None:
        func = node.node
        if isinstance(func, nodes.Getattr):
            if func.attr == "format":
                for fmt in self.fold(func.node):
                    for field in _BRACE_FIELD.finditer(fmt):
                        for m in _FIELD_ATTR.finditer(field.group(1)):
                            self._sink_name(m.group(1) or m.group(2), node, "format field")
            path = _dotted(func)
            if func.attr in _GADGET_CALLS and any(p in _MODULE_ATTRS for p in path[1:-1]):
                self.issues.hit(
                    "jinja.ssti.internals",
                    Verdict.MALICIOUS,
                    f"template calls {'.'.join(path[-2:])}() (process / code execution)",
                    self._site(node).evidence(),
                )

    def _name(self, node: nodes.Name) -> None:
        if node.ctx == "load" and node.name.startswith("__") and node.name not in self.locals:
            self._sink_name(node.name, node, "name")

    def _const(self, node: nodes.Const, parent: nodes.Node | None) -> None:
        value: str = node.value
        # An identifier-like literal naming an object-model dunder ("__globals__", "__class__.__mro__");
        # prose with spaces ("def __init__(self): …") is text.
        if " " not in value.strip() and any(
            m.group(0) in jinja_lexical.PY_DUNDERS for m in _PY_DUNDER_IN_TEXT.finditer(value)
        ):
            self.issues.hit(
                "jinja.ssti.dunder",
                Verdict.MALICIOUS,
                f"string literal names Python internals: {short(value, 60)!r}",
                self._site(parent or node).evidence(),
            )
        building = isinstance(parent, (nodes.Concat, nodes.Add, nodes.Mul, nodes.List, nodes.Tuple, nodes.Keyword))
        if value and set(value) == {"_"} and building:
            self.issues.hit(
                "jinja.obfuscation",
                Verdict.SUSPICIOUS,
                "underscore-only string piece (a dunder being assembled)",
                self._site(parent or node).evidence(),
                Category.OBFUSCATION,
            )
        formatted = (isinstance(parent, nodes.Filter) and parent.name == "format" and parent.node is node) or (
            isinstance(parent, nodes.Mod) and parent.left is node
        )
        if formatted and any(m.group(5) == "c" for m in _PERCENT.finditer(value)):
            self.issues.hit(
                "jinja.obfuscation",
                Verdict.SUSPICIOUS,
                "%c formatting builds strings character by character",
                self._site(parent or node).evidence(),
                Category.OBFUSCATION,
            )

    def _built_string(self, node: nodes.Node, parent: nodes.Node | None) -> None:
        """A string the template assembles that spells a Python dunder (wherever it is used)."""
        if isinstance(parent, (nodes.Concat, nodes.Add, nodes.Mul, nodes.Mod)):
            return  # judged once, at the outermost building node
        if isinstance(node, nodes.Filter) and node.name not in _STRING_FILTERS:
            return
        if isinstance(node, nodes.Call) and not (
            isinstance(node.node, nodes.Getattr) and node.node.attr in _STRING_METHODS
        ):
            return
        for value in self.fold(node):
            text = value.replace(UNKNOWN, " ")
            names = [m.group(0) for m in _PY_DUNDER_IN_TEXT.finditer(text)]
            if any(n in jinja_lexical.PY_DUNDERS for n in names) or _MANGLED.fullmatch(value):
                self.issues.hit(
                    "jinja.ssti.dunder",
                    Verdict.MALICIOUS,
                    f"string expression assembles Python internals: {_show(value)!r}",
                    self._site(node).evidence(),
                )
                return

    # ------------------------------------------------------------------ folding

    def fold(self, node: nodes.Node | None, depth: int = 0) -> list[str]:
        """Possible values of a string expression; :data:`UNKNOWN` marks data-dependent parts."""
        if node is None:
            return [""]
        if depth > _MAX_DEPTH:
            return [UNKNOWN]
        out = self._fold(node, depth + 1)
        return _cap(out) or [UNKNOWN]

    def _fold_ref(self, key: str, depth: int) -> list[str]:
        done = self._folded.get(key)
        if done is not None:
            return done
        values = self.assigned.get(key)
        if not values or key in self._folding:
            return [UNKNOWN]
        self._folding.add(key)
        try:
            out = _cap([v for value in values for v in self.fold(value, depth)])
        finally:
            self._folding.discard(key)
        self._folded[key] = out  # each variable is folded once (chains of sets stay linear)
        return out

    def _fold(self, node: nodes.Node, depth: int) -> list[str]:
        fold = self.fold
        if isinstance(node, nodes.Const):
            v = node.value
            if isinstance(v, str):
                return [v[:_MAX_LEN]]
            if isinstance(v, int | float) and not isinstance(v, bool):
                return [str(v)]
            return [UNKNOWN]
        if isinstance(node, nodes.Name):
            return self._fold_ref(node.name, depth) if node.name else [UNKNOWN]
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            return self._fold_ref(f"{node.node.name}.{node.attr}", depth)
        if isinstance(node, nodes.Concat):
            return _product([fold(n, depth) for n in node.nodes])
        if isinstance(node, nodes.Add):
            return _product([fold(node.left, depth), fold(node.right, depth)])
        if isinstance(node, nodes.Mul):
            for text, count in ((node.left, node.right), (node.right, node.left)):
                if _is_int(count) and not _is_int(text):
                    n = max(0, min(int(count.value), 64))  # type: ignore[attr-defined]
                    return [s * n for s in fold(text, depth)]
            return [UNKNOWN]
        if isinstance(node, nodes.Mod):
            args = node.right.items if isinstance(node.right, nodes.Tuple) else [node.right]
            return _percent(fold(node.left, depth), [self._arg(a, depth) for a in args])
        if isinstance(node, nodes.CondExpr):
            return fold(node.expr1, depth) + fold(node.expr2, depth)
        if isinstance(node, nodes.Getitem):
            return self._fold_item(node, depth)
        if isinstance(node, nodes.Filter):
            return self._fold_filter(node, depth)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            return self._fold_method(node, node.node, depth)
        return [UNKNOWN]

    def _arg(self, node: nodes.Node, depth: int) -> object:
        if isinstance(node, nodes.Const) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return node.value
        return self.fold(node, depth)[0]

    def _fold_item(self, node: nodes.Getitem, depth: int) -> list[str]:
        base = self.fold(node.node, depth)
        arg = node.arg
        out: list[str] = []
        for s in base:
            if UNKNOWN in s:
                out.append(UNKNOWN)
            elif isinstance(arg, nodes.Slice):
                bounds = [_int_of(x) for x in (arg.start, arg.stop, arg.step)]
                if any(b is False for b in bounds) or bounds[2] == 0:
                    out.append(UNKNOWN)
                else:
                    out.append(s[slice(*bounds)])  # type: ignore[misc]
            elif _is_int(arg) and -len(s) <= arg.value < len(s):  # type: ignore[attr-defined]
                out.append(s[arg.value])  # type: ignore[attr-defined]
            else:
                out.append(UNKNOWN)
        return out

    def _fold_filter(self, node: nodes.Filter, depth: int) -> list[str]:
        name = node.name
        fold = self.fold
        if name == "join":
            sep = fold(node.args[0], depth) if node.args else [""]
            items = self._sequence(node.node, depth)
            if items is None:
                return [UNKNOWN]
            return _product(_interleave(items, sep))
        base = fold(node.node, depth) if node.node is not None else [UNKNOWN]
        if name in ("lower", "upper", "title", "capitalize", "trim"):
            op = {"lower": str.lower, "upper": str.upper, "title": str.title, "capitalize": str.capitalize}
            return [s if UNKNOWN in s else op.get(name, str.strip)(s) for s in base]
        if name in ("string", "safe", "e", "escape", "list"):
            return base
        if name == "reverse":
            return [s[::-1] for s in base]
        if name in ("first", "last"):
            return [UNKNOWN if (not s or UNKNOWN in s) else s[0 if name == "first" else -1] for s in base]
        if name == "replace" and len(node.args) >= 2:
            olds, news = fold(node.args[0], depth), fold(node.args[1], depth)
            return [s.replace(o, n) for s in base for o in olds for n in news if UNKNOWN not in o]
        if name == "format":
            return _percent(base, [self._arg(a, depth) for a in node.args])
        if name in ("default", "d"):
            return base + (fold(node.args[0], depth) if node.args else [""])
        return [UNKNOWN]

    def _sequence(self, node: nodes.Node | None, depth: int) -> list[list[str]] | None:
        """Items of a joined sequence: literal lists, ``dict(k=…)`` keys, or the characters of a string."""
        if isinstance(node, (nodes.List, nodes.Tuple)):
            return [self.fold(i, depth) for i in node.items[:64]]
        if isinstance(node, nodes.Dict):
            return [self.fold(p.key, depth) for p in node.items[:64]]
        if isinstance(node, nodes.Call) and _is_name(node.node, "dict"):
            return [[kw.key] for kw in node.kwargs[:64]]
        if node is None:
            return None
        values = self.fold(node, depth)
        if all(UNKNOWN in v for v in values):
            return None
        return [values]  # a string joined is itself (separators are not interleaved between characters)

    def _fold_method(self, node: nodes.Call, func: nodes.Getattr, depth: int) -> list[str]:
        base = self.fold(func.node, depth)
        args = node.args
        if func.attr == "format":
            pos = [self.fold(a, depth)[0] for a in args]
            kws = {kw.key: self.fold(kw.value, depth)[0] for kw in node.kwargs}
            return [_braces(s, pos, kws) for s in base]
        if func.attr == "join" and args:
            items = self._sequence(args[0], depth)
            if items is None:
                return [UNKNOWN]
            return _product(_interleave(items, base))
        if func.attr == "replace" and len(args) >= 2:
            olds, news = self.fold(args[0], depth), self.fold(args[1], depth)
            return [s.replace(o, n) for s in base for o in olds for n in news if UNKNOWN not in o]
        if func.attr in ("lower", "upper", "strip", "lstrip", "rstrip", "title", "capitalize", "swapcase") and not args:
            return [s if UNKNOWN in s else getattr(str, func.attr)(s) for s in base]
        return [UNKNOWN]


_STRING_FILTERS = {"join", "format", "replace", "reverse", "lower", "upper", "title", "capitalize", "first", "last"}
_STRING_METHODS = {"format", "join", "replace", "lower", "upper", "title", "capitalize", "swapcase"}


def _is_name(node: nodes.Node, name: str) -> bool:
    return isinstance(node, nodes.Name) and node.name == name


def _is_int(node: nodes.Node | None) -> bool:
    return isinstance(node, nodes.Const) and isinstance(node.value, int) and not isinstance(node.value, bool)


def _int_of(node: nodes.Node | None) -> int | bool | None:
    """Value of an optional slice bound: None when absent, False when not a literal integer."""
    if node is None:
        return None
    if isinstance(node, nodes.Neg) and _is_int(node.node):
        return -int(node.node.value)  # type: ignore[attr-defined]
    return int(node.value) if _is_int(node) else False  # type: ignore[attr-defined]


def _dotted(node: nodes.Node) -> list[str]:
    parts: list[str] = []
    while isinstance(node, nodes.Getattr):
        parts.append(node.attr)
        node = node.node
    parts.append(node.name if isinstance(node, nodes.Name) else "…")
    return parts[::-1]


def _cap(values: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for v in values:
        v = v if len(v) <= _MAX_LEN else v[:_MAX_LEN] + UNKNOWN
        if v not in seen:
            seen.add(v)
            out.append(v)
            if len(out) >= _MAX_ALTS:
                break
    return out


def _product(parts: list[list[str]]) -> list[str]:
    out = [""]
    for alts in parts:
        out = _cap(["".join(p) for p in itertools.product(out, alts or [UNKNOWN])])
    return out


def _interleave(items: list[list[str]], sep: list[str]) -> list[list[str]]:
    """``[a, b, c]`` joined by ``sep``: ``[a, sep, b, sep, c]`` (each a list of alternatives)."""
    out: list[list[str]] = []
    for i, item in enumerate(items):
        if i:
            out.append(sep)
        out.append(item)
    return out


def _percent(formats: list[str], args: list[object]) -> list[str]:
    """``fmt % args`` for the common conversions, without Python's ``%`` (bounded widths, no objects)."""
    out: list[str] = []
    for fmt in formats:
        pieces: list[str] = []
        pos = 0
        k = 0
        for m in _PERCENT.finditer(fmt):
            pieces.append(fmt[pos : m.start()])
            pos = m.end()
            conv = m.group(5)
            if conv == "%":
                pieces.append("%")
                continue
            width = m.group(3)
            if width == "*" or (width and int(width) > 64) or m.group(1):
                pieces.append(UNKNOWN)
                k += 1
                continue
            arg = args[k] if k < len(args) else UNKNOWN
            k += 1
            if conv == "c":
                if isinstance(arg, int) and not isinstance(arg, bool) and 0 <= arg < 0x110000:
                    text = chr(arg)
                elif isinstance(arg, str) and len(arg) == 1:
                    text = arg
                else:
                    text = UNKNOWN
            elif conv in "sra":
                text = str(arg)
            elif isinstance(arg, int | float) and not isinstance(arg, bool):
                text = str(int(arg)) if conv in "diu" else UNKNOWN
            else:
                text = UNKNOWN
            pieces.append(text.rjust(int(width)) if width else text)
        pieces.append(fmt[pos:])
        out.append("".join(pieces))
    return out


def _braces(fmt: str, pos: list[str], kws: dict[str, str]) -> str:
    """``str.format`` with plain ``{}``/``{0}``/``{name}`` fields only (fields with attributes stay unknown)."""
    counter = itertools.count()

    def sub(m: re.Match[str]) -> str:
        field = m.group(1)
        if field == "":
            i = next(counter)
            return pos[i] if i < len(pos) else UNKNOWN
        if field.isdigit():
            return pos[int(field)] if int(field) < len(pos) else UNKNOWN
        return kws.get(field, UNKNOWN)

    return (
        _BRACE_FIELD.sub(sub, fmt.replace("{{", "\x00").replace("}}", "\x01")).replace("\x00", "{").replace("\x01", "}")
    )


def _show(value: str) -> str:
    return short(value.replace(UNKNOWN, "…"), 60)


_OPS = {
    nodes.Add: "+",
    nodes.Sub: "-",
    nodes.Mul: "*",
    nodes.Div: "/",
    nodes.FloorDiv: "//",
    nodes.Mod: "%",
    nodes.Pow: "**",
    nodes.And: "and",
    nodes.Or: "or",
}


def _render(node: nodes.Node, depth: int = 0) -> str:
    """Approximate Jinja source of an expression, for evidence (bounded)."""
    if depth > 12:
        return "…"
    r = lambda n: _render(n, depth + 1)  # noqa: E731
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const):
        return repr(node.value) if not isinstance(node.value, str) else repr(short(node.value, 60))
    if isinstance(node, nodes.Getattr):
        return f"{r(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        return f"{r(node.node)}[{r(node.arg)}]"
    if isinstance(node, nodes.Slice):
        return ":".join("" if x is None else r(x) for x in (node.start, node.stop, node.step))
    if isinstance(node, nodes.Filter):
        args = ", ".join([r(a) for a in node.args] + [f"{k.key}={r(k.value)}" for k in node.kwargs])
        base = r(node.node) if node.node is not None else ""
        return f"{base}|{node.name}" + (f"({args})" if args else "")
    if isinstance(node, nodes.Call):
        args = ", ".join([r(a) for a in node.args] + [f"{k.key}={r(k.value)}" for k in node.kwargs])
        return f"{r(node.node)}({args})"
    if isinstance(node, nodes.Concat):
        return " ~ ".join(r(n) for n in node.nodes)
    if isinstance(node, nodes.BinExpr):
        return f"{r(node.left)} {_OPS.get(type(node), '?')} {r(node.right)}"
    if isinstance(node, nodes.List):
        return "[" + ", ".join(r(i) for i in node.items) + "]"
    if isinstance(node, nodes.Tuple):
        return "(" + ", ".join(r(i) for i in node.items) + ("," if len(node.items) == 1 else "") + ")"
    if isinstance(node, nodes.CondExpr):
        return f"{r(node.expr1)} if {r(node.test)} else {r(node.expr2) if node.expr2 else ''}"
    if isinstance(node, nodes.NSRef):
        return f"{node.name}.{node.attr}"
    if isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        return f"{type(node).__name__.lower()} {r(node.template)}"
    return type(node).__name__


def report(ctx: ScanContext, template: str, where: str, *, offset: int | None = None) -> list[Finding]:
    """Analyse ``template`` and add findings to ``ctx``; ``where`` names the template's location."""
    out: list[Finding] = []
    for issue in analyse(template):
        out.append(
            ctx.add(
                issue.rule,
                issue.category,
                issue.severity,
                issue.verdict,
                f"{where}: {issue.message}",
                issue.evidence,
                offset=offset,
            )
        )
    return out


def scan(reader: Reader, ctx: ScanContext) -> None:
    """A standalone template file (``chat_template.jinja``, ``additional_chat_templates/<name>.jinja``)."""
    data = read_bounded(reader, ctx, what="template file")
    try:
        template = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        ctx.add(
            "jinja.encoding",
            Category.FORMAT_ABUSE,
            Severity.MEDIUM,
            Verdict.SUSPICIOUS,
            "template file is not valid UTF-8 (loaders refuse it); analysed as decoded with replacements",
            str(exc)[:120],
        )
        template = data.decode("utf-8", "replace")
    report(ctx, template, basename(ctx) or "template")
