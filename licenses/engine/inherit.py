"""Inherited layer: what bases (fine-tune, adapter, quantized, merge — transitively) and models whose
outputs trained this one pass down.

A base that was imported is analysed itself and hands over its *effective* expression, which
already includes what its own bases pass down: that makes the walk transitive. A placeholder base
(named by the card, not imported) has no analysis: its repo name is matched against well-known
families as weak evidence (`guess_from_repo`); when nothing matches it passes down `unknown`, so
the version lands in the review queue instead of looking clean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from licenses.engine.catalog import Catalog

# Placeholder bases: repo-name patterns of well-known model families → license (weak evidence).
KNOWN_BASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, re.IGNORECASE), lid)
    for p, lid in [
        (r"llama[-_ ]?2", "llama2"),
        (r"llama[-_ ]?3[._]1", "llama3.1"),
        (r"llama[-_ ]?3[._]2", "llama3.2"),
        (r"llama[-_ ]?3[._]3", "llama3.3"),
        (r"llama[-_ ]?3(?![._]?\d)", "llama3"),
        (r"llama[-_ ]?4", "llama4"),
        (r"^huggyllama/|(^|/)llama-(7|13|30|65)b", "llama1"),
        (r"(^|/)(codegemma|paligemma|gemma)", "gemma"),
        (r"flux\.?1[-_]dev|flux\.?1-(fill|depth|canny|redux|kontext)-dev", "flux-1-dev-non-commercial"),
        (r"flux\.?1[-_]schnell", "apache-2.0"),
        (r"stable-diffusion-3|sd3\.5|stable-audio|stable-fast-3d", "stabilityai-community"),
        (r"sdxl-turbo|sd-turbo|stable-video-diffusion|sv3d", "stabilityai-nc-research-community"),
        (r"stable-diffusion-xl|sdxl", "openrail++"),
        (r"stable-diffusion-2", "openrail++"),
        (r"stable-diffusion-v1|compvis/stable-diffusion", "creativeml-openrail-m"),
        (r"bigscience/bloom", "bigscience-bloom-rail-1.0"),
        (r"bigcode/starcoder(?!2)", "bigcode-openrail-m"),
        (r"falcon-?2-11b|falcon2-11b", "falcon-2-11b"),
        (r"^mistralai/codestral|ministral-8b", "mnpl"),
    ]
]

# Card phrases naming a model whose *outputs* trained this one.
OUTPUT_SOURCES: list[tuple[str, str]] = [
    (r"gemma(?:[-\s]?\d(?:\.\d)?)?", "gemma"),
    (r"llama[-\s]?2", "llama2"),
    (r"llama[-\s]?3\.1", "llama3.1"),
    (r"llama[-\s]?3\.2", "llama3.2"),
    (r"llama[-\s]?3\.3", "llama3.3"),
    (r"llama[-\s]?4", "llama4"),
    (r"flux(?:\.1)?[-\s]*\[?dev\]?", "flux-1-dev-non-commercial"),
    (r"stable[-\s]?diffusion[-\s]?3(?:\.5)?|sd\s?3(?:\.5)?|stability\s+ai(?:'s)?\s+models?", "stabilityai-community"),
    (r"qwen(?:[-\s]?\d(?:\.\d)?)?", "qwen"),
]
_SRC = "|".join(f"(?P<s{i}>{p})" for i, (p, _) in enumerate(OUTPUT_SOURCES))
_GAP = r"\s+(?:the\s+)?(?:[\w.\-]+\s+){0,3}?"
_OUTPUT_PATTERNS = [
    re.compile(
        r"\b(?:outputs?|generations?|responses?|completions?|synthetic\s+data|samples?)"
        rf"\s+(?:of|from|by|generated\s+by|produced\s+by){_GAP}(?:{_SRC})\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:generated|produced|created|synthesi[sz]ed|distilled|annotated|labell?ed)"
        rf"\s+(?:by|with|using|from){_GAP}(?:{_SRC})\b",
        re.IGNORECASE,
    ),
    re.compile(rf"\bdistill\w*\s+(?:of|from)\s+(?:the\s+)?(?:[\w.\-]+\s+){{0,3}}?(?:{_SRC})\b", re.IGNORECASE),
    re.compile(rf"(?:{_SRC})[-\s](?:generated|distilled|synthetic|outputs?)\b", re.IGNORECASE),
]
_DATASET_HINT = re.compile(r"synthetic|distill|generated|outputs?|responses", re.IGNORECASE)


@dataclass
class Inherited:
    license: str  # expression
    from_: str  # base repo_id, or "outputs of <name>"
    relation: str = ""
    weak: bool = False
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        return {"license": self.license, "from": self.from_}


def guess_from_repo(repo_id: str) -> str | None:
    for pattern, lid in KNOWN_BASES:
        if pattern.search(repo_id):
            return lid
    return None


def _source_name(m: re.Match[str]) -> str:
    for i in range(len(OUTPUT_SOURCES)):
        if m.group(f"s{i}"):
            return m.group(f"s{i}").strip()
    return m.group(0).strip()


def _source_id(m: re.Match[str]) -> str | None:
    for i, (_, lid) in enumerate(OUTPUT_SOURCES):
        if m.group(f"s{i}"):
            return lid
    return None


def trained_on_outputs(catalog: Catalog, card_markdown: str, datasets: list[str]) -> list[Inherited]:
    """Licenses that bind this model because the card says it was trained on their models' outputs."""
    found: dict[str, Inherited] = {}
    text = re.sub(r"\s+", " ", card_markdown or "")
    for pattern in _OUTPUT_PATTERNS:
        for m in pattern.finditer(text):
            lid = _source_id(m)
            spec = catalog.licenses.get(lid or "")
            if lid and spec and spec.binds_output_trained and lid not in found:
                quote = m.group(0).strip()
                name = _source_name(m)
                found[lid] = Inherited(
                    lid, f"outputs of {name} (model card)", "outputs", False, f"card: “{quote[:160]}”"
                )
    for ds in datasets:
        if not _DATASET_HINT.search(ds):
            continue
        for pat, lid in OUTPUT_SOURCES:
            spec = catalog.licenses.get(lid)
            if spec and spec.binds_output_trained and lid not in found and re.search(pat, ds, re.IGNORECASE):
                found[lid] = Inherited(lid, f"outputs of {lid} (dataset {ds})", "outputs", False, f"dataset {ds}")
    return list(found.values())


