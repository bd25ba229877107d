"""Observed layer: license texts, notices and references found in a repository's files.

Full-text matching uses 5-token shingles of normalised tokens (case, punctuation, markup, CRLF and
reflow vanish) looked up in the catalog's inverted index, so each file costs one pass over its
tokens whatever the catalog size. Per candidate text we count shared shingles; the text sharing the
most wins (ties → the higher coverage, so a variant without an appended AUP beats the full file),
its shingles are removed, and the rest of the file is tried again (a LICENSE holding two texts).

Match kinds: exact, modified (edits or an appended rider), header (extra text before), partial
(truncated), reference (SPDX line, name, notice sentence, URL, badge), policy (an AUP that is a
component of a license), gated-prompt (anything found in `extra_gated_prompt`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from licenses.engine.catalog import SHINGLE, Catalog
from licenses.engine.text import flat, tokens, tokens_and_lines

GATED_PROMPT_PATH = "README.md#extra_gated_prompt"
README_PATH = "README.md"
MAX_ROUNDS = 3
PROBE_STRIDE = 8

LICENSE_NAME = re.compile(
    r"(^|/)(licen[cs]e|copying|notice|use[_-]?policy|usage[_-]?policy|acceptable[_-]?use|aup|terms|legal)[^/]*$",
    re.IGNORECASE,
)
CUSTOM_TERMS_NAME = re.compile(r"(^|/)(licen[cs]e|copying|terms)[^/]*$", re.IGNORECASE)
TEXT_EXT = re.compile(r"\.(txt|md|markdown|rst|text|html?)$|(^|/)[^./]+$", re.IGNORECASE)
SPDX_LINE = re.compile(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+\-_ ()]+)")
BADGE = re.compile(r"img\.shields\.io/badge/licen[sc]e-((?:[^-/\s)\]\"']|--)+)-", re.IGNORECASE)
PROSE_LICENSE = re.compile(
    r"\blicen[sc]e\s*(?:\*\*)?\s*[:=]\s*(?:\*\*)?\s*[`\[]?([A-Za-z0-9.+\-_]{2,60})", re.IGNORECASE
)
URL = re.compile(
    r"https?://[^\s)\]>\"'`]+|(?<![\w/])(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)+/[^\s)\]>\"'`]*", re.IGNORECASE
)


@dataclass
class Evidence:
    path: str
    license: str
    match: str
    score: float
    start_line: int = 0
    end_line: int = 0
    coverage: float = 0.0
    detail: str = ""
    scope: str = "main"  # main | model | code

    def as_json(self) -> dict[str, object]:
        return {"path": self.path, "license": self.license, "match": self.match, "score": round(self.score, 2)}

    @property
    def is_text(self) -> bool:
        """A (full or partial) license text, as opposed to a mention."""
        return self.match in ("exact", "modified", "header", "partial") or (
            self.match == "gated-prompt" and self.coverage >= 0.5
        )


@dataclass
class _Candidate:
    key: str
    count: int
    coverage: float


@dataclass
class FileScan:
    path: str
    evidence: list[Evidence] = field(default_factory=list)


def scope_of(path: str) -> str:
    low = path.lower()
    if "code" in low or "software" in low:
        return "code"
    if "model" in low or "weight" in low:
        return "model"
    return "main"


def is_license_named(path: str) -> bool:
    return bool(LICENSE_NAME.search(path))


def wants(path: str) -> bool:
    """Files that may carry license terms: license-like names and other text files."""
    return is_license_named(path) or bool(TEXT_EXT.search(path))


def match_texts(catalog: Catalog, path: str, text: str, *, strict: bool = False) -> list[Evidence]:
    """Full-text matches of catalog texts in one file (up to MAX_ROUNDS licenses)."""
    index = catalog.index
    toks = tokens(text, fast=True)
    if len(toks) < SHINGLE:
        return []
    # Cheap probe: a license text long enough to count (>= 20 shingles) has a hit among every 8th shingle.
    if not any(tuple(toks[i : i + SHINGLE]) in index for i in range(0, len(toks) - SHINGLE + 1, PROBE_STRIDE)):
        return []
    toks, lines = tokens_and_lines(text)
    shingles = list(zip(*(toks[i:] for i in range(SHINGLE)), strict=False))
    hits: dict[tuple[str, ...], tuple[str, ...]] = {}
    for sh in set(shingles):
        keys = index.get(sh)
        if keys:
            hits[sh] = keys
    if not hits:
        return []
    found: list[Evidence] = []
    consumed: set[tuple[str, ...]] = set()
    seen_licenses: set[str] = set()
    for _round in range(MAX_ROUNDS):
        counts: Counter[str] = Counter()
        for sh, keys in hits.items():
            if sh not in consumed:
                counts.update(keys)
        best: _Candidate | None = None
        for key, count in counts.items():
            size = catalog.texts[key].size
            if count < min(20, max(4, int(size * 0.6))):
                continue
            cand = _Candidate(key, count, count / size)
            if best is None or (cand.count, cand.coverage) > (best.count, best.coverage):
                best = cand
        if best is None:
            break
        min_cov = 0.5 if strict else 0.12
        if best.coverage < min_cov and best.count < 150:
            break
        indexed = catalog.texts[best.key]
        tset = indexed.shingles
        positions = [i for i, sh in enumerate(shingles) if sh in tset and sh not in consumed]
        if not positions:
            break
        consumed.update(sh for sh in hits if sh in tset)
        lid = indexed.license_id
        if lid in seen_licenses:
            continue
        seen_licenses.add(lid)
        found.append(_classify(catalog, path, best, indexed.size, tset, shingles, positions, toks, lines))
    return found


def _classify(catalog, path, best, size, tset, shingles, positions, toks, lines) -> Evidence:  # type: ignore[no-untyped-def]
    first, last = positions[0], positions[-1]
    indexed = catalog.texts[best.key]
    if first and indexed.lead:
        # Walk back over the text's own title/copyright line (filled-in placeholders allowed).
        budget = 3 * indexed.lead_breaks
        while first > 0 and (toks[first - 1] in indexed.lead or budget > 0):
            if toks[first - 1] not in indexed.lead:
                budget -= 1
            first -= 1
        while first < positions[0] and toks[first] not in indexed.lead:
            first += 1
    header_tokens = first
    rider_tokens = len(toks) - (last + SHINGLE)
    inside = range(first, last + 1)
    extra_inside = sum(1 for i in inside if shingles[i] not in tset)
    text_pos = sorted({tset[shingles[i]] for i in positions})
    tail_start = int(size * 0.85)
    tail_total = max(1, sum(1 for p in tset.values() if p >= tail_start))
    tail_hit = sum(1 for p in text_pos if p >= tail_start) / tail_total
    cov = best.coverage
    spec = catalog.licenses.get(catalog.texts[best.key].license_id)
    if spec is not None and spec.is_policy:
        kind = "policy"
    elif cov >= 0.99 and header_tokens <= 12 and rider_tokens <= 12 and extra_inside <= 10 + len(positions) * 0.01:
        kind = "exact"
    elif cov < 0.99 and tail_hit < 0.25:
        kind = "partial"
    elif header_tokens > 12 and cov >= 0.8:
        kind = "header"
    elif cov >= 0.8:
        kind = "modified"
    else:
        kind = "partial"
    precision = len(positions) / max(1, len(shingles))
    score = cov if kind != "exact" else min(1.0, cov)
    # A short title/copyright line before the first shingle (or after the last) belongs to the text.
    start_line = lines[0] if header_tokens <= 12 else lines[first]
    end_line = lines[-1] if rider_tokens <= 12 else lines[min(len(lines) - 1, last + SHINGLE - 1)]
    return Evidence(
        path=path,
        license=catalog.texts[best.key].license_id,
        match=kind,
        score=round(score, 3),
        start_line=start_line,
        end_line=end_line,
        coverage=round(cov, 3),
        detail=f"{best.count} of {size} shingles of {best.key}; {precision:.0%} of the file; "
        f"{header_tokens} tokens before, {max(0, rider_tokens)} after",
        scope=scope_of(path),
    )


def find_references(catalog: Catalog, path: str, text: str) -> list[Evidence]:
    """Names, notice sentences, SPDX lines, URLs and badges (one entry per license, first line)."""
    found: dict[str, Evidence] = {}

    def add(lid: str | None, lineno: int, score: float, detail: str) -> None:
        if lid and lid not in found and lid not in ("other", "unknown"):
            found[lid] = Evidence(path, lid, "reference", score, lineno, lineno, 0.0, detail, scope_of(path))

    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        for m in SPDX_LINE.finditer(line):
            for part in re.split(r"\s+(?:AND|OR|WITH)\s+|[()]", m.group(1)):
                if part.strip():
                    add(catalog.resolve_alias(part.strip()), lineno, 1.0, f"SPDX-License-Identifier: {part.strip()}")
        for m in BADGE.finditer(line):
            value = m.group(1).replace("--", "-").replace("_", " ").replace("%20", " ")
            add(catalog.resolve_alias(value), lineno, 0.8, f"badge '{value}'")
        for m in URL.finditer(line):
            add(catalog.url_license(m.group(0)), lineno, 0.8, f"link {m.group(0)[:120]}")
        for m in PROSE_LICENSE.finditer(line):
            add(catalog.resolve_alias(m.group(1).rstrip(".,;")), lineno, 0.7, f"'{m.group(0)[:80]}'")
        if catalog.phrase_re is not None:
            for m in catalog.phrase_re.finditer(flat(line)):
                add(catalog.phrases[m.group(1)], lineno, 0.7, f"names '{m.group(1)}'")
    return list(found.values())


def observe(
    catalog: Catalog,
    files: dict[str, str],
    *,
    readme: str = "",
    gated_prompt: str = "",
) -> list[Evidence]:
    """All observed evidence for one repository. `files` maps repo paths to their text."""
    evidence: list[Evidence] = []
    for path in sorted(files):
        if path.lower() in ("readme.md",) or not wants(path):
            continue
        text = files[path]
        named = is_license_named(path)
        texts = match_texts(catalog, path, text, strict=not named)
        evidence.extend(texts)
        refs: list[Evidence] = []
        if named or not texts:
            refs = _outside(find_references(catalog, path, text) if named else _spdx_only(catalog, path, text), texts)
            evidence.extend(refs)
        if not texts and not refs and CUSTOM_TERMS_NAME.search(path) and text.strip():
            # A license file that matches nothing in the catalog: custom terms (`other`) to read.
            last = max(1, len(text.splitlines()))
            evidence.append(Evidence(path, "other", "reference", 0.0, 1, last, 0.0, "matches no catalog text",
                                     scope_of(path)))  # fmt: skip
    if readme.strip():
        texts = match_texts(catalog, README_PATH, readme)
        evidence.extend(texts)
        evidence.extend(_outside(find_references(catalog, README_PATH, readme), texts))
    if gated_prompt.strip():
        gated = match_texts(catalog, GATED_PROMPT_PATH, gated_prompt)
        gated += _outside(find_references(catalog, GATED_PROMPT_PATH, gated_prompt), gated)
        for e in gated:
            e.detail = f"{e.match}: {e.detail}"
            e.match = "gated-prompt"
            e.scope = "main"
        evidence.extend(gated)
    return evidence


def _spdx_only(catalog: Catalog, path: str, text: str) -> list[Evidence]:
    if "SPDX-License-Identifier" not in text:
        return []
    return [e for e in find_references(catalog, path, text) if e.detail.startswith("SPDX")]


def _outside(refs: list[Evidence], texts: list[Evidence]) -> list[Evidence]:
    """References that are not part of a matched text (a license names itself and its AUP)."""
    have = {e.license for e in texts}
    return [
        r for r in refs if r.license not in have and not any(t.start_line <= r.start_line <= t.end_line for t in texts)
    ]
