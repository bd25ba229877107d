"""License attribution use cases.

Read API for other apps (stable; the policy engine and `import_model --wait` depend on it)
-------------------------------------------------------------------------------------------
``license_facts(version_ids) -> dict[int, dict]`` — bulk, constant number of queries (4) whatever the
number of versions. Per version id:

    {
      "analysed": bool,            # a finished LicenseAnalysis exists
      "state": "queued|running|done|failed|missing",
      "declared": "apache-2.0" | None,        # canonical expression from card metadata
      "declared_ids": ["apache-2.0"],
      "declared_name": str | None,            # license_name when declared is other
      "observed_ids": ["llama2", ...],        # licenses found in files/README/gated prompt (an AUP counts
                                              # as the license it belongs to: llama2-aup → llama2)
      "observed_text_ids": ["llama2"],        # only licenses whose (full or partial) text is shipped
      "observed": [{"path", "license", "match", "score"}],
      "inherited_ids": ["llama3"],
      "effective": "mit AND llama3",          # after an installation-wide reviewer conclusion
      "effective_ids": ["mit", "llama3"],
      "detected_effective": "mit AND llama3", # before any conclusion
      "threat_groups": ["permissive", "ai-restricted"],
      "threat_group": "ai-restricted",        # the most restrictive one
      "obligations": ["no-output-for-training-other-models", ...],  # vocabulary terms
      "conflict": bool, "conflicts": [str],
      "unknown": bool, "other": bool, "weak": bool,   # unknown license / custom terms / references only
      "review_status": "open|acknowledged|selected|overridden|confirmed",
      "concluded": bool,                      # a deciding conclusion replaced the detected license
    }

Versions never analysed come back with state "missing", effective "unknown", unknown True.

``use_fit(version, application) -> (permitted: bool, reasons: list[str])`` and the bulk form
``use_fit_many([(version_id, application), ...]) -> {(version_id, application_id): (bool, reasons)}``
judge the effective obligations (after the most specific conclusion: application > organization
chain > installation) against ``application.use_profile()``. Reasons beginning "not permitted:"
are the blocking ones; the rest are cautions.

``license_summary(version) -> dict`` — the `licenses REPO_ID --json` object (DESIGN.md contract),
analysing synchronously when no finished analysis exists; an installation-wide deciding conclusion
replaces `effective` and `obligations`.

Use cases (keyword-only, atomic, audited): analyse_version, conclude_license, set_obligation_status,
save_license, save_obligation, save_license_obligation, reanalyse_all_versions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from governance.permissions import require
from governance.services import record_event
from inventory.choices import RevenueBand, Source
from inventory.models import Application, ApplicationModel, BaseModelLink, ModelVersion, Organization
from licenses import engine
from licenses.choices import AnalysisState, ChecklistStatus, ConclusionStatus, ThreatGroup
from licenses.engine.analyse import readme_body
from licenses.engine.catalog import Catalog, LicenseSpec, ObligationSpec, TextSpec
from licenses.engine.declared import ids_of, parse_expression, render
from licenses.engine.observed import GATED_PROMPT_PATH, README_PATH, is_license_named, wants
from licenses.engine.resolve import obligations_of
from licenses.engine.usefit import judge
from licenses.models import (
    THREAT_SEVERITY,
    License,
    LicenseAnalysis,
    LicenseConclusion,
    LicenseEvidence,
    LicenseObligation,
    LicenseText,
    Obligation,
    ObligationStatus,
)

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1_000_000
MAX_FILES = 1000
MAX_SNIPPET_LINES = 1500
MAX_BASE_DEPTH = 8
QUEUE_THREATS = {ThreatGroup.AI_RESTRICTED, ThreatGroup.NON_COMMERCIAL, ThreatGroup.PROPRIETARY, ThreatGroup.UNKNOWN}


# --- the catalog the engine reads ---------------------------------------------------------------
_CATALOG_CACHE: dict[str, Catalog] = {}


def catalog_stamp() -> str:
    agg = License.objects.aggregate(n=Count("id"), t=Max("updated_at"))
    lo = LicenseObligation.objects.aggregate(n=Count("id"), t=Max("updated_at"))
    ob = Obligation.objects.aggregate(t=Max("updated_at"))
    variants = LicenseText.objects.count()
    return f"{agg['n']}-{agg['t']}-{lo['n']}-{lo['t']}-{ob['t']}-{variants}"


def engine_catalog() -> Catalog:
    """The engine's catalog built from the database rows, rebuilt only when they change."""
    stamp = catalog_stamp()
    cached = _CATALOG_CACHE.get("db")
    if cached is not None and cached.stamp == stamp:
        return cached
    variants: dict[int, list[TextSpec]] = {}
    for v in LicenseText.objects.all():
        variants.setdefault(v.license_id, []).append(TextSpec(f"{v.license_id}:{v.name}", v.text))
    obligations: dict[int, list[ObligationSpec]] = {}
    for lo in LicenseObligation.objects.select_related("obligation"):
        obligations.setdefault(lo.license_id, []).append(ObligationSpec(lo.obligation.term, lo.clause, lo.quote))
    specs = []
    for lic in License.objects.active().select_related("component_of"):
        texts = [TextSpec(f"{lic.key}.txt", lic.text)] if lic.text.strip() else []
        specs.append(
            LicenseSpec(
                id=lic.key,
                name=lic.name,
                spdx=lic.spdx_id,
                family=lic.family,
                threat=lic.threat_group,
                aliases=tuple(lic.aliases or ()),
                names=tuple(lic.reference_names or ()),
                urls=tuple(lic.urls or ()),
                texts=tuple(texts + variants.get(lic.pk, [])),
                obligations=tuple(obligations.get(lic.pk, [])),
                component_of=lic.component_of.key if lic.component_of else "",
                notice=lic.notice,
                display=lic.display_attribution,
                naming_prefix=lic.naming_prefix,
                binds_output_trained=lic.binds_output_trained,
            )
        )
    catalog = Catalog.build(specs, stamp=stamp)
    _CATALOG_CACHE["db"] = catalog
    return catalog


