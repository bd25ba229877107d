"""The catalog the engine reads: licenses, aliases, reference phrases and a shingle index of texts.

Built once per catalog state (`Catalog.build(specs)`) — from the database rows in production
(licenses.services.engine_catalog) or straight from licenses/data/catalog.yaml (`load_catalog`) in
pure tests and the bench.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from licenses.engine.text import BREAK, alias_key, flat, tokens, tokens_with_lines

SHINGLE = 5
THREAT_GROUPS = ("permissive", "weak-copyleft", "copyleft", "ai-restricted", "non-commercial", "proprietary", "unknown")
# How restrictive a threat group is, for "a derivative declares a weaker license than its base".
THREAT_RANK = {g: i for i, g in enumerate(THREAT_GROUPS)}
UNKNOWN_IDS = frozenset({"unknown", "other"})

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
# Words of license names that identify nothing (what is left names the license: llama, opt, 3.1, 11b, nc …).
GENERIC_NAME_WORDS = frozenset(
    {
        "a",
        "acceptable",
        "agreement",
        "agreements",
        "ai",
        "alike",
        "an",
        "and",
        "attribution",
        "by",
        "catalog",
        "commercial",
        "commons",
        "community",
        "creative",
        "for",
        "general",
        "generic",
        "in",
        "inc",
        "international",
        "licence",
        "license",
        "licensed",
        "llm",
        "ltd",
        "model",
        "models",
        "non",
        "noncommercial",
        "not",
        "obtained",
        "of",
        "on",
        "open",
        "policy",
        "public",
        "research",
        "share",
        "sharealike",
        "source",
        "terms",
        "text",
        "the",
        "to",
        "under",
        "usage",
        "use",
        "v",
        "version",
        "with",
    }
)


@dataclass(frozen=True)
class ObligationSpec:
    term: str
    clause: str = ""
    quote: str = ""


@dataclass(frozen=True)
class TextSpec:
    name: str  # stable key, e.g. "llama3.txt" or "llama3.txt#until"
    text: str


@dataclass(frozen=True)
class LicenseSpec:
    id: str
    name: str = ""
    spdx: str = ""
    family: str = ""
    threat: str = "unknown"
    aliases: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    texts: tuple[TextSpec, ...] = ()
    obligations: tuple[ObligationSpec, ...] = ()
    component_of: str = ""
    notice: str = ""
    display: str = ""
    naming_prefix: str = ""
    binds_output_trained: bool = False

    @property
    def is_policy(self) -> bool:
        return bool(self.component_of)

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(o.term for o in self.obligations))


@dataclass
class IndexedText:
    key: str
    license_id: str
    shingles: dict[tuple[str, ...], int]  # shingle → first position in the text
    size: int
    lead: frozenset[str] = frozenset()  # tokens before the first shingle (title, copyright line)
    lead_breaks: int = 0  # placeholders among them


@dataclass
class Catalog:
    licenses: dict[str, LicenseSpec]
    aliases: dict[str, str] = field(default_factory=dict)
    texts: dict[str, IndexedText] = field(default_factory=dict)
    index: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    phrase_re: re.Pattern[str] | None = None
    phrases: dict[str, str] = field(default_factory=dict)
    notice_phrases: set[str] = field(default_factory=set)  # phrases that are a license's prescribed notice
    urls: list[tuple[str, str]] = field(default_factory=list)
    # text key → the license's own name/version tokens that the text repeats (a near match must carry them)
    identity: dict[str, frozenset[str]] = field(default_factory=dict)
    stamp: str = ""

    @classmethod
    def build(cls, specs: Iterable[LicenseSpec], *, stamp: str = "") -> Catalog:
        licenses = {s.id: s for s in specs}
        cat = cls(licenses=licenses, stamp=stamp)
        for spec in licenses.values():
            for alias in (spec.id, *spec.aliases):
                cat.aliases.setdefault(alias_key(alias), spec.id)
            for phrase in (*spec.names, spec.notice):
                key = flat(phrase).strip()
                if key and len(key.split()) >= 2:
                    cat.phrases.setdefault(key, spec.id)
            if spec.notice and flat(spec.notice).strip():
                cat.notice_phrases.add(flat(spec.notice).strip())
            for url in spec.urls:
                cat.urls.append((url.lower().strip("/"), spec.id))
            for text in spec.texts:
                cat._index_text(spec.id, text)
        if cat.phrases:
            alternation = "|".join(re.escape(p) for p in sorted(cat.phrases, key=len, reverse=True))
            cat.phrase_re = re.compile(rf"(?<![a-z0-9.])({alternation})(?![a-z0-9])")
        cat.urls.sort(key=lambda u: len(u[0]), reverse=True)
        return cat

    def _index_text(self, license_id: str, text: TextSpec) -> None:
        toks, _ = tokens_with_lines(text.text, placeholders=True)
        shingles: dict[tuple[str, ...], int] = {}
        for pos, sh in enumerate(zip(*(toks[i:] for i in range(SHINGLE)), strict=False)):
            if BREAK not in sh:
                shingles.setdefault(sh, pos)
        if not shingles:
            return
        first = min(shingles.values())
        lead = toks[:first]
        self.texts[text.name] = IndexedText(
            text.name, license_id, shingles, len(shingles), frozenset(lead) - {BREAK}, lead.count(BREAK)
        )
        spec = self.licenses[license_id]
        named = {
            t
            for phrase in (spec.name, *spec.names)
            for t in tokens(phrase)
            if t not in GENERIC_NAME_WORDS and ((len(t) > 1 and not t.isdigit()) or "." in t)
        }
        counts = {t: toks.count(t) for t in named}
        self.identity[text.name] = frozenset(t for t, n in counts.items() if n >= 2)
        for sh in shingles:
            self.index[sh] = (*self.index.get(sh, ()), text.name)

    # --- lookups -------------------------------------------------------------------------
    def resolve_alias(self, value: str) -> str | None:
        key = alias_key(value)
        if key in self.aliases:
            return self.aliases[key]
        for suffix in ("-only", "-or-later", "+", "-license", "-licence"):
            if key.endswith(suffix) and key[: -len(suffix)] in self.aliases:
                return self.aliases[key[: -len(suffix)]]
        return None

    def threat(self, license_id: str) -> str:
        spec = self.licenses.get(license_id)
        return spec.threat if spec else "unknown"

    def rank(self, license_id: str) -> int:
        return THREAT_RANK.get(self.threat(license_id), THREAT_RANK["unknown"])

    def terms(self, license_id: str) -> tuple[str, ...]:
        spec = self.licenses.get(license_id)
        return spec.terms if spec else ()

    def extended(self, specs: Iterable[LicenseSpec]) -> Catalog:
        """This catalog plus text-less entries (a rider found in one repository), sharing the indexes."""
        extra = {s.id: s for s in specs if s.id not in self.licenses}
        if not extra:
            return self
        return Catalog(
            licenses={**self.licenses, **extra},
            aliases=self.aliases,
            texts=self.texts,
            index=self.index,
            phrase_re=self.phrase_re,
            phrases=self.phrases,
            notice_phrases=self.notice_phrases,
            urls=self.urls,
            identity=self.identity,
            stamp=self.stamp,
        )

    def url_license(self, url: str) -> str | None:
        low = url.lower().replace("\\", "")
        for fragment, lid in self.urls:
            if fragment and fragment in low:
                return lid
        return None


def _cut(text: str, until: str) -> str:
    idx = text.find(until)
    return text[:idx] if idx > 0 else text


def specs_from_yaml(data_dir: Path = DATA_DIR) -> list[LicenseSpec]:
    """LicenseSpecs from catalog.yaml and the texts beside it (used by the seed migration too)."""
    import yaml

    raw = yaml.safe_load((data_dir / "catalog.yaml").read_text(encoding="utf-8"))
    specs: list[LicenseSpec] = []
    for item in raw["licenses"]:
        texts = []
        for t in item.get("texts") or []:
            body = (data_dir / "texts" / t["file"]).read_text(encoding="utf-8")
            name = t["file"]
            if t.get("until"):
                body = _cut(body, t["until"])
                name = f"{t['file']}#until"
            texts.append(TextSpec(name=name, text=body))
        specs.append(
            LicenseSpec(
                id=item["id"],
                name=item.get("name", ""),
                spdx=item.get("spdx") or "",
                family=item.get("family", ""),
                threat=item.get("threat", "unknown"),
                aliases=tuple(item.get("aliases") or ()),
                names=tuple(item.get("names") or ()),
                urls=tuple(item.get("urls") or ()),
                texts=tuple(texts),
                obligations=tuple(ObligationSpec(*o) for o in item.get("obligations") or ()),
                component_of=item.get("component_of") or "",
                notice=item.get("notice") or "",
                display=item.get("display") or "",
                naming_prefix=item.get("naming_prefix") or "",
                binds_output_trained=bool(item.get("binds_output_trained")),
            )
        )
    return specs


def vocabulary_from_yaml(data_dir: Path = DATA_DIR) -> list[dict[str, str]]:
    import yaml

    raw = yaml.safe_load((data_dir / "catalog.yaml").read_text(encoding="utf-8"))
    return list(raw.get("vocabulary") or [])


_CACHE: dict[str, Catalog] = {}


def load_catalog(data_dir: Path = DATA_DIR) -> Catalog:
    """The catalog as shipped in licenses/data (cached per process)."""
    key = str(data_dir)
    if key not in _CACHE:
        _CACHE[key] = Catalog.build(specs_from_yaml(data_dir), stamp="data")
    return _CACHE[key]
