"""Attribution of one version: read its files, walk its lineage, run the engine, store the row."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.files import FileRefused, open_inside
from inventory import pipeline
from inventory.choices import Source
from inventory.hub import EntryNotFound, HubClient, HubError
from inventory.models import ApplicationModel, BaseModelLink, ModelVersion
from licenses import engine
from licenses.choices import AnalysisState, ConclusionStatus, ThreatGroup
from licenses.engine.analyse import readme_body
from licenses.engine.catalog import Catalog
from licenses.engine.declared import parse_expression, render
from licenses.engine.observed import GATED_PROMPT_PATH, README_PATH, is_license_named, wants
from licenses.engine.resolve import obligations_of
from licenses.models import (
    THREAT_SEVERITY,
    LicenseAnalysis,
    LicenseConclusion,
    LicenseEvidence,
)
from licenses.services.carry import carry_forward, evidence_key
from licenses.services.catalog import engine_catalog
from licenses.services.facts import _concluded_expression, use_fit_many
from licenses.services.hubcards import base_license_from_hub

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1_000_000
MAX_FILES = 1000
MAX_HUB_OTHER_FILES = 200  # one HTTP request each: top-level and small files first
MAX_SNIPPET_LINES = 1500
MAX_BASE_DEPTH = 8
QUEUE_THREATS = {ThreatGroup.AI_RESTRICTED, ThreatGroup.NON_COMMERCIAL, ThreatGroup.PROPRIETARY, ThreatGroup.UNKNOWN}


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
        if not f.is_lfs
        and f.size <= MAX_FILE_BYTES
        and wants(f.path)
        and (f.path.lower() != "readme.md" or not version.card_markdown)
    ]
    candidates.sort(key=lambda f: (not is_license_named(f.path), f.path))
    notes: list[str] = []
    if len(candidates) > MAX_FILES:
        notes.append(f"read the first {MAX_FILES} of {len(candidates)} text files")
        candidates = candidates[:MAX_FILES]
    texts: dict[str, str] = {}
    if version.local_path:
        for f in candidates:
            try:  # core.files: a cache snapshot's links into blobs/ are followed, links further out refused
                with open_inside(version.local_path, f.path) as fh:
                    texts[f.path] = fh.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")
            except (FileRefused, OSError) as exc:
                notes.append(f"{f.path}: {getattr(exc, 'reason', 'could not be read')}")
    elif version.model.source == Source.HUB and candidates:
        client = HubClient()
        named = [f for f in candidates if is_license_named(f.path)]
        others = [f for f in candidates if not is_license_named(f.path)]
        if len(others) > MAX_HUB_OTHER_FILES:
            notes.append(f"read {MAX_HUB_OTHER_FILES} of {len(others)} other text files from the Hub")
            others = sorted(others, key=lambda f: (f.path.count("/"), f.size))[:MAX_HUB_OTHER_FILES]
        for f in named + others:
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
        hub = None
        if base_version is None:
            hub = base_license_from_hub(catalog=engine_catalog(), repo_id=link.base.repo_id)
        bases.append(
            engine.BaseInput(
                repo_id=link.base.repo_id,
                relation=link.relation,
                effective=effective,
                placeholder=base_version is None,
                hub_license=hub.expression if hub else None,
                hub_from=hub.source if hub else "",
            )
        )
    return bases


# --- analysis -----------------------------------------------------------------------------------
def analyse_version(*, version_id: int) -> LicenseAnalysis:
    """Attribute the licenses of one version (idempotent; re-running replaces the previous result)."""
    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    return _analyse(version, seen={version.pk}, propagate=True)


def analyse_version_step(version_id: int) -> LicenseAnalysis:
    """The pipeline's license step (positional, as pipeline steps are called)."""
    return analyse_version(version_id=version_id)


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
            card_markdown=_readme(version) or files.texts.pop("README.md", ""),
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
        pipeline.facts_changed([version.pk])
        transaction.on_commit(lambda: _reanalyse_derivatives(version.pk))
    return analysis


def _snippet(text: str, start: int, end: int, *, whole: bool) -> tuple[str, int]:
    lines = text.splitlines()
    if whole:
        first = max(1, start - 3)
        last = min(len(lines), end + 3, first + MAX_SNIPPET_LINES)
    else:
        first = max(1, start - 5)
        last = min(len(lines), end + 5, first + MAX_SNIPPET_LINES)
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
    catalog = result.catalog or catalog  # with the riders found in this repository
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
    analysis.evidence_key = evidence_key(
        version=version,
        card_data=data.card_data,
        card_markdown=data.card_markdown,
        tags=data.tags,
        files=data.files,
        bases=data.bases,
        result=analysis.summary,
    )
    analysis.catalog_stamp = catalog.stamp
    analysis.files_read = len(data.files)
    analysis.state = AnalysisState.DONE
    analysis.finished_at = timezone.now()
    analysis.error = ""
    analysis.save()
    carry_forward(analysis)  # same evidence as a concluded revision: its conclusion applies (audited)
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
    revoked = bool(latest and latest.status == ConclusionStatus.OPEN and latest.carried_from_id)
    analysis.needs_review = revoked or (
        not settled
        and bool(
            analysis.is_unknown
            or analysis.is_other
            or analysis.conflict
            or analysis.is_weak
            or analysis.threat_group in QUEUE_THREATS
        )
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


def _reanalyse_derivatives(version_id: int) -> None:
    """Derivatives analysed before this base was: re-analyse them if what it passes down changed."""
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
            tasks.analyse_version.delay_on_commit(link.version_id)


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
