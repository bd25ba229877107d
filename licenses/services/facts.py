"""The read API: license facts per version and use fit per application (bulk, constant queries)."""

from __future__ import annotations

from typing import Any

from inventory.choices import RevenueBand
from inventory.models import Application, ModelVersion, Organization
from licenses.choices import AnalysisState, ConclusionStatus
from licenses.engine.catalog import Catalog
from licenses.engine.declared import ids_of, parse_expression, render
from licenses.engine.observed import scope_of
from licenses.engine.resolve import obligations_of
from licenses.engine.usefit import judge
from licenses.models import (
    THREAT_SEVERITY,
    LicenseAnalysis,
    LicenseConclusion,
)
from licenses.services.catalog import engine_catalog

TEXT_KINDS = ("exact", "modified", "header", "partial")


# --- read API ------------------------------------------------------------------------------------
def _missing_facts() -> dict[str, Any]:
    return {
        "analysed": False,
        "state": "missing",
        "declared": None,
        "declared_ids": [],
        "declared_name": None,
        "observed_ids": [],
        "observed_text_ids": [],
        "observed": [],
        "inherited_ids": [],
        "effective": "unknown",
        "effective_ids": ["unknown"],
        "detected_effective": "unknown",
        "threat_groups": ["unknown"],
        "threat_group": "unknown",
        "obligations": [],
        "conflict": False,
        "conflicts": [],
        "unknown": True,
        "other": False,
        "weak": False,
        "review_status": ConclusionStatus.OPEN.value,
        "concluded": False,
    }


def _facts_from(
    analysis: LicenseAnalysis, conclusion: LicenseConclusion | None, catalog: Catalog | None = None
) -> dict[str, Any]:
    if analysis.state != AnalysisState.DONE:
        facts = _missing_facts()
        facts["state"] = analysis.state
        return facts
    catalog = catalog or engine_catalog()
    summary = analysis.summary or {}
    effective = analysis.effective
    effective_ids = list(analysis.effective_ids)
    obligations = list(analysis.obligations)
    concluded = False
    if conclusion is not None and conclusion.status in ConclusionStatus.deciding() and conclusion.license_expression:
        tree = parse_expression(catalog, conclusion.license_expression)
        effective = render(tree) or effective
        effective_ids = ids_of(tree)
        obligations = obligations_of(catalog, tree)
        concluded = True
    # A rider found in this repository (LicenseRef-…-rider) is not in the catalog: its group is the analysis's.
    groups = [catalog.threat(i) if concluded or i in catalog.licenses else analysis.threat_group for i in effective_ids]
    observed = summary.get("observed", [])
    # Texts in third-party notices (NOTICE, THIRD_PARTY_NOTICES) are borrowed code's licenses, not this model's.
    own_observed = [o for o in observed if not (o["match"] in TEXT_KINDS and scope_of(o["path"]) == "notice")]
    return {
        "analysed": True,
        "state": analysis.state,
        "declared": analysis.declared or None,
        "declared_ids": ids_of(parse_expression(catalog, analysis.declared)) if analysis.declared else [],
        "declared_name": analysis.declared_name or None,
        "observed_ids": list(dict.fromkeys(_parent_id(catalog, o["license"]) for o in own_observed)),
        "observed_text_ids": list(dict.fromkeys(o["license"] for o in own_observed if o["match"] in TEXT_KINDS)),
        "observed": observed,
        "inherited_ids": list(dict.fromkeys(i for inh in analysis.inherited for i in _ids(catalog, inh["license"]))),
        "effective": effective,
        "effective_ids": effective_ids,
        "detected_effective": analysis.effective,
        "threat_groups": groups,
        "threat_group": max(groups, key=lambda g: THREAT_SEVERITY.get(g, 6)) if groups else "unknown",  # type: ignore[call-overload]
        "obligations": obligations,
        "conflict": analysis.conflict,
        "conflicts": list(analysis.conflicts),
        "unknown": "unknown" in effective_ids,
        "other": "other" in effective_ids,
        "weak": analysis.is_weak,
        "review_status": conclusion.status if conclusion else ConclusionStatus.OPEN.value,
        "concluded": concluded,
    }


def _parent_id(catalog: Catalog, license_id: str) -> str:
    """An AUP / usage policy counts as the license it is a component of."""
    spec = catalog.licenses.get(license_id)
    return spec.component_of if spec is not None and spec.component_of else license_id


def _ids(catalog: Catalog, expression: str) -> list[str]:
    return ids_of(parse_expression(catalog, expression)) if expression else []


