"""The whole chain for one version: declared → observed → inherited → effective (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from licenses.engine.catalog import Catalog, LicenseSpec, ObligationSpec
from licenses.engine.declared import Declared, declare
from licenses.engine.inherit import Inherited, guess_from_repo, lineage_in_prose, trained_on_outputs
from licenses.engine.observed import README_PATH, Evidence, observe
from licenses.engine.resolve import Resolution, resolve

_FRONT_MATTER = re.compile(r"\A\ufeff?---\s*\n.*?\n---\s*(\n|\Z)", re.DOTALL)


@dataclass
class BaseInput:
    repo_id: str
    relation: str = "unknown"
    effective: str | None = None  # the base version's effective expression, when analysed
    placeholder: bool = False
    # A base not imported: what its Hub card declares (resolved by the Hub adapter, cached), and where from.
    hub_license: str | None = None
    hub_from: str = ""


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
    catalog: Catalog | None = None  # the catalog the resolution used (with this repository's riders)

    def as_json(self) -> dict[str, Any]:
        """The `licenses --json` contract of DESIGN.md, plus `scopes` ({"weights", "code"} when they differ)."""
        return {
            "declared": self.declared.expression,
            "declared_name": self.declared.name if self.declared.expression == "other" or self.declared.name else None,
            "observed": [e.as_json() for e in self.observed],
            "inherited": [i.as_json() for i in self.inherited],
            "effective": self.resolution.effective,
            "obligations": self.resolution.obligations,
            "conflict": bool(self.resolution.conflicts),
            "conflicts": self.resolution.conflicts,
            "scopes": self.resolution.scopes,
        }


def readme_body(markdown: str) -> str:
    return _FRONT_MATTER.sub("", markdown or "", count=1)


def inherit_from_bases(bases: list[BaseInput]) -> list[Inherited]:
    out: list[Inherited] = []
    for base in bases:
        if base.effective:
            out.append(Inherited(base.effective, base.repo_id, base.relation, False, "effective license of the base"))
            continue
        if base.hub_license and base.hub_license != "unknown":  # `other`: custom terms, known to exist
            source = base.hub_from or f"Hub card of {base.repo_id}"
            out.append(Inherited(base.hub_license, source, base.relation, False, "base not imported: its Hub card"))
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
    for found in lineage_in_prose(body):
        observed.append(
            Evidence(
                README_PATH,
                found.license,
                "reference",
                0.6,
                found.line,
                found.line,
                0.0,
                f"lineage ({found.relation}): “{found.quote}”",
                "lineage",
            )
        )
        if not data.bases and found.license not in {i.license for i in inherited}:
            inherited.append(
                Inherited(
                    found.license,
                    f"{found.name} (named in the model card, line {found.line})",
                    found.relation,
                    True,
                    f"card prose: “{found.quote}”",
                )
            )
    catalog = catalog.extended(_rider_specs(observed))
    resolution = resolve(
        catalog,
        declared=declared,
        observed=observed,
        inherited=inherited,
        repo_id=data.repo_id,
        derivative_relations=[b.relation for b in data.bases],
    )
    return AnalysisResult(declared, observed, inherited, resolution, catalog)


def _rider_specs(observed: list[Evidence]) -> list[LicenseSpec]:
    """Catalog entries for the riders found in this repository: a LicenseRef id carrying the rider's terms."""
    specs = {}
    for e in observed:
        if e.terms and e.license not in specs:
            restrictive = {"non-commercial", "research-only", "non-production"} & set(e.terms)
            specs[e.license] = LicenseSpec(
                id=e.license,
                name=f"Rider in {e.path}",
                threat="non-commercial" if restrictive else "ai-restricted",
                obligations=tuple(ObligationSpec(t, f"{e.path}:{e.start_line}", e.detail[:300]) for t in e.terms),
            )
    return list(specs.values())
