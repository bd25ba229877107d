"""Observed layer: license texts, notices and references found in a repository's files.

Full-text matching uses 5-token shingles of normalised tokens (case, punctuation, markup, CRLF and
reflow vanish) looked up in the catalog's inverted index, so each file costs one pass over its
tokens whatever the catalog size. Per candidate text we count shared shingles; the text sharing the
most wins (ties → the higher coverage, so a variant without an appended AUP beats the full file),
its shingles are removed, and the rest of the file is tried again (a LICENSE holding two texts).

Match kinds: exact, modified (edits or an appended rider), header (extra text before), partial
(truncated), reference (SPDX line, name, notice sentence, URL, badge), policy (an AUP that is a
component of a license), gated-prompt (anything found in `extra_gated_prompt`).

A near match must name what it matches: a text sharing most of a catalog text's wording but not
the license's own name/version tokens (the OPT-175B agreement against the LLaMA 1 one, a Falcon
licence against the Falcon 2 11B one) is reported as `other`, never rounded to the neighbour.
Restrictive text appended to (or put before) a catalog text in a license file is a rider: its own
`LicenseRef-<id>-rider` evidence with the terms it adds.

Scopes: `model` / `code` from file names (MODEL_LICENSE, LICENSE-CODE) and from scope statements in
prose ("the code is Apache-2.0, while the weights …"); `notice` for third-party notices (NOTICE,
THIRD_PARTY_NOTICES: code the repo borrowed), which never make the model's license.
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

NOTICE_NAME = re.compile(
    r"(^|/)(notice|third[_-]?party|thirdparty|attributions?|acknowledge?ments?|credits)[^/]*$", re.IGNORECASE
)
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
# Scope statements in prose: which part of the repository a clause speaks about.
CLAUSE_SPLIT = re.compile(r",?\s+(?:while|whereas|but)\s+|(?<=[.;。；])\s+|[，；。]\s*")
CODE_SCOPE = re.compile(r"\b(?:source\s+)?code\b|\bcodebase\b|\bscripts?\b|代码", re.IGNORECASE)
WEIGHTS_SCOPE = re.compile(
    r"\bweights?\b|\bmodel\s+licen[sc]e\b|\bcheckpoints?\b|\bparameters\b|\buse\s+of\s+(?:the\s+)?[\w.\-]+"
    r"(?:\s+[\w.\-]+){0,3}?\s+models?\b|权重|模型",
    re.IGNORECASE,
)
# Restrictive terms a rider adds (checked sentence by sentence; the first that matches names the term).
RIDER_TERMS: list[tuple[str, re.Pattern[str]]] = [
    (term, re.compile(pattern, re.IGNORECASE))
    for term, pattern in [
        (
            "research-only",
            r"\b(?:solely|only|exclusively)\s+for\s+(?:academic\s+|scientific\s+|non-?commercial\s+)?"
            r"research\b|\bresearch\s+(?:purposes\s+|use\s+)?only\b",
        ),
        (
            "non-commercial",
            r"\bnon[-\s]?commercial\b|\bno\s+commercial\s+use\b|\bcommercial\s+(?:use|purposes?)\b"
            r"[^.]{0,60}\b(?:not\s+(?:permitted|allowed)|prohibited|forbidden)\b|\bnot\b[^.]{0,40}\bfor\s+(?:any\s+)?"
            r"commercial\b|\bmay\s+not\b[^.]{0,80}\bcommercial\b",
        ),
        ("non-production", r"\bnon[-\s]?production\b|\bnot\b[^.]{0,30}\bin\s+production\b"),
        (
            "no-output-for-training-other-models",
            r"\boutputs?\b[^.]{0,80}\b(?:train|improve|develop)\w*\b[^.]{0,60}"
            r"\b(?:other|another|competing)\b",
        ),
        (
            "no-redistribution",
            r"\bmay\s+not\s+(?:re)?distribute\b|\bredistribution\b[^.]{0,60}\b(?:not\s+permitted|"
            r"prohibited|requires\s+(?:prior\s+)?written)",
        ),
        (
            "use-restrictions",
            r"\b(?:may|shall|must)\s+not\s+(?:be\s+)?use[d]?\b|\bprohibited\s+uses?\b|\bnot\s+(?:be\s+)?"
            r"used\s+(?:for|to)\b",
        ),
    ]
]
NARROW = {"research-only": ("non-commercial", "research-only")}
MIN_RIDER_TOKENS = 8
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
    scope: str = "main"  # main | model | code | notice (third-party) | lineage (a base named in prose)
    terms: tuple[str, ...] = ()  # a rider's obligation terms

    @property
    def governs(self) -> bool:
        """Evidence about this model's own license (not third-party notices or a base named in prose)."""
        return self.scope not in ("notice", "lineage")

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
    if NOTICE_NAME.search(path):
        return "notice"
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


