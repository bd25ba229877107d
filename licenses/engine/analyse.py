"""The whole chain for one version: declared → observed → inherited → effective (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from licenses.engine.catalog import Catalog
from licenses.engine.declared import Declared, declare
from licenses.engine.inherit import Inherited, guess_from_repo, trained_on_outputs
from licenses.engine.observed import Evidence, observe
from licenses.engine.resolve import Resolution, resolve

_FRONT_MATTER = re.compile(r"\A\ufeff?---\s*\n.*?\n---\s*(\n|\Z)", re.DOTALL)


@dataclass
class BaseInput:
    repo_id: str
    relation: str = "unknown"
    effective: str | None = None  # the base version's effective expression, when analysed
    placeholder: bool = False


@dataclass
class AnalysisInput:
    repo_id: str
    card_data: dict[str, Any] = field(default_factory=dict)
    card_markdown: str = ""
    tags: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    bases: list[BaseInput] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    pipeline_tag: str = ""


@dataclass
class AnalysisResult:
    declared: Declared
    observed: list[Evidence]
    inherited: list[Inherited]
    resolution: Resolution

    def as_json(self) -> dict[str, Any]:
        """Exactly the `licenses --json` contract of DESIGN.md."""
        return {
            "declared": self.declared.expression,
            "declared_name": self.declared.name if self.declared.expression == "other" or self.declared.name else None,
            "observed": [e.as_json() for e in self.observed],
            "inherited": [i.as_json() for i in self.inherited],
            "effective": self.resolution.effective,
            "obligations": self.resolution.obligations,
            "conflict": bool(self.resolution.conflicts),
            "conflicts": self.resolution.conflicts,
        }


def readme_body(markdown: str) -> str:
    return _FRONT_MATTER.sub("", markdown or "", count=1)


def inherit_from_bases(bases: list[BaseInput]) -> list[Inherited]:
    out: list[Inherited] = []
    for base in bases:
        if base.effective:
            out.append(Inherited(base.effective, base.repo_id, base.relation, False, "effective license of the base"))
            continue
        guess = guess_from_repo(base.repo_id)
        if guess:
            out.append(Inherited(guess, base.repo_id, base.relation, True, "base not imported: guessed from its name"))
        else:
            out.append(Inherited("unknown", base.repo_id, base.relation, True, "base not imported and not recognised"))
    return out


def analyse(catalog: Catalog, data: AnalysisInput) -> AnalysisResult:
    declared = declare(catalog, data.card_data, data.tags)
    gated = data.card_data.get("extra_gated_prompt") if isinstance(data.card_data, dict) else ""
    body = readme_body(data.card_markdown)
    observed = observe(catalog, data.files, readme=body, gated_prompt=str(gated or ""))
    inherited = inherit_from_bases(data.bases)
    card_datasets = data.card_data.get("datasets") if isinstance(data.card_data, dict) else None
    datasets = list(data.datasets) + [str(d) for d in (card_datasets if isinstance(card_datasets, list) else [])]
    have = {i.license for i in inherited}
    inherited += [i for i in trained_on_outputs(catalog, body, datasets) if i.license not in have]
    resolution = resolve(
        catalog,
        declared=declared,
        observed=observed,
        inherited=inherited,
        repo_id=data.repo_id,
        derivative_relations=[b.relation for b in data.bases],
    )
    return AnalysisResult(declared, observed, inherited, resolution)
