"""Token-level fallback analysis of Jinja chat templates that Jinja2's parser rejects.

:mod:`scanning.scanners.jinja` judges templates on Jinja2's own AST. A template that does not parse
(unterminated block, unknown tag, malformed string) cannot be rendered by a loader using Jinja2 either,
but other renderers (minja, hand-written ones) are more lenient, so it is still searched here with a
small lexer over the ``{{ }}`` / ``{% %}`` regions: identifiers, attribute names and (decoded,
concatenated) string literals naming Python internals. Never renders or compiles anything.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .base import Category, Severity, Verdict
from .fmtcommon import short

_DUNDER = re.compile(r"__[A-Za-z0-9_]*__|_[A-Za-z][A-Za-z0-9]*__[A-Za-z0-9_]+")
# Names that have no business in a chat template (besides dunders).
DANGEROUS_NAMES = {
    "__import__",
    "import_module",
    "popen",
    "system",
    "subprocess",
    "os",
    "eval",
    "exec",
    "execfile",
    "compile",
    "builtins",
    "globals",
    "getattr",
    "setattr",
    "func_globals",
    "mro",
    "subclasses",
    "f_globals",
    "f_locals",
    "f_back",
    "gi_frame",
    "cr_frame",
    "tb_frame",
    "co_code",
    "application",
    "_TemplateReference__context",
    "_module",
    "environment",
    "check_output",
    "spawn",
    "socket",
    "load_module",
}
# Attribute names dangerous only when reached as attributes (``x.os``), not as loop variables.
_ATTR_ONLY = {"os", "system", "environment", "application", "spawn", "socket"}
_CONFIG_GADGETS = {"items", "from_pyfile", "from_object", "from_envvar", "update"}
# Python object-model dunders: a string literal naming one of these is an SSTI building block, while
# other ``__x__`` strings (``"<__media__>"`` placeholders) are just text.
PY_DUNDERS = {
    "__" + n + "__"
    for n in [
        "class",
        "mro",
        "subclasses",
        "globals",
        "builtins",
        "import",
        "init",
        "dict",
        "base",
        "bases",
        "getattribute",
        "getattr",
        "getitem",
        "code",
        "func",
        "self",
        "module",
        "loader",
        "spec",
        "reduce",
        "reduce_ex",
        "call",
        "new",
        "closure",
        "defaults",
        "kwdefaults",
        "enter",
        "exit",
        "name",
        "qualname",
        "file",
        "setattr",
        "delattr",
        "setitem",
        "subclasshook",
        "init_subclass",
        "wrapped",
        "traceback",
        "frame",
        "dir",
        "objclass",
        "func_globals",
    ]
}


def _py_dunder(text: str) -> bool:
    """True if ``text`` names a Python object-model dunder or a name-mangled private attribute.

    Also catches the dunder written in another case or reversed (``'__CLASS__'|lower``,
    ``'__ssalc__'|reverse``).
    """
    if any(m.group(0) in PY_DUNDERS or not m.group(0).startswith("__") for m in _DUNDER.finditer(text)):
        return True
    lowered = text.lower()
    return any(m.group(0) in PY_DUNDERS for t in (lowered, lowered[::-1]) for m in _DUNDER.finditer(t))


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|//|==|!=|<=|>=|[~+\-*/%|.,:()\[\]{}=<>!])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_PCT_C = re.compile(r"%[-+ #0-9.*]*c")
_BLOCK = re.compile(r"\{\{-?|\{%-?|\{#")
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[0-7]{1,3}|N\{[^}]*\}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"', "a": "\a"}


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str
    text: str  # decoded value for strings
    pos: int


def _unescape(body: str) -> str:
    def sub(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] in "xuU":
            return chr(int(esc[1:], 16)) if int(esc[1:], 16) <= 0x10FFFF else ""
        if esc[0] in "01234567":
            return chr(int(esc, 8))
        if esc[0] == "N":
            try:
                return unicodedata.lookup(esc[2:-1])
            except KeyError:
                return "\ufffd"
        return _SIMPLE_ESCAPES.get(esc, esc)

    return _ESCAPE.sub(sub, body)


def _regions(template: str) -> tuple[list[tuple[int, str]], bool]:
    """Code regions of a template (contents of ``{{ }}`` and ``{% %}``); ``False`` if unterminated."""
    out: list[tuple[int, str]] = []
    pos = 0
    ok = True
    while True:
        m = _BLOCK.search(template, pos)
        if not m:
            break
        opener = m.group(0)[:2]
        closer = {"{{": "}}", "{%": "%}", "{#": "#}"}[opener]
        start = m.end()
        if opener == "{#":
            end = template.find(closer, start)
            if end < 0:
                ok = False
                break
            pos = end + 2
            continue
        # find the closer outside string literals
        i = start
        end = -1
        while i < len(template):
            c = template[i]
            if c in "'\"":
                j = i + 1
                while j < len(template) and template[j] != c:
                    j += 2 if template[j] == "\\" else 1
                i = j + 1
                continue
            if template.startswith(closer, i):
                end = i
                break
            i += 1
        if end < 0:
            ok = False
            out.append((start, template[start:]))
            break
        body = template[start:end]
        if opener == "{%" and re.match(r"\s*-?\s*raw\b", body):
            endraw = re.search(r"\{%-?\s*endraw\s*-?%\}", template[end:])
            pos = end + (endraw.end() if endraw else len(template))
            continue
        out.append((start, body.rstrip("-")))
        pos = end + 2
    return out, ok


def tokenize(code: str, base: int = 0) -> list[Tok]:
    toks: list[Tok] = []
    for m in _TOKEN.finditer(code):
        kind = m.lastgroup or "other"
        if kind == "ws":
            continue
        text = m.group(0)
        if kind == "str":
            text = _unescape(text[1:-1])
        toks.append(Tok(kind, text, base + m.start()))
    return toks


@dataclass
class JinjaIssue:
    rule: str
    verdict: Verdict
    category: Category
    severity: Severity
    message: str
    evidence: str


def analyse_tokens(template: str) -> list[JinjaIssue]:
    """Return the issues of a template (empty list = nothing dangerous found)."""
    issues: list[JinjaIssue] = []
    seen: set[tuple[str, str]] = set()

    def hit(rule: str, verdict: Verdict, message: str, evidence: str, category: Category) -> None:
        key = (rule, evidence)
        if key in seen or len(issues) >= 25:
            return
        seen.add(key)
        severity = Severity.CRITICAL if verdict == Verdict.MALICIOUS else Severity.MEDIUM
        issues.append(JinjaIssue(rule, verdict, category, severity, message, evidence))

    regions, ok = _regions(template)
    if not ok:
        hit("jinja.syntax", Verdict.SUSPICIOUS, "unterminated Jinja block or comment", "", Category.FORMAT_ABUSE)
    ce = Category.CODE_EXECUTION
    all_pieces: list[str] = []
    for start, code in regions:
        toks = tokenize(code, start)
        snippet = short(code.strip(), 120)
        strings = [t.text for t in toks if t.kind == "str"]
        for i, t in enumerate(toks):
            prev = toks[i - 1] if i else None
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            is_attr = prev is not None and prev.kind == "op" and prev.text == "."
            if t.kind == "name":
                if _DUNDER.search(t.text) or (t.text.startswith("__") and len(t.text) > 2):
                    hit(
                        "jinja.ssti.dunder",
                        Verdict.MALICIOUS,
                        f"template reaches Python internals via {t.text!r}",
                        snippet,
                        ce,
                    )
                elif t.text in DANGEROUS_NAMES and (is_attr or t.text not in _ATTR_ONLY):
                    if t.text in {"os", "environment"} and not is_attr:
                        continue
                    hit(
                        "jinja.ssti.internals",
                        Verdict.MALICIOUS,
                        f"template references {t.text!r}, a route to code execution",
                        snippet,
                        ce,
                    )
                elif is_attr and t.text.startswith("_"):
                    hit(
                        "jinja.private_attr",
                        Verdict.SUSPICIOUS,
                        f"template accesses private attribute {t.text!r}",
                        snippet,
                        ce,
                    )
                elif t.text == "attr" and prev is not None and prev.text == "|":
                    args = _call_args(toks, i + 1)
                    lits = [a.text for a in args if a.kind == "str"]
                    if any(_DUNDER.search(s) or s in DANGEROUS_NAMES for s in lits):
                        hit(
                            "jinja.ssti.attr_filter",
                            Verdict.MALICIOUS,
                            "attr() filter used to reach Python internals",
                            snippet,
                            ce,
                        )
                    elif not lits or any(a.kind == "name" for a in args):
                        hit(
                            "jinja.ssti.attr_filter",
                            Verdict.MALICIOUS,
                            "attr() filter with a computed attribute name (blocklist bypass)",
                            snippet,
                            ce,
                        )
                    else:
                        hit(
                            "jinja.ssti.attr_filter",
                            Verdict.SUSPICIOUS,
                            "attr() filter in a chat template",
                            snippet,
                            ce,
                        )
                elif t.text == "request" and nxt is not None and nxt.text in {".", "|", "["}:
                    hit(
                        "jinja.ssti.internals",
                        Verdict.MALICIOUS,
                        "template touches the web framework 'request' object",
                        snippet,
                        ce,
                    )
                elif (
                    t.text == "config"
                    and nxt is not None
                    and nxt.text == "."
                    and i + 2 < len(toks)
                    and toks[i + 2].text in _CONFIG_GADGETS
                ):
                    hit(
                        "jinja.ssti.internals",
                        Verdict.MALICIOUS,
                        f"template calls config.{toks[i + 2].text} (Flask SSTI gadget)",
                        snippet,
                        ce,
                    )
            elif t.kind == "str":
                if _py_dunder(t.text):
                    hit(
                        "jinja.ssti.dunder",
                        Verdict.MALICIOUS,
                        f"string literal names Python internals: {short(t.text, 60)!r}",
                        snippet,
                        ce,
                    )
                elif prev is not None and prev.text == "[" and t.text in DANGEROUS_NAMES - _ATTR_ONLY:
                    hit("jinja.ssti.internals", Verdict.MALICIOUS, f"subscript reaches {t.text!r}", snippet, ce)
                elif _PCT_C.search(t.text) and (
                    t.text.count("%c") >= 2 or (nxt is not None and nxt.text == "|" and _next_is(toks, i + 2, "format"))
                ):
                    hit(
                        "jinja.obfuscation",
                        Verdict.SUSPICIOUS,
                        "%c formatting builds strings character by character",
                        snippet,
                        Category.OBFUSCATION,
                    )
                elif (
                    t.text
                    and set(t.text) == {"_"}
                    and ((prev is not None and prev.text in "*~+") or (nxt is not None and nxt.text in "*~+"))
                ):
                    hit(
                        "jinja.obfuscation",
                        Verdict.SUSPICIOUS,
                        "underscore-only string piece (dunder being assembled)",
                        snippet,
                        Category.OBFUSCATION,
                    )
        # Dunders assembled from pieces: concatenate every string literal and keyword name in order.
        pieces = "".join(
            t.text
            for j, t in enumerate(toks)
            if t.kind == "str"
            or (
                t.kind == "name"
                and j + 1 < len(toks)
                and j > 0
                and toks[j - 1].text in ("(", ",")  # keyword argument: dict(__cla=1, ss__=1)|join
                and toks[j + 1].text == "="
                and (j + 2 >= len(toks) or toks[j + 2].text != "=")
            )
        )
        joined = pieces  # not stripped of spaces: English prose ("global s…") must not read as a name
        if not any(_py_dunder(s) for s in strings) and _py_dunder(joined):
            hit(
                "jinja.ssti.dunder",
                Verdict.MALICIOUS,
                f"string pieces concatenate to Python internals: {short(joined, 60)!r}",
                snippet,
                ce,
            )
        all_pieces.append(joined)
        for built in _format_strings(toks):
            if _py_dunder(built) or built in DANGEROUS_NAMES:
                hit(
                    "jinja.ssti.dunder",
                    Verdict.MALICIOUS,
                    f"format filter assembles Python internals: {short(built, 60)!r}",
                    snippet,
                    ce,
                )
        names = [t.text for t in toks if t.kind == "name"]
        if "format" in names and any("%c" in s for s in strings):
            hit(
                "jinja.obfuscation",
                Verdict.SUSPICIOUS,
                "format filter with %c (character assembly)",
                snippet,
                Category.OBFUSCATION,
            )
    # Pieces may be spread over several blocks ({% set a = '__cla' %}…{{ x[a ~ 'ss__'] }}).
    whole = "".join(all_pieces)
    if not any(i.rule == "jinja.ssti.dunder" for i in issues) and _py_dunder(whole):
        hit(
            "jinja.ssti.dunder",
            Verdict.MALICIOUS,
            "string pieces across the template concatenate to Python internals",
            short(whole, 120),
            ce,
        )
    return issues


def _next_is(toks: list[Tok], i: int, text: str) -> bool:
    return i < len(toks) and toks[i].text == text


def _format_strings(toks: list[Tok]) -> list[str]:
    """Results of ``'%c%c…'|format(95, 95, …)`` with integer arguments (never Python's % operator)."""
    out: list[str] = []
    for i, t in enumerate(toks):
        if t.kind != "str" or not _PCT_C.search(t.text) or i + 3 >= len(toks):
            continue
        if toks[i + 1].text != "|" or toks[i + 2].text != "format":
            continue
        args = [int(a.text) for a in _call_args(toks, i + 3) if a.kind == "num" and a.text.isdigit()]
        chars = [chr(a) if a < 0x110000 else "" for a in args]
        pieces = _PCT_C.split(t.text)
        gaps = len(pieces) - 1
        out.append("".join(p + (chars[k] if k < min(gaps, len(chars)) else "") for k, p in enumerate(pieces)))
    return out


def _call_args(toks: list[Tok], i: int) -> list[Tok]:
    """Tokens inside the parentheses that start at ``toks[i]`` (empty if no call)."""
    if i >= len(toks) or toks[i].text != "(":
        return []
    depth = 0
    out: list[Tok] = []
    for t in toks[i:]:
        if t.text in "([{" and t.kind == "op":
            depth += 1
            if depth == 1:
                continue
        elif t.text in ")]}" and t.kind == "op":
            depth -= 1
            if depth == 0:
                break
        out.append(t)
    return out