def match_texts(
    catalog: Catalog, path: str, text: str, *, strict: bool = False, riders: bool = False
) -> list[Evidence]:
    """Full-text matches of catalog texts in one file (up to MAX_ROUNDS licenses); with `riders`, restrictive
    text around them becomes rider evidence."""
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
    spans: list[tuple[int, int]] = []
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
        evidence, span = _classify(catalog, path, best, indexed.size, tset, shingles, positions, toks, lines)
        found.append(evidence)
        spans.append(span)
    if riders and found:
        found += _riders(text, toks, lines, spans, found)
    return found


def _identity_missing(catalog: Catalog, key: str, toks: list[str], first: int, last: int) -> list[str]:
    """The license's own name/version tokens that a near match lacks (empty when it names itself)."""
    wanted = catalog.identity.get(key)
    if not wanted:
        return []
    region = set(toks[max(0, first - 40) : last + SHINGLE + 40])
    return sorted(t for t in wanted if t not in region)


def _riders(
    text: str, toks: list[str], lines: list[int], spans: list[tuple[int, int]], found: list[Evidence]
) -> list[Evidence]:
    """Restrictive terms in the parts of a license file that no matched text covers (before or after it)."""
    covered = sorted(spans)
    gaps: list[tuple[int, int]] = []
    pos = 0
    for start, end in covered:
        if start - pos >= MIN_RIDER_TOKENS:
            gaps.append((pos, start))
        pos = max(pos, end)
    if len(toks) - pos >= MIN_RIDER_TOKENS:
        gaps.append((pos, len(toks)))
    base = next((e for e in found if e.license not in ("other", "unknown")), None)
    if base is None or not gaps:
        return []
    src = text.splitlines()
    out: list[Evidence] = []
    for start, end in gaps:
        first_line, last_line = lines[start], lines[end - 1]
        segment = " ".join(src[first_line - 1 : last_line])
        terms, quote = rider_terms(segment)
        if not terms:
            continue
        if base.match in ("exact", "header"):
            base.match = "modified"
            base.detail += "; not the standard text: a rider adds terms"
        out.append(
            Evidence(
                path=base.path,
                license=f"LicenseRef-{base.license}-rider",
                match="modified",
                score=1.0,
                start_line=first_line,
                end_line=last_line,
                coverage=0.0,
                detail=f"rider {'before' if end <= covered[0][0] else 'after'} the {base.license} text adds "
                f"{', '.join(terms)}: “{quote[:200]}”",
                scope=base.scope,
                terms=terms,
            )
        )
    return out


def rider_terms(segment: str) -> tuple[tuple[str, ...], str]:
    """Obligation terms a piece of license prose adds, and the first sentence that adds one."""
    terms: list[str] = []
    quote = ""
    for sentence in re.split(r"(?<=[.;!?])\s+", re.sub(r"\s+", " ", segment)):
        for term, pattern in RIDER_TERMS:
            if pattern.search(sentence):
                for t in NARROW.get(term, (term,)):
                    if t not in terms:
                        terms.append(t)
                quote = quote or sentence.strip()
                break  # the most specific term of a sentence only (“may not use … commercially” is NC)
    return tuple(terms), quote