@dataclass
class ProseLineage:
    license: str
    name: str  # the model named, as written
    relation: str  # finetune | outputs
    line: int
    quote: str


def lineage_in_prose(card_markdown: str) -> list[ProseLineage]:
    """Bases and output sources a card names in prose ("fine-tuned from Gemma", "distilled from Llama 3.1
    outputs"), with the line: reference evidence, and weak inheritance when the metadata names no base."""
    out: dict[str, ProseLineage] = {}
    for lineno, line in enumerate((card_markdown or "").splitlines(), start=1):
        if not line.strip():
            continue
        for m in _LINEAGE.finditer(line):
            name = m.group("name").strip()
            lid = guess_from_repo(name.replace(" ", "-")) or _family(name)
            if not lid or lid in out:
                continue
            tail = line[m.end() : m.end() + 40].lower()
            outputs = bool(re.search(r"outputs?|generations?|responses|synthetic", m.group(0) + " " + tail, re.I))
            out[lid] = ProseLineage(lid, name, "outputs" if outputs else "finetune", lineno, line.strip()[:200])
    return list(out.values())


def _family(name: str) -> str | None:
    for pattern, lid in OUTPUT_SOURCES:
        if re.fullmatch(pattern, name, re.IGNORECASE):
            return lid
    return None


_MODEL_NAME = (
    r"(?P<name>(?:meta[-\s])?llama[-\s]?\d(?:\.\d)?(?:[-\s]\d+b)?|(?:code|pali)?gemma(?:[-\s]?\d(?:\.\d)?)?"
    r"(?:[-\s]\d+b)?|qwen(?:[-\s]?\d(?:\.\d)?)?(?:[-\s]\d+b)?|flux(?:\.1)?[-\s]*\[?dev\]?|stable[-\s]diffusion"
    r"(?:[-\s](?:v?1(?:[.-]\d)?|2(?:\.1)?|xl|3(?:\.5)?))?|sdxl|sd\s?3(?:\.5)?|bloom(?:z)?|starcoder2?|falcon[-\s]?2[-\s]11b)"
)
_LINEAGE = re.compile(
    r"\b(?:fine[-\s]?tuned|finetuned|trained|built|based|derived|distilled|adapted|merged|quantized|"
    r"continued\s+pre-?training|initiali[sz]ed)\s+(?:(?:\w+\s+){0,2}?(?:from|on|upon|of|with)\s+)?(?:the\s+)?"
    r"(?:(?:outputs?|generations?|responses)\s+of\s+)?" + _MODEL_NAME + r"(?![\w.])",
    re.IGNORECASE,
)
