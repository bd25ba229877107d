"""Text normalisation shared by the matchers: tokens that survive reflow, CRLF, case, markup."""

from __future__ import annotations

import re

_TAG = re.compile(r"<[^>\n]{1,200}>")
_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)*")
# Placeholders the catalog texts leave to be filled in; they break shingles on the catalog side.
PLACEHOLDER = re.compile(
    r"\[(?:year|yyyy|fullname|name of copyright owner|name|owner|copyright holders?|licensor)\]"
    r"|<(?:year|owner|name of author|copyright holders?|organization)>"
    r"|\{(?:year|owner|fullname)\}",
    re.IGNORECASE,
)
BREAK = "\x00"
_FLAT = re.compile(r"[^a-z0-9.]+")
_TRANSLATE = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\\": " "}
)


def clean(text: str) -> str:
    """Lower-case, unify quotes/dashes, drop HTML tags and markdown escapes."""
    return _TAG.sub(" ", text.translate(_TRANSLATE).lower())


def tokens_with_lines(text: str, *, placeholders: bool = False) -> tuple[list[str], list[int]]:
    """Tokens and the 1-based line number of each; with `placeholders`, a BREAK token stands for each."""
    toks: list[str] = []
    lines: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if placeholders:
            line = PLACEHOLDER.sub(f" {BREAK} ", line)
        for tok in _TOKEN.findall(clean(line)) if not placeholders else _split_keep_break(clean(line)):
            toks.append(tok)
            lines.append(lineno)
    return toks, lines


def tokens(text: str, *, fast: bool = False) -> list[str]:
    """Tokens only. `fast` skips quote/tag clean-up: good enough for the probe that decides whether a
    file deserves the full pass."""
    return _TOKEN.findall(text.lower() if fast else clean(text))


def tokens_and_lines(text: str) -> tuple[list[str], list[int]]:
    """Tokens with line numbers, in one pass over the whole text."""
    cleaned = clean(text)
    toks: list[str] = []
    lines: list[int] = []
    line, last = 1, 0
    for m in _TOKEN.finditer(cleaned):
        start = m.start()
        line += cleaned.count("\n", last, start)
        last = start
        toks.append(m.group())
        lines.append(line)
    return toks, lines


def _split_keep_break(line: str) -> list[str]:
    out: list[str] = []
    for i, part in enumerate(line.split(BREAK)):
        if i:
            out.append(BREAK)
        out.extend(_TOKEN.findall(part))
    return out


def flat(text: str) -> str:
    """One-line normal form for phrase search: `Apache License, Version 2.0` → ` apache license version 2.0 `."""
    return " " + _FLAT.sub(" ", clean(text)).replace(". ", " ").strip(" .") + " "


def alias_key(value: str) -> str:
    """Normal form of an id/alias: case, spaces and underscores folded to `-`."""
    return re.sub(r"[\s_]+", "-", value.strip().lower().strip("`'\"[]()"))