# --- reading a version's files ------------------------------------------------------------------
@dataclass
class FileTexts:
    texts: dict[str, str]
    notes: list[str]


def read_version_files(version: ModelVersion) -> FileTexts:
    """Texts of the files that may carry license terms (local folder or the Hub). Never raises."""
    candidates = [
        f
        for f in version.files.all()
        if not f.is_lfs and f.size <= MAX_FILE_BYTES and wants(f.path) and f.path.lower() != "readme.md"
    ]
    candidates.sort(key=lambda f: (not is_license_named(f.path), f.path))
    notes: list[str] = []
    if len(candidates) > MAX_FILES:
        notes.append(f"read the first {MAX_FILES} of {len(candidates)} text files")
        candidates = candidates[:MAX_FILES]
    texts: dict[str, str] = {}
    if version.local_path:
        root = Path(version.local_path).resolve()
        for f in candidates:
            target = (root / f.path).resolve()
            if not target.is_relative_to(root) or not target.is_file():
                notes.append(f"{f.path}: not found in {root}")
                continue
            with target.open("rb") as fh:
                texts[f.path] = fh.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")
    elif version.model.source == Source.HUB and candidates:
        from inventory.hub import EntryNotFound, HubClient, HubError

        client = HubClient()
        for f in candidates:
            try:
                texts[f.path] = client.read_text(
                    version.model.repo_id, version.commit, f.path, max_bytes=MAX_FILE_BYTES
                )
            except EntryNotFound:
                notes.append(f"{f.path}: missing on the Hub")
            except HubError as exc:
                notes.append(f"{f.path}: {exc}"[:300])
    return FileTexts(texts, notes)


def _readme(version: ModelVersion) -> str:
    return version.card_markdown or ""