def license_facts(version_ids: list[int] | set[int]) -> dict[int, dict[str, Any]]:
    """Facts per version for the policy engine (see the module docstring). Constant query count."""
    ids = list(dict.fromkeys(int(v) for v in version_ids))
    analyses = {a.version_id: a for a in LicenseAnalysis.objects.filter(version_id__in=ids)}
    latest: dict[int, LicenseConclusion] = {}
    for c in LicenseConclusion.objects.filter(
        version_id__in=ids, application__isnull=True, organization__isnull=True
    ).order_by("version_id", "-created_at", "-id"):
        latest.setdefault(c.version_id, c)
    catalog = engine_catalog()
    out: dict[int, dict[str, Any]] = {}
    for vid in ids:
        analysis = analyses.get(vid)
        out[vid] = _facts_from(analysis, latest.get(vid), catalog) if analysis else _missing_facts()
    return out


def _scoped_conclusion(
    conclusions: list[LicenseConclusion], application: Application, org_chain: list[int]
) -> LicenseConclusion | None:
    """Most specific scope wins: this application, then its organization up to the root, then everywhere."""
    for c in conclusions:
        if c.application_id == application.pk:
            return c
    for org_id in org_chain:
        for c in conclusions:
            if c.organization_id == org_id:
                return c
    for c in conclusions:
        if c.application_id is None and c.organization_id is None:
            return c
    return None


def _org_chain(application: Application) -> list[int]:
    org = application.organization
    chain = [org.pk] + [o.pk for o in reversed(org.ancestors())]
    return chain


def _judge(
    facts: dict[str, Any], application: Application, pipeline_tag: str = "", catalog: Catalog | None = None
) -> tuple[bool, list[str]]:
    catalog = catalog or engine_catalog()
    sources: dict[str, list[str]] = {}
    for lid in facts["effective_ids"]:
        for term in catalog.terms(lid):
            sources.setdefault(term, []).append(lid)
    return judge(
        effective=facts["effective"],
        effective_ids=facts["effective_ids"],
        obligations=facts["obligations"],
        profile=application.use_profile(),
        revenue_upper_bound=RevenueBand.upper_bound,
        pipeline_tag=pipeline_tag,
        sources=sources,
    )


def use_fit_many(pairs: list[tuple[int, Application]]) -> dict[tuple[int, int], tuple[bool, list[str]]]:
    """Use fit for many (version id, application) pairs in a constant number of queries."""
    version_ids = list({vid for vid, _ in pairs})
    analyses = {
        a.version_id: a
        for a in LicenseAnalysis.objects.filter(version_id__in=version_ids).select_related("version__model")
    }
    conclusions: dict[int, list[LicenseConclusion]] = {}
    for c in LicenseConclusion.objects.filter(version_id__in=version_ids).order_by("-created_at", "-id"):
        conclusions.setdefault(c.version_id, []).append(c)
    org_ids = {app.organization_id for _, app in pairs}
    orgs = {o.pk: o for o in Organization.objects.all()} if org_ids else {}
    catalog = engine_catalog()
    out: dict[tuple[int, int], tuple[bool, list[str]]] = {}
    for vid, app in pairs:
        chain: list[int] = []
        node = orgs.get(app.organization_id)
        while node is not None and len(chain) < 64:
            chain.append(node.pk)
            node = orgs.get(node.parent_id) if node.parent_id else None
        analysis = analyses.get(vid)
        conclusion = _scoped_conclusion(conclusions.get(vid, []), app, chain)
        facts = _facts_from(analysis, conclusion, catalog) if analysis else _missing_facts()
        tag = analysis.version.model.pipeline_tag if analysis else ""
        out[(vid, app.pk)] = _judge(facts, app, tag, catalog)
    return out


def use_fit(version: ModelVersion, application: Application) -> tuple[bool, list[str]]:
    """ "use permitted / not permitted, because …" for one application."""
    return use_fit_many([(version.pk, application)])[(version.pk, application.pk)]


def _concluded_expression(version_id: int) -> str | None:
    latest = LicenseConclusion.objects.filter(
        version_id=version_id, application__isnull=True, organization__isnull=True
    ).first()
    if latest and latest.status in ConclusionStatus.deciding() and latest.license_expression:
        return latest.license_expression
    return None


def _app_facts(application: Application, version_ids: list[int]) -> dict[int, dict[str, Any]]:
    analyses = {a.version_id: a for a in LicenseAnalysis.objects.filter(version_id__in=version_ids)}
    conclusions: dict[int, list[LicenseConclusion]] = {}
    for c in LicenseConclusion.objects.filter(version_id__in=version_ids).order_by("-created_at", "-id"):
        conclusions.setdefault(c.version_id, []).append(c)
    chain = _org_chain(application)
    catalog = engine_catalog()
    out = {}
    for vid in version_ids:
        a = analyses.get(vid)
        conclusion = _scoped_conclusion(conclusions.get(vid, []), application, chain)
        out[vid] = _facts_from(a, conclusion, catalog) if a else _missing_facts()
    return out