def _classify(catalog, path, best, size, tset, shingles, positions, toks, lines) -> tuple[Evidence, tuple[int, int]]:  # type: ignore[no-untyped-def]
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
    license_id = catalog.texts[best.key].license_id
    detail = (
        f"similarity {cov:.2f} to the catalog text {best.key}; {precision:.0%} of the file is that text; "
        f"{header_tokens} words before it, {max(0, rider_tokens)} after"
    )
    missing = _identity_missing(catalog, best.key, toks, first, last) if kind not in ("exact", "policy") else []
    if missing:
        # Same template, another license (or another version): never the nearest catalog id.
        detail = f"resembles {license_id} ({cov:.0%}) but does not name it (no {', '.join(missing)}); " + detail
        license_id, kind = "other", "modified"
    span = (first, last + SHINGLE)  # a short head or tail may still be a rider: _riders reads it
    evidence = Evidence(
        path=path,
        license=license_id,
        match=kind,
        score=round(score, 3),
        start_line=start_line,
        end_line=end_line,
        coverage=round(cov, 3),
        detail=detail,
        scope=scope_of(path),
    )
    return evidence, span


def clause_scope(clause: str, default: str) -> str:
    """`code` / `model` when a clause of prose says which part of the repository it licenses."""
    weights, code = WEIGHTS_SCOPE.search(clause), CODE_SCOPE.search(clause)
    if weights and not code:
        return "model"
    if code and not weights:
        return "code"
    return default


def find_references(catalog: Catalog, path: str, text: str, *, prose: bool = False) -> list[Evidence]:
    """Names, notice sentences, SPDX lines, URLs and badges (one entry per license and scope, first line).

    With `prose` (the README body), each clause is scoped by what it speaks about ("the code …" / "the
    weights …"). In a third-party notice file, only a license's prescribed notice sentence is about this
    model; every other mention is scoped `notice`.
    """
    found: dict[tuple[str, str], Evidence] = {}
    default = scope_of(path)

    def add(lid: str | None, lineno: int, score: float, detail: str, scope: str) -> None:
        if lid and lid not in ("other", "unknown") and (lid, scope) not in found:
            found[(lid, scope)] = Evidence(path, lid, "reference", score, lineno, lineno, 0.0, detail, scope)

    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        for clause in CLAUSE_SPLIT.split(line) if prose else [line]:
            scope = clause_scope(clause, default) if prose else default
            where = f" in “{line.strip()[:160]}”" if prose else ""
            for m in SPDX_LINE.finditer(clause):
                for part in re.split(r"\s+(?:AND|OR|WITH)\s+|[()]", m.group(1)):
                    if part.strip():
                        lid = catalog.resolve_alias(part.strip())
                        add(lid, lineno, 1.0, f"SPDX-License-Identifier: {part.strip()}", scope)
            for m in BADGE.finditer(clause):
                value = m.group(1).replace("--", "-").replace("_", " ").replace("%20", " ")
                add(catalog.resolve_alias(value), lineno, 0.8, f"badge '{value}'{where}", scope)
            for m in URL.finditer(clause):
                add(catalog.url_license(m.group(0)), lineno, 0.8, f"link {m.group(0)[:120]}{where}", scope)
            for m in PROSE_LICENSE.finditer(clause):
                value = m.group(1).rstrip(".,;")
                add(catalog.resolve_alias(value), lineno, 0.7, f"'{m.group(0)[:80]}'{where}", scope)
            if catalog.phrase_re is not None:
                for m in catalog.phrase_re.finditer(flat(clause)):
                    phrase = m.group(1)
                    own = scope if scope != "notice" or phrase not in catalog.notice_phrases else "main"
                    add(catalog.phrases[phrase], lineno, 0.7, f"names '{phrase}'{where}", own)
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
        texts = match_texts(catalog, path, text, strict=not named, riders=named and scope_of(path) != "notice")
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
        evidence.extend(_outside(find_references(catalog, README_PATH, readme, prose=True), texts))
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
    have = {(e.license, e.scope) for e in texts}
    return [
        r
        for r in refs
        if (r.license, r.scope) not in have and not any(t.start_line <= r.start_line <= t.end_line for t in texts)
    ]