def _card(version: ModelVersion) -> dict[str, Any]:
    return version.card_data if isinstance(version.card_data, dict) else {}


def _latest_version(model: Any) -> ModelVersion | None:
    if getattr(model, "latest_version_id", None):
        return model.latest_version  # type: ignore[no-any-return]
    return model.versions.order_by("-imported_at", "-id").first()  # type: ignore[no-any-return]


def _base_inputs(version: ModelVersion, seen: set[int]) -> list[engine.BaseInput]:
    bases: list[engine.BaseInput] = []
    for link in BaseModelLink.objects.filter(version=version).select_related("base"):
        base_version = _latest_version(link.base)
        effective: str | None = None
        if base_version is not None and base_version.pk not in seen and len(seen) < MAX_BASE_DEPTH:
            analysis = LicenseAnalysis.objects.filter(version=base_version, state=AnalysisState.DONE).first()
            if analysis is None:
                analysis = _analyse(base_version, seen=seen | {base_version.pk}, propagate=False)
            if analysis.state == AnalysisState.DONE:
                effective = _concluded_expression(base_version.pk) or analysis.effective
        bases.append(
            engine.BaseInput(
                repo_id=link.base.repo_id,
                relation=link.relation,
                effective=effective,
                placeholder=base_version is None,
            )
        )
    return bases


def _concluded_expression(version_id: int) -> str | None:
    latest = LicenseConclusion.objects.filter(
        version_id=version_id, application__isnull=True, organization__isnull=True
    ).first()
    if latest and latest.status in ConclusionStatus.deciding() and latest.license_expression:
        return latest.license_expression
    return None


# --- analysis -----------------------------------------------------------------------------------
def analyse_version(*, version_id: int) -> LicenseAnalysis:
    """Attribute the licenses of one version (idempotent; re-running replaces the previous result)."""
    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    return _analyse(version, seen={version.pk}, propagate=True)


