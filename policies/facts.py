"""Fact providers: where the facts about a model version come from.

A provider is a function `(version_ids, context) -> {version_id: {fact_name: value}}` registered
with the facts it fills (their specs live in the engine's catalog, or are added by the provider).
Inventory/quality facts are provided here; security facts read the scanning app's `ScanRun` /
`Finding` rows and legal facts call `licenses.services.license_facts` / `use_fit`. Those imports
are lazy: when the app or the function is not there the facts are simply absent, and the
`scan.state` fact says "missing" so the default pack's fail-closed policy catches the version.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from inventory.choices import Source
from inventory.models import BaseModelLink, ImportJob, Model, ModelFile, ModelVersion
from licenses import services as licenses_services
from policies.engine.catalog import CATALOG, FactSpec
from scanning.models import Finding, ScanRun
from scanning.scanners.base import RULES_VERSION

log = logging.getLogger(__name__)

Facts = dict[int, dict[str, Any]]


@dataclass(frozen=True)
class EvaluationContext:
    now: datetime = field(default_factory=timezone.now)
    application: Any = None  # inventory.Application or None for the root context


ProviderFn = Callable[[list[int], EvaluationContext], Facts]


@dataclass(frozen=True)
class FactProvider:
    name: str
    facts: tuple[str, ...]
    provide: ProviderFn
    per_application: bool = False


_PROVIDERS: dict[str, FactProvider] = {}


def register_provider(
    name: str, *, facts: Iterable[str], per_application: bool = False, specs: Iterable[FactSpec] = ()
) -> Callable[[ProviderFn], ProviderFn]:
    """Decorator: register `fn` as the provider `name` of `facts` (new `specs` join the catalog)."""

    def decorate(fn: ProviderFn) -> ProviderFn:
        for spec in specs:
            CATALOG[spec.name] = spec
        unknown = [f for f in facts if f not in CATALOG]
        if unknown:
            raise ValueError(f"Provider {name} declares facts missing from the catalog: {unknown}")
        _PROVIDERS[name] = FactProvider(name, tuple(facts), fn, per_application)
        return fn

    return decorate


def providers(*, per_application: bool | None = None) -> list[FactProvider]:
    return [p for p in _PROVIDERS.values() if per_application is None or p.per_application == per_application]


PROVIDER_SECONDS: dict[str, float] = defaultdict(float)  # cumulative time per provider (bench, diagnostics)


def gather_facts(
    version_ids: list[int],
    context: EvaluationContext,
    *,
    per_application: bool = False,
    needed: set[str] | frozenset[str] | None = None,
) -> Facts:
    """Merge the facts of every provider of the given kind; a failing provider leaves its facts absent.

    With `needed`, providers that fill none of those facts are not asked at all.
    """
    merged: Facts = {vid: {} for vid in version_ids}
    if not version_ids:
        return merged
    for provider in providers(per_application=per_application):
        if needed is not None and not needed.intersection(provider.facts):
            continue
        started = time.perf_counter()
        try:
            with transaction.atomic():  # a savepoint: a failed query must not abort the caller's transaction
                part = provider.provide(version_ids, context)
        except Exception:  # a broken provider must not stop evaluation; its facts read as missing
            log.exception("fact provider %s failed", provider.name)
            continue
        finally:
            PROVIDER_SECONDS[provider.name] += time.perf_counter() - started
        for vid, facts in part.items():
            if vid in merged:
                merged[vid].update(facts)
    return merged


# ---------------------------------------------------------------------------------------------
# Inventory / quality
# ---------------------------------------------------------------------------------------------

_CUSTOM_CODE = re.compile(r"^(modeling|configuration|tokenization|processing|image_processing)_[\w-]+\.py$")
_CARD_SECTIONS = [
    re.compile(r"^#+\s*(intended|uses|use cases|direct use)", re.I | re.M),
    re.compile(r"^#+\s*(limitations|bias|risks)", re.I | re.M),
    re.compile(r"^#+\s*(training)", re.I | re.M),
    re.compile(r"^#+\s*(evaluation|results|benchmarks)", re.I | re.M),
]
CARD_TEXT_LIMIT = 20_000


def card_completeness(card_data: dict[str, Any], markdown: str, pipeline_tag: str) -> int:
    """0 to 100: metadata (license, datasets, language, pipeline tag, base model or tags) and sections."""
    checks = [
        bool(card_data.get("license") or card_data.get("license_name")),
        bool(card_data.get("datasets")),
        bool(card_data.get("language")),
        bool(pipeline_tag or card_data.get("pipeline_tag")),
        len(markdown.strip()) >= 300,
        *(bool(rx.search(markdown)) for rx in _CARD_SECTIONS),
    ]
    return round(100 * sum(checks) / len(checks))


def _extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _lineage(model_bases: dict[int, set[int]], model_id: int) -> tuple[int, set[int]]:
    """(depth, foundation model ids) following base links of the models, cycle-safe and bounded."""
    depth = 0
    frontier = {model_id}
    seen = {model_id}
    foundations: set[int] = set()
    while frontier and depth < 16:
        nxt: set[int] = set()
        for mid in frontier:
            bases = model_bases.get(mid, set()) - seen
            if not bases and mid != model_id:
                foundations.add(mid)
            nxt |= bases
        if not nxt:
            break
        seen |= nxt
        frontier = nxt
        depth += 1
    if depth == 0:
        foundations = {model_id}
    return depth, foundations | (frontier if depth >= 16 else set())


@register_provider(
    "inventory",
    facts=[
        "revision.pinned",
        "files.formats",
        "files.extensions",
        "files.changed_since_approval",
        "security.trust_remote_code",
        "lineage.is_derivative",
        "lineage.relations",
        "lineage.bases",
        "lineage.foundations",
        "lineage.depth",
        "model.repo_id",
        "model.author",
        "model.tags",
        "model.pipeline_tag",
        "model.downloads",
        "model.likes",
        "model.created_at",
        "model.last_modified",
        "datasets.count",
        "datasets.ids",
        "datasets.flags",
        "content.not_for_all_audiences",
        "content.text",
        "card.completeness",
        "review.status",
    ],
)
def inventory_facts(version_ids: list[int], context: EvaluationContext) -> Facts:
    from policies.models import Approval

    rows = ModelVersion.objects.filter(id__in=version_ids).values(
        "id", "ref", "commit", "review_status", "card_data", "card_markdown", "model_id",
        "model__repo_id", "model__author", "model__tags", "model__pipeline_tag", "model__downloads",
        "model__likes", "model__hub_created_at", "model__hub_last_modified", "model__card_data",
    )  # fmt: skip
    files: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for vid, path, fmt, sha in ModelFile.objects.filter(version_id__in=version_ids).values_list(
        "version_id", "path", "format", "sha256"
    ):
        files[vid].append((path, fmt, sha))
    links: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    for vid, relation, base_repo, base_id in BaseModelLink.objects.filter(version_id__in=version_ids).values_list(
        "version_id", "relation", "base__repo_id", "base_id"
    ):
        links[vid].append((relation, base_repo, base_id))
    # Model-level lineage graph (bases of any version of a model), for depth and foundations.
    model_bases: dict[int, set[int]] = defaultdict(set)
    for model_id, base_id in BaseModelLink.objects.values_list("version__model_id", "base_id"):
        model_bases[model_id].add(base_id)
    repo_of = dict(
        Model.objects.filter(id__in={b for s in model_bases.values() for b in s}).values_list("id", "repo_id")
    )
    datasets: dict[int, list[tuple[str, list[str]]]] = defaultdict(list)
    through = ModelVersion.datasets.through
    for vid, repo, flags in through.objects.filter(modelversion_id__in=version_ids).values_list(
        "modelversion_id", "dataset__repo_id", "dataset__flags"
    ):
        datasets[vid].append((repo, list(flags or [])))
    pinned: dict[int, dict[str, str]] = {}
    for vid, pins in Approval.objects.filter(
        version_id__in=version_ids, is_current=True, decision="approved"
    ).values_list("version_id", "pinned_files"):
        pinned[vid] = {p["path"]: p.get("sha256", "") for p in pins or []}

    out: Facts = {}
    lineage_cache: dict[int, tuple[int, set[int]]] = {}
    for row in rows:
        vid = row["id"]
        card = {**(row["model__card_data"] or {}), **(row["card_data"] or {})}
        tags = [str(t) for t in (row["model__tags"] or [])]
        markdown = row["card_markdown"] or ""
        vfiles = files.get(vid, [])
        bases = links.get(vid, [])
        model_id = row["model_id"]
        if bases and not {b[2] for b in bases} <= model_bases[model_id]:
            model_bases[model_id] |= {b[2] for b in bases}
            lineage_cache.clear()
        if model_id not in lineage_cache:
            lineage_cache[model_id] = _lineage(model_bases, model_id)
        depth, foundation_ids = lineage_cache[model_id]
        foundations = {repo_of.get(m, row["model__repo_id"] if m == model_id else str(m)) for m in foundation_ids}
        ds = datasets.get(vid, [])
        recorded = {path: sha for path, _fmt, sha in vfiles}
        pins = pinned.get(vid)
        out[vid] = {
            "revision.pinned": bool(row["ref"]) and row["ref"] == row["commit"],
            "files.formats": sorted({fmt for _p, fmt, _s in vfiles if fmt}),
            "files.extensions": sorted({_extension(p) for p, _f, _s in vfiles if _extension(p)}),
            "files.changed_since_approval": bool(pins is not None and pins != recorded),
            "security.trust_remote_code": "custom_code" in tags
            or any(_CUSTOM_CODE.match(p.rsplit("/", 1)[-1]) for p, _f, _s in vfiles),
            "lineage.is_derivative": bool(bases) or depth > 0,
            "lineage.relations": sorted({b[0] for b in bases}),
            "lineage.bases": sorted({b[1] for b in bases}),
            "lineage.foundations": sorted(foundations),
            "lineage.depth": depth,
            "model.repo_id": row["model__repo_id"],
            "model.author": row["model__author"] or row["model__repo_id"].split("/", 1)[0],
            "model.tags": tags,
            "model.pipeline_tag": row["model__pipeline_tag"] or None,
            "model.downloads": row["model__downloads"],
            "model.likes": row["model__likes"],
            "model.created_at": row["model__hub_created_at"],
            "model.last_modified": row["model__hub_last_modified"],
            "datasets.count": len(ds),
            "datasets.ids": sorted(d[0] for d in ds),
            "datasets.flags": sorted({f for d in ds for f in d[1]}),
            "content.not_for_all_audiences": "not-for-all-audiences" in tags
            or "not-for-all-audiences" in [str(t) for t in card.get("tags", []) or []],
            "content.text": f"{row['model__repo_id']}\n{markdown[:CARD_TEXT_LIMIT]}",
            "card.completeness": card_completeness(card, markdown, row["model__pipeline_tag"]),
            "review.status": row["review_status"],
        }
        for key in ("model.created_at", "model.last_modified", "model.pipeline_tag"):
            if out[vid][key] is None:
                del out[vid][key]
    return out


# ---------------------------------------------------------------------------------------------
# Security (scanning app): latest ScanRun per version, its findings
# ---------------------------------------------------------------------------------------------


def _current_rules_version() -> str | None:
    """The scanner rules version now; a finished scan made with other rules is "outdated"."""
    return str(RULES_VERSION)


@register_provider(
    "scanning",
    facts=[
        "scan.state",
        "scan.verdict",
        "scan.categories",
        "scan.rules",
        "scan.evidence",
        "scan.severities",
        "scan.finding_count",
    ],
)
def scanning_facts(version_ids: list[int], context: EvaluationContext) -> Facts:
    """Fail closed: a version without a usable scan has `scan.state` = missing / failed / outdated."""
    out: Facts = {vid: {"scan.state": "missing"} for vid in version_ids}
    latest, finished, findings = _scan_rows(version_ids)
    return _scan_facts(out, latest, finished, findings)


def _scan_rows(version_ids: list[int]) -> tuple[dict, dict, dict]:
    latest: dict[int, dict[str, Any]] = {}
    for run in (
        ScanRun.objects.filter(version_id__in=version_ids)
        .order_by("version_id", "-id")
        .values("id", "version_id", "state", "verdict", "rules_version")
    ):
        latest.setdefault(run["version_id"], dict(run))
    # The latest *finished* run decides the verdict while a rescan is queued or running.
    finished: dict[int, dict[str, Any]] = {}
    for done in (
        ScanRun.objects.filter(version_id__in=version_ids, state="succeeded")
        .order_by("version_id", "-id")
        .values("id", "version_id", "verdict", "rules_version")
    ):
        finished.setdefault(done["version_id"], dict(done))
    findings: dict[int, list[tuple[str, str, str, str]]] = defaultdict(list)
    for run_id, rule, category, severity, evidence in Finding.objects.filter(
        scan_run_id__in=[r["id"] for r in finished.values()]
    ).values_list("scan_run_id", "rule", "category", "severity", "evidence"):
        findings[run_id].append((rule, category, severity, (evidence or "")[:200]))
    return latest, finished, findings


def _scan_facts(out: Facts, latest: dict, finished: dict, findings: dict) -> Facts:
    version_ids = list(out)
    rules_version = _current_rules_version()
    for vid in version_ids:
        run = latest.get(vid)
        done = finished.get(vid)
        facts = out[vid]
        if run is None:
            continue
        state = run["state"]
        if done is not None:
            state = "succeeded" if run["state"] in {"succeeded", "queued", "running"} else run["state"]
            if rules_version and done.get("rules_version") and done["rules_version"] != rules_version:
                state = "outdated"
            items = findings.get(done["id"], [])
            facts.update(
                {
                    "scan.verdict": done["verdict"],
                    "scan.categories": sorted({c for _r, c, _s, _e in items if c}),
                    "scan.rules": sorted({r for r, _c, _s, _e in items if r}),
                    "scan.evidence": sorted({e for _r, _c, _s, e in items if e}),
                    "scan.severities": sorted({s for _r, _c, s, _e in items if s}),
                    "scan.finding_count": len(items),
                }
            )
        facts["scan.state"] = state
    return out


# ---------------------------------------------------------------------------------------------
# Legal (licenses app)
# ---------------------------------------------------------------------------------------------


def _license_state(facts: dict[str, Any], declared_ids: list[str], observed_ids: list[str], groups: list[str]) -> str:
    declared = facts.get("declared")
    if facts.get("state") == "missing" or (not declared and not declared_ids and not observed_ids):
        return "missing"
    if facts.get("other"):
        return "other"
    if facts.get("unknown"):
        return "unknown"
    if (declared or "").lower() == "other" or "other" in [d.lower() for d in declared_ids]:
        return "other"
    if "unknown" in groups or (declared or "").lower() in {"unknown", "noassertion"}:
        return "unknown"
    return "known"


@register_provider(
    "licenses",
    facts=[
        "license.declared",
        "license.declared_ids",
        "license.observed_ids",
        "license.effective_ids",
        "license.threat_groups",
        "license.state",
        "license.declared_differs_observed",
        "license.conflict",
        "license.obligations",
        "license.review_status",
    ],
)
def license_facts(version_ids: list[int], context: EvaluationContext) -> Facts:
    raw = licenses_services.license_facts(version_ids)
    out: Facts = {}
    for vid, facts in raw.items():
        declared = facts.get("declared")
        declared_ids = list(facts.get("declared_ids") or [])
        observed_ids = list(facts.get("observed_ids") or [])
        groups = list(facts.get("threat_groups") or [])
        entry: dict[str, Any] = {
            "license.declared_ids": declared_ids,
            "license.observed_ids": observed_ids,
            "license.effective_ids": list(facts.get("effective_ids") or []),
            "license.threat_groups": groups,
            "license.state": _license_state(facts, declared_ids, observed_ids, groups),
            "license.declared_differs_observed": bool(observed_ids) and set(declared_ids) != set(observed_ids),
            "license.conflict": bool(facts.get("conflict")),
            "license.obligations": list(facts.get("obligations") or []),
            "license.review_status": facts.get("review_status") or "pending",
        }
        if declared:
            entry["license.declared"] = declared
        out[vid] = entry
    return out


_HEX = re.compile(r"^[0-9a-f]{7,40}$")


def _pins_commit(revision: str, commit: str) -> bool:
    """The revision names this commit (the full 40 hex, or an unambiguous prefix of at least 7)."""
    revision = revision.strip().lower()
    return bool(_HEX.match(revision)) and commit.lower().startswith(revision)


@register_provider("usage", facts=["usage.follows_branch"], per_application=True)
def usage_facts(version_ids: list[int], context: EvaluationContext) -> Facts:
    """How an application took a version: pinned to its commit, or following a branch or tag.

    The latest Hub import that attached the version to the application decides; a usage recorded by
    hand, or from a local folder, names the exact version and is pinned.
    """
    application = context.application
    if application is None:
        return {}
    commits = dict(ModelVersion.objects.filter(id__in=version_ids).values_list("id", "commit"))
    asked: dict[int, str] = {}
    for vid, revision in (
        ImportJob.objects.filter(application=application, version_id__in=version_ids, source=Source.HUB)
        .order_by("created_at", "id")
        .values_list("version_id", "revision")
    ):
        asked[vid] = revision  # later imports override earlier ones
    return {
        vid: {"usage.follows_branch": vid in asked and not _pins_commit(asked[vid], commit)}
        for vid, commit in commits.items()
    }


@register_provider(
    "use_fit",
    facts=[
        "license.use_permitted",
        "application.commercial_use",
        "application.trains_on_outputs",
        "application.distributes_model",
    ],
    per_application=True,
)
def use_fit_facts(version_ids: list[int], context: EvaluationContext) -> Facts:
    application = context.application
    if application is None:
        return {}
    profile = {
        "application.commercial_use": bool(application.commercial_use),
        "application.trains_on_outputs": bool(application.trains_on_outputs),
        "application.distributes_model": bool(application.distributes_model),
    }
    out: Facts = {vid: dict(profile) for vid in version_ids}
    fits = licenses_services.use_fit_many([(vid, application) for vid in version_ids])  # constant query count
    for (vid, _app_id), (permitted, _reasons) in fits.items():
        out[vid]["license.use_permitted"] = bool(permitted)
    return out