def _analyse(version: ModelVersion, *, seen: set[int], propagate: bool) -> LicenseAnalysis:
    analysis, _ = LicenseAnalysis.objects.get_or_create(version=version)
    LicenseAnalysis.objects.filter(pk=analysis.pk).update(
        state=AnalysisState.RUNNING, started_at=timezone.now(), error=""
    )
    try:
        catalog = engine_catalog()
        files = read_version_files(version)
        data = engine.AnalysisInput(
            repo_id=version.model.repo_id,
            card_data=_card(version),
            card_markdown=_readme(version),
            tags=list(version.model.tags or []),
            files=files.texts,
            bases=_base_inputs(version, seen),
            datasets=list(version.datasets.values_list("repo_id", flat=True)),
            pipeline_tag=version.model.pipeline_tag,
        )
        result = engine.analyse(catalog, data)
        analysis = _store(version, analysis, catalog, data, result, files)
    except Exception as exc:
        LicenseAnalysis.objects.filter(pk=analysis.pk).update(
            state=AnalysisState.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        analysis.refresh_from_db()
        log.exception("license analysis failed for version %s", version.pk)
        raise
    if propagate:
        transaction.on_commit(lambda: _after_analysis(version.pk))
    return analysis


def _snippet(text: str, start: int, end: int, *, whole: bool) -> tuple[str, int]:
    lines = text.splitlines()
    if whole:
        first = max(1, start - 3)
        last = min(len(lines), end + 3, first + MAX_SNIPPET_LINES)
    else:
        first = max(1, start - 5)
        last = min(len(lines), end + 5)
    return "\n".join(lines[first - 1 : last]), first


@transaction.atomic
def _store(
    version: ModelVersion,
    analysis: LicenseAnalysis,
    catalog: Catalog,
    data: engine.AnalysisInput,
    result: engine.AnalysisResult,
    files: FileTexts,
) -> LicenseAnalysis:
    res = result.resolution
    sources = {**data.files, README_PATH: readme_body(data.card_markdown)}
    sources[GATED_PROMPT_PATH] = str(data.card_data.get("extra_gated_prompt") or "")
    analysis.evidence.all().delete()
    rows = []
    for e in result.observed:
        snippet, first = _snippet(sources.get(e.path, ""), e.start_line, e.end_line, whole=e.match != "reference")
        rows.append(
            LicenseEvidence(
                analysis=analysis,
                layer="observed",
                path=e.path[:1000],
                license_key=e.license,
                match=e.match,
                score=e.score,
                coverage=e.coverage,
                scope=e.scope,
                start_line=e.start_line,
                end_line=e.end_line,
                detail=e.detail[:500],
                snippet=snippet,
                snippet_start=first,
            )
        )
    LicenseEvidence.objects.bulk_create(rows)
    groups = [catalog.threat(i) for i in res.effective_ids]
    worst = max(groups, key=lambda g: THREAT_SEVERITY.get(g, 6)) if groups else ThreatGroup.UNKNOWN  # type: ignore[call-overload]
    analysis.declared = result.declared.expression or ""
    analysis.declared_name = result.declared.name or ""
    analysis.declared_link = result.declared.link or ""
    analysis.declared_source = result.declared.source
    analysis.declared_raw = result.declared.raw
    analysis.own = res.own or ""
    analysis.own_source = res.own_source
    analysis.inherited = [
        {**i.as_json(), "relation": i.relation, "weak": i.weak, "detail": i.detail} for i in result.inherited
    ]
    analysis.effective = res.effective
    analysis.effective_ids = res.effective_ids
    analysis.reason = res.reason
    analysis.obligations = res.obligations
    analysis.conflicts = res.conflicts
    analysis.conflict = bool(res.conflicts)
    analysis.threat_group = worst
    analysis.is_unknown = "unknown" in res.effective_ids
    analysis.is_other = "other" in res.effective_ids
    analysis.is_weak = res.weak or any(i.weak for i in result.inherited)
    analysis.notes = (
        result.declared.notes
        + files.notes
        + [f"unrecognised id in the card: {s}" for s in result.declared.unknown_symbols]
    )
    analysis.summary = result.as_json()
    analysis.catalog_stamp = catalog.stamp
    analysis.files_read = len(data.files)
    analysis.state = AnalysisState.DONE
    analysis.finished_at = timezone.now()
    analysis.error = ""
    analysis.save()
    analysis.unfit_applications = _unfit(version.pk, analysis)
    _score(analysis)
    LicenseAnalysis.objects.filter(pk=analysis.pk).update(
        unfit_applications=analysis.unfit_applications, risk=analysis.risk, needs_review=analysis.needs_review
    )
    ModelVersion.objects.filter(pk=version.pk).update(license_expression=res.effective[:300])
    return analysis


def _score(analysis: LicenseAnalysis) -> None:
    """Queue order: unknown/other/conflicts/unfit first, then by threat group."""
    unfit = len(analysis.unfit_applications)
    risk = THREAT_SEVERITY.get(analysis.threat_group, 6) * 10  # type: ignore[call-overload]
    risk += 40 if analysis.is_unknown else 0
    risk += 30 if analysis.is_other else 0
    risk += (25 + 5 * len(analysis.conflicts)) if analysis.conflict else 0
    risk += 20 * min(unfit, 5)
    risk += 10 if analysis.is_weak else 0
    analysis.risk = risk
    latest = LicenseConclusion.objects.filter(
        version_id=analysis.version_id, application__isnull=True, organization__isnull=True
    ).first()
    # A deciding conclusion settles the version until the detected license changes under it.
    settled = bool(
        latest and latest.status in ConclusionStatus.deciding() and latest.detected_effective == analysis.effective
    )
    analysis.needs_review = not settled and bool(
        analysis.is_unknown
        or analysis.is_other
        or analysis.conflict
        or analysis.is_weak
        or analysis.threat_group in QUEUE_THREATS
    )
    analysis.needs_review = analysis.needs_review or bool(unfit)


def _unfit(version_id: int, analysis: LicenseAnalysis) -> list[str]:
    """Names of the applications using this version whose use is not permitted (with their first reason)."""
    usages = list(ApplicationModel.objects.filter(version_id=version_id).select_related("application__organization"))
    if not usages:
        return []
    fits = use_fit_many([(version_id, u.application) for u in usages])
    out = []
    for u in usages:
        permitted, reasons = fits[(version_id, u.application_id)]
        if not permitted:
            out.append(
                f"{u.application.name}: {reasons[0].removeprefix('not permitted: ')}" if reasons else u.application.name
            )
    return out


def _after_analysis(version_id: int) -> None:
    from inventory import pipeline

    pipeline.facts_changed([version_id])
    # Derivatives analysed before this base was: re-analyse them if what it passes down changed.
    version = ModelVersion.objects.select_related("model").filter(pk=version_id).first()
    if version is None:
        return
    effective = _concluded_expression(version_id) or getattr(
        LicenseAnalysis.objects.filter(version_id=version_id).first(), "effective", None
    )
    from licenses import tasks

    for link in BaseModelLink.objects.filter(base=version.model).select_related("version__license_analysis"):
        derived = getattr(link.version, "license_analysis", None)
        if derived is None or derived.state != AnalysisState.DONE:
            continue
        passed = {i.get("from"): i.get("license") for i in derived.inherited}
        if passed.get(version.model.repo_id) != effective:
            tasks.analyse_version.delay(link.version_id)


def enqueue_analysis(*, version_id: int) -> None:
    """Queue the analysis after the current transaction commits."""
    from licenses import tasks

    LicenseAnalysis.objects.update_or_create(version_id=version_id, defaults={"state": AnalysisState.QUEUED})
    tasks.analyse_version.delay_on_commit(version_id)


def reanalyse_all_versions() -> int:
    """Re-run the analysis of every analysed version (after a catalog change). Returns the count."""
    ids = list(LicenseAnalysis.objects.values_list("version_id", flat=True))
    for vid in ids:
        try:
            analyse_version(version_id=vid)
        except Exception:  # recorded on the row
            log.warning("re-analysis of version %s failed", vid)
    return len(ids)


def refresh_use_fit(version_ids: list[int]) -> None:
    """Recompute the queue flags of analysed versions (usage or application profile changed)."""
    for analysis in LicenseAnalysis.objects.filter(version_id__in=version_ids, state=AnalysisState.DONE).select_related(
        "version__model"
    ):
        before = (analysis.risk, analysis.needs_review, analysis.unfit_applications)
        analysis.unfit_applications = _unfit(analysis.version_id, analysis)
        _score(analysis)
        if (analysis.risk, analysis.needs_review, analysis.unfit_applications) != before:
            LicenseAnalysis.objects.filter(pk=analysis.pk).update(
                risk=analysis.risk, needs_review=analysis.needs_review, unfit_applications=analysis.unfit_applications
            )


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
    groups = [catalog.threat(i) for i in effective_ids]
    observed = summary.get("observed", [])
    return {
        "analysed": True,
        "state": analysis.state,
        "declared": analysis.declared or None,
        "declared_ids": ids_of(parse_expression(catalog, analysis.declared)) if analysis.declared else [],
        "declared_name": analysis.declared_name or None,
        "observed_ids": list(dict.fromkeys(_parent_id(catalog, o["license"]) for o in observed)),
        "observed_text_ids": list(
            dict.fromkeys(o["license"] for o in observed if o["match"] in ("exact", "modified", "header", "partial"))
        ),
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


def license_summary(version: ModelVersion) -> dict[str, Any]:
    """The `licenses --json` object for `import_model --wait` (analyses now if needed)."""
    analysis = LicenseAnalysis.objects.filter(version=version, state=AnalysisState.DONE).first()
    if analysis is None:
        analysis = analyse_version(version_id=version.pk)
    summary = dict(analysis.summary)
    concluded = _concluded_expression(version.pk)
    if concluded:  # a reviewer's installation-wide conclusion always wins
        catalog = engine_catalog()
        tree = parse_expression(catalog, concluded)
        summary["effective"] = render(tree) or concluded
        summary["obligations"] = obligations_of(catalog, tree)
    return summary


# --- decisions (audited) -------------------------------------------------------------------------
class ConclusionError(ValueError):
    pass


def conclude_license(
    *,
    actor: Any,
    version: ModelVersion,
    status: str,
    comment: str,
    license_expression: str = "",
    application: Application | None = None,
    organization: Organization | None = None,
) -> LicenseConclusion:
    """Record a reviewer's conclusion about the effective license of a version (audited)."""
    require(actor, "licenses.conclude_license")
    if application is not None and organization is not None:
        raise ConclusionError("A conclusion is scoped to an application or an organization, not both.")
    if status not in ConclusionStatus.values:
        raise ConclusionError(f"Unknown status {status!r}.")
    if not comment.strip():
        raise ConclusionError("A comment is required.")
    catalog = engine_catalog()
    analysis = LicenseAnalysis.objects.filter(version=version).first()
    detected = analysis.effective if analysis else "unknown"
    expression = ""
    if license_expression.strip():
        unknown: list[str] = []
        tree = parse_expression(catalog, license_expression, unknown)
        if unknown:
            raise ConclusionError(f"Not in the catalog: {', '.join(unknown)}.")
        expression = render(tree) or ""
    if status == ConclusionStatus.CONFIRMED:
        expression = expression or detected
    if status in (ConclusionStatus.SELECTED, ConclusionStatus.OVERRIDDEN) and not expression:
        raise ConclusionError("Selected and overridden conclusions need a license expression.")
    if status == ConclusionStatus.SELECTED and analysis is not None:
        candidates = set(analysis.effective_ids) | {o["license"] for o in (analysis.summary or {}).get("observed", [])}
        candidates |= set(_ids(catalog, analysis.declared))
        chosen = set(_ids(catalog, expression))
        if not chosen <= candidates:
            raise ConclusionError(
                "“Selected” picks among the detected licenses; use “overridden” for "
                + ", ".join(sorted(chosen - candidates))
            )
    with transaction.atomic():
        previous = LicenseConclusion.objects.filter(
            version=version, application=application, organization=organization
        ).first()
        conclusion = LicenseConclusion.objects.create(
            version=version,
            application=application,
            organization=organization,
            status=status,
            license_expression=expression,
            detected_effective=detected,
            comment=comment.strip(),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        record_event(
            actor=actor,
            action="license.conclude",
            target=version,
            reason=comment.strip(),
            before={"status": previous.status, "license": previous.license_expression} if previous else None,
            after={"status": status, "license": expression, "scope": conclusion.scope_label, "detected": detected},
        )
        refresh_use_fit([version.pk])  # queue flags: settled by the conclusion, unfit applications recomputed
        vid = version.pk
        transaction.on_commit(lambda: _facts_changed([vid]))
    return conclusion


def _facts_changed(version_ids: list[int]) -> None:
    from inventory import pipeline

    pipeline.facts_changed(version_ids)


def set_obligation_status(
    *,
    actor: Any,
    application: Application,
    version: ModelVersion,
    term: str,
    status: str,
    owner: Any = None,
    note: str = "",
) -> ObligationStatus:
    """Tick one obligation of an application's checklist (audited)."""
    require(actor, "licenses.change_obligationstatus")
    if status not in ChecklistStatus.values:
        raise ValueError(f"Unknown checklist status {status!r}.")
    with transaction.atomic():
        obligation, _ = Obligation.objects.get_or_create(term=term)
        row, created = ObligationStatus.objects.get_or_create(
            application=application, version=version, obligation=obligation
        )
        before = None if created else {"status": row.status, "owner": row.owner_id, "note": row.note}
        row.status = status
        row.owner = owner
        row.note = note[:500]
        row.updated_by = actor if getattr(actor, "is_authenticated", False) else None
        row.save()
        record_event(
            actor=actor,
            action="license.obligation_status",
            target=application,
            reason=note,
            before=before,
            after={"version": version.pk, "obligation": term, "status": status, "owner": getattr(owner, "pk", None)},
        )
    return row


@dataclass
class ChecklistRow:
    version: ModelVersion
    term: str
    meaning: str
    licenses: list[str]
    status: str
    owner: Any
    note: str
    row_id: int | None


def obligation_checklist(application: Application) -> list[ChecklistRow]:
    """Every obligation of every version the application uses, with its checklist state."""
    usages = list(ApplicationModel.objects.filter(application=application).select_related("version__model"))
    vids = [u.version_id for u in usages]
    facts_by_version = _app_facts(application, vids)
    statuses = {
        (s.version_id, s.obligation.term): s
        for s in ObligationStatus.objects.filter(application=application).select_related("obligation", "owner")
    }
    meanings = {o.term: o.meaning for o in Obligation.objects.all()}
    catalog = engine_catalog()
    rows: list[ChecklistRow] = []
    for u in usages:
        facts = facts_by_version[u.version_id]
        for term in facts["obligations"]:
            st = statuses.get((u.version_id, term))
            rows.append(
                ChecklistRow(
                    version=u.version,
                    term=term,
                    meaning=meanings.get(term) or meanings.get(term.split(":", 1)[0], ""),
                    licenses=[i for i in facts["effective_ids"] if term in catalog.terms(i)],
                    status=st.status if st else ChecklistStatus.OPEN,
                    owner=st.owner if st else None,
                    note=st.note if st else "",
                    row_id=st.pk if st else None,
                )
            )
    return rows


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


# --- attribution report --------------------------------------------------------------------------
@dataclass
class AttributionEntry:
    version: ModelVersion
    effective: str
    licenses: list[License]
    notices: list[str]
    displays: list[str]
    naming: list[str]
    obligations: list[str]
    permitted: bool
    reasons: list[str]


def attribution_report(application: Application) -> list[AttributionEntry]:
    usages = list(ApplicationModel.objects.filter(application=application).select_related("version__model"))
    vids = [u.version_id for u in usages]
    facts = _app_facts(application, vids)
    keys = {i for f in facts.values() for i in f["effective_ids"]}
    licenses = {lic.key: lic for lic in License.objects.filter(key__in=keys)}
    fits = use_fit_many([(vid, application) for vid in vids])
    entries = []
    for u in usages:
        f = facts[u.version_id]
        lics = [licenses[i] for i in f["effective_ids"] if i in licenses]
        notices, displays, naming = [], [], []
        for lic in lics:
            if lic.notice:
                notices.append(lic.notice)
            if lic.display_attribution:
                displays.append(lic.display_attribution)
            if lic.naming_prefix:
                naming.append(
                    f"A model you distribute that is built from {lic.key} must be named beginning with "
                    f"“{lic.naming_prefix}”."
                )
        permitted, reasons = fits[(u.version_id, application.pk)]
        entries.append(
            AttributionEntry(
                u.version, f["effective"], lics, notices, displays, naming, f["obligations"], permitted, reasons
            )
        )
    return entries


def notice_text(application: Application, entries: list[AttributionEntry]) -> str:
    """The downloadable NOTICE file: per model, its license, the prescribed sentences, then full texts."""
    out = [f"NOTICE — third-party AI models used by {application.name}", "=" * 72, ""]
    texts: dict[str, License] = {}
    for e in entries:
        out.append(f"{e.version.model.repo_id} @ {e.version.commit}")
        out.append(f"  License: {e.effective}")
        for n in e.notices:
            out.append(f"  {n}")
        for d in e.displays:
            out.append(f"  Display: {d}")
        for n in e.naming:
            out.append(f"  {n}")
        out.append("")
        for lic in e.licenses:
            texts.setdefault(lic.key, lic)
    for lic in texts.values():
        out += ["", "-" * 72, f"{lic.name} ({lic.key})", "-" * 72, ""]
        out.append(lic.text.strip() if lic.text.strip() else "(full text not available in the catalog)")
    return "\n".join(out) + "\n"


# --- catalog editing (audited; re-analyses everything after commit) ---------------------------------
LICENSE_FIELDS = (
    "key", "spdx_id", "name", "family", "threat_group", "aliases", "reference_names", "urls", "text",
    "component_of", "notice", "display_attribution", "naming_prefix", "binds_output_trained", "is_active", "notes",
)  # fmt: skip


def _snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for f in fields:
        value = getattr(obj, f)
        if hasattr(value, "pk"):
            value = value.pk
        if isinstance(value, str) and len(value) > 500:
            value = value[:200] + f"… ({len(value)} chars)"
        out[f] = value
    return out


def _after_catalog_change() -> None:
    from licenses import tasks

    transaction.on_commit(lambda: tasks.reanalyse_all.delay())


def save_license(*, actor: Any, data: dict[str, Any], license: License | None = None, reason: str = "") -> License:
    require(actor, "licenses.change_license" if license else "licenses.add_license")
    with transaction.atomic():
        lic = license or License()
        before = _snapshot(lic, LICENSE_FIELDS) if license else None
        for field, value in data.items():
            if field in LICENSE_FIELDS:
                setattr(lic, field, value)
        lic.full_clean()
        lic.save()
        record_event(
            actor=actor,
            action="license.update" if license else "license.create",
            target=lic,
            reason=reason,
            before=before,
            after=_snapshot(lic, LICENSE_FIELDS),
        )
        _after_catalog_change()
    return lic


def save_obligation(*, actor: Any, term: str, meaning: str, obligation: Obligation | None = None) -> Obligation:
    require(actor, "licenses.change_obligation" if obligation else "licenses.add_obligation")
    with transaction.atomic():
        ob = obligation or Obligation()
        before = {"term": ob.term, "meaning": ob.meaning} if obligation else None
        ob.term, ob.meaning = term.strip(), meaning
        ob.full_clean()
        ob.save()
        record_event(
            actor=actor,
            action="obligation.update" if obligation else "obligation.create",
            target=ob,
            before=before,
            after={"term": ob.term, "meaning": ob.meaning},
        )
        _after_catalog_change()
    return ob


def save_license_obligation(
    *, actor: Any, license: License, term: str, clause: str, quote: str, remove: bool = False
) -> LicenseObligation | None:
    """Attach (or detach) an obligation to a license, with its clause and quote."""
    require(actor, "licenses.change_license")
    with transaction.atomic():
        obligation, _ = Obligation.objects.get_or_create(term=term.strip())
        existing = LicenseObligation.objects.filter(license=license, obligation=obligation).first()
        before = {"term": term, "clause": existing.clause, "quote": existing.quote} if existing else None
        row: LicenseObligation | None
        if remove:
            if existing:
                existing.delete()
            row = None
            after = None
        else:
            row = existing or LicenseObligation(license=license, obligation=obligation)
            row.clause, row.quote = clause, quote
            row.save()
            after = {"term": term, "clause": clause, "quote": quote}
        License.objects.filter(pk=license.pk).update(updated_at=timezone.now())
        record_event(actor=actor, action="license.obligation", target=license, before=before, after=after)
        _after_catalog_change()
    return row


# --- queue ---------------------------------------------------------------------------------------
def review_queue(user: Any) -> Any:
    """Analyses a legal reviewer should look at, riskiest first."""
    return (
        LicenseAnalysis.objects.restrict(user)
        .needs_review()
        .filter(Q(version__model__is_placeholder=False))
        .select_related("version__model")
        .riskiest_first()
    )
