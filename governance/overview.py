"""Figures of the org-wide risk overview.

Total risk = Σ threat level of open, unwaived problems (DESIGN.md). A *problem* is a policy matching a
version: one row of the triage list, whatever the contexts its violations live in (the inventory with
no application, and each application using the version). The totals, bands and categories count
problems — a version used by two applications counts once, as the list shows it once — while the
per-application breakdown counts that application's problems, and the inventory (no application) is
its own line, not an organization. Every count links to the list filtered identically, and shows as
many rows as the count says (tests/governance/test_overview_counts.py follows every link).

Every figure is aggregated in the database or by the worker, and neither the number of queries nor
their cost grows with the violations: `refresh_rollups()` (beat, every minute) groups the violations
by context × threat level × category × state (`RiskRollup`: per application and the root context),
by problem (`PairRollup`: everything, and per organization subtree) and open risk by model ×
context into small tables; the page sums those rows for its scope. The overview is therefore
about a minute behind (it says "as of" and how old that is). A request never re-aggregates (one
refresh over 200k violations takes seconds; inline, under load, one overview took 25 s): it reads
the newest rollup, says so when it is older than MODELGATE_OVERVIEW_MAX_AGE seconds, and when
there is none yet (or it is that old) enqueues the task and shows "being computed". The task
refreshes under a lease (`RollupLease`), so two workers never refresh at once. The triage list
reads its row count from the same rollups (`rollup_pair_count`, registered with policies.triage).
Everything else (reviews, waivers, scoped licenses) is read live from indexed, small selections.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.choices import Band, Category
from core.permissions import has_perm, organization_scope, perm_name
from governance.models import ModelRiskRollup, PairRollup, RiskRollup, RiskSnapshot, RollupLease, RollupRun
from inventory.choices import ReviewStatus
from inventory.models import Application, ApplicationModel, ModelVersion, Organization
from licenses.choices import ThreatGroup
from licenses.models import LicenseAnalysis
from policies import triage
from policies.models import Violation, Waiver

BANDS = Band.values
CATEGORIES = Category.values
THREAT_GROUPS = ThreatGroup.values
TREND_DAYS = 90
EXPIRING_DAYS = 14
TOP_ROWS = 15
LEASE_SECONDS = 330  # longer than the refresh task's time limit (300 s): a dead worker's lease lapses
_REQUESTED_KEY = "governance:rollup-refresh-requested"


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass
class Scope:
    """The overview's filters (kept in the URL as ?organization=&application=)."""

    organizations: list[dict[str, Any]]
    applications: list[dict[str, Any]]
    organization: dict[str, Any] | None = None
    application: dict[str, Any] | None = None
    org_ids: set[int] | None = None  # the chosen organization and its descendants
    app_ids: list[int] | None = None  # None: every context, root included
    restricted: bool = False  # a membership role: only its organizations' applications, never the root

    @property
    def filtered(self) -> bool:
        return self.app_ids is not None

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.organization:
            out["organization"] = self.organization["id"]
        if self.application:
            out["application"] = self.application["id"]
        return out


def resolve_scope(user: Any, *, organization: Any = None, application: Any = None) -> Scope:
    """Two queries: the organizations and applications the user may see (for the filter menus too)."""
    orgs = cast(
        list[dict[str, Any]],
        list(Organization.objects.restrict(user).order_by("name").values("id", "name", "parent_id")),
    )
    apps = cast(
        list[dict[str, Any]],
        list(Application.objects.restrict(user).order_by("name").values("id", "name", "organization_id")),
    )
    scope = Scope(organizations=orgs, applications=apps)
    org_id, app_id = _int(organization), _int(application)
    by_id = {o["id"]: o for o in orgs}
    if org_id is not None and org_id in by_id:
        scope.organization = by_id[org_id]
        children: dict[int | None, list[int]] = defaultdict(list)
        for o in orgs:
            children[o["parent_id"]].append(o["id"])
        ids: set[int] = {org_id}
        frontier: list[int] = [org_id]
        while frontier:
            frontier = [c for p in frontier for c in children.get(p, []) if c not in ids]
            ids.update(frontier)
        scope.org_ids = ids
        scope.app_ids = [a["id"] for a in apps if a["organization_id"] in ids]
    app = next((a for a in apps if a["id"] == app_id), None)
    if app is not None and (scope.org_ids is None or app["organization_id"] in scope.org_ids):
        scope.application = app
        scope.app_ids = [app["id"]]
    if organization_scope(user, perm_name(Violation, "view")) is not None:
        # Seen through memberships: the figures of its organizations' applications only (the root
        # context is inventory-wide: global roles only, as in the violations list).
        scope.restricted = True
        if scope.app_ids is None:
            scope.app_ids = [a["id"] for a in apps]
            scope.org_ids = set(by_id)
    return scope


@dataclass
class Bucket:
    count: int = 0
    risk: int = 0

    def add(self, count: int, risk: int) -> None:
        self.count += count
        self.risk += risk


@dataclass
class Figures:
    scope: Scope
    total_risk: int = 0
    open_count: int = 0
    waived_count: int = 0
    resolved_count: int = 0
    by_band: dict[str, Bucket] = field(default_factory=dict)
    by_category: dict[str, Bucket] = field(default_factory=dict)
    matrix: dict[str, dict[str, int]] = field(default_factory=dict)  # band → category → open count
    by_application: dict[int | None, Bucket] = field(default_factory=dict)
    root: Bucket | None = None  # the inventory's own context (no application); None when scoped
    organizations: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    mttr: dict[str, dict[str, Any]] = field(default_factory=dict)
    trend: list[dict[str, Any]] = field(default_factory=list)
    licenses: list[dict[str, Any]] = field(default_factory=list)
    approved_versions: int = 0
    awaiting_count: int = 0
    awaiting: list[Any] = field(default_factory=list)
    expiring_count: int = 0
    expiring: list[Any] = field(default_factory=list)
    as_of: datetime | None = None  # None: no rollup yet, the figures are being computed
    age_seconds: int | None = None
    stale: bool = False  # older than MODELGATE_OVERVIEW_MAX_AGE: beat/worker are not keeping up

    def as_dict(self) -> dict[str, Any]:
        """JSON-able figures for the API (same numbers as the page)."""
        return {
            "filters": {
                "organization": self.scope.organization["id"] if self.scope.organization else None,
                "application": self.scope.application["id"] if self.scope.application else None,
            },
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "total_risk": self.total_risk,
            "open": self.open_count,
            "waived": self.waived_count,
            "resolved": self.resolved_count,
            "by_band": [{"band": b, "count": self.by_band[b].count, "risk": self.by_band[b].risk} for b in BANDS],
            "by_category": [
                {"category": c, "count": self.by_category[c].count, "risk": self.by_category[c].risk}
                for c in CATEGORIES
            ],
            "organizations": [{k: row[k] for k in ("id", "name", "risk", "count")} for row in self.organizations],
            "applications": [
                {k: row[k] for k in ("id", "name", "organization_id", "risk", "count")} for row in self.applications
            ],
            "models": [{k: row[k] for k in ("id", "repo_id", "risk", "count")} for row in self.models],
            "mean_time_to_resolve": [
                {"band": b, "resolved": self.mttr[b]["count"], "hours": self.mttr[b]["hours"]} for b in BANDS
            ],
            "trend": [{"day": p["day"].isoformat(), "risk": p["risk"]} for p in self.trend],
            "licenses": [{"threat_group": r["group"], "versions": r["count"]} for r in self.licenses],
            "awaiting_review": self.awaiting_count,
            "waivers_expiring": self.expiring_count,
        }


def _rollups(user: Any, model: Any, scope: Scope) -> Any:
    """Rollup rows the user may see (the violations permission gates them) within the scope."""

    if not has_perm(user, perm_name(Violation, "view")):
        return model.objects.none()
    qs = model.objects.all()
    if scope.app_ids is not None:
        qs = qs.filter(application_id__in=scope.app_ids)
    return qs


def _unscoped(scope: Scope) -> Scope:
    return Scope(organizations=scope.organizations, applications=scope.applications)


def _grouped(user: Any, scope: Scope, figures: Figures) -> None:
    """Totals, bands, categories, states and time to resolve from the rollup (two small grouped reads)."""
    figures.by_band = {b: Bucket() for b in BANDS}
    figures.by_category = {c: Bucket() for c in CATEGORIES}
    figures.matrix = {b: dict.fromkeys(CATEGORIES, 0) for b in BANDS}
    resolve_seconds: dict[str, float] = defaultdict(float)
    resolved: dict[str, int] = defaultdict(int)
    qs = _rollups(user, RiskRollup, scope)
    live_orgs: set[int] | None = None  # several separate subtrees: counted live (see below)
    # Problems (version × policy): an application's own are its contexts' rows (one per pair and
    # application); everything, or an organization's subtree, from the pair rollup (a pair counts once).
    if scope.application:
        source = qs
    elif scope.organization:
        source = _rollups(user, PairRollup, _unscoped(scope)).filter(organization_id=scope.organization["id"])
    elif scope.restricted:  # a membership role: the subtrees of its top visible organizations
        seen = {o["id"] for o in scope.organizations}
        tops = [o["id"] for o in scope.organizations if o["parent_id"] not in seen]
        source = _rollups(user, PairRollup, _unscoped(scope)).filter(organization_id__in=tops)
        live_orgs = seen if len(tops) > 1 else None
    else:
        source = _rollups(user, PairRollup, scope).filter(organization_id__isnull=True)
    rows: Any
    if live_orgs is not None:  # a problem found in two separate subtrees is one row of the list
        live = _pair_cells(Violation.objects.restrict(user, "view").filter(application__organization_id__in=live_orgs))
        rows = [
            {"threat_level": level, "category": category, "state": state, "n": int(n), "t": ttr}
            for (level, category, state), (n, ttr) in live.items()
        ]
    else:
        rows = (
            source.values("threat_level", "category", "state")
            .annotate(n=Sum("count"), t=Sum("resolve_seconds"))
            .order_by()
        )
    for row in rows:
        level, n = row["threat_level"] or 0, row["n"] or 0
        band = Band.of(level)
        category = row["category"] if row["category"] in figures.by_category else "other"
        if row["state"] == "open":
            risk = level * n
            figures.total_risk += risk
            figures.open_count += n
            figures.by_band[band].add(n, risk)
            figures.by_category[category].add(n, risk)
            figures.matrix[band][category] += n
        elif row["state"] == "waived":
            figures.waived_count += n
        elif row["state"] == "resolved":
            figures.resolved_count += n
            resolved[band] += n
            resolve_seconds[band] += row["t"] or 0.0
    for b in BANDS:
        hours = resolve_seconds[b] / 3600 / resolved[b] if resolved[b] else None
        figures.mttr[b] = {"count": resolved[b], "hours": round(hours, 1) if hours is not None else None}
    per_app = (
        qs.filter(state="open")
        .values("application_id")
        .annotate(n=Sum("count"), risk=Sum(F("count") * F("threat_level")))
        .order_by()
    )
    for row in per_app:
        figures.by_application[row["application_id"]] = Bucket(count=row["n"] or 0, risk=row["risk"] or 0)


def _breakdown(user: Any, scope: Scope, figures: Figures) -> None:
    """Application rows from the per-context totals; organization rows from the pair rollup of each
    organization's subtree (a problem in two of its applications counts once, as in the list)."""
    apps = {a["id"]: a for a in scope.applications}
    parents = {o["id"]: o["parent_id"] for o in scope.organizations}
    app_rows = []
    for app_id, bucket in figures.by_application.items():
        if app_id is None or app_id not in apps:
            continue
        app_rows.append({**apps[app_id], "risk": bucket.risk, "count": bucket.count})
    figures.applications = sorted(app_rows, key=lambda r: (-r["risk"], r["name"]))[:TOP_ROWS]
    # Show the children of the chosen organization (or the top level): one step of the drill-down.
    parent = scope.organization["id"] if scope.organization else None
    level = [o for o in scope.organizations if o["parent_id"] == parent]
    if not scope.organization:  # organizations whose parent the user cannot see count as top level
        level += [o for o in scope.organizations if o["parent_id"] is not None and o["parent_id"] not in parents]
    org_totals = {
        r["organization_id"]: r
        for r in _rollups(user, PairRollup, _unscoped(scope))
        .filter(state="open", organization_id__in=[o["id"] for o in level])
        .values("organization_id")
        .annotate(n=Sum("count"), risk=Sum(F("count") * F("threat_level")))
        .order_by()
    }
    figures.organizations = sorted(
        (
            {**o, "risk": org_totals[o["id"]]["risk"] or 0, "count": org_totals[o["id"]]["n"] or 0}
            for o in level
            if o["id"] in org_totals
        ),
        key=lambda r: (-r["risk"], r["name"]),
    )
    figures.root = figures.by_application.get(None, Bucket()) if not scope.filtered else None


def _top_models(user: Any, scope: Scope, figures: Figures, run: RollupRun | None) -> None:
    if scope.app_ids is None and run is not None and "top_models" in (run.figures or {}):
        figures.models = list(run.figures["top_models"]) if has_perm(user, "policies.view_violation") else []
        return
    if (scope.organization or scope.restricted) and not scope.application:  # a problem in two apps counts once
        visible = Violation.objects.restrict(user).filter(application_id__in=scope.app_ids or [])
        figures.models = triage.top_models(visible, TOP_ROWS)
        return
    rows = (
        _rollups(user, ModelRiskRollup, scope)
        .values("model_id", "repo_id")
        .annotate(r=Sum("risk"), n=Sum("count"))
        .order_by("-r", "repo_id")[:TOP_ROWS]
    )
    figures.models = [
        {"id": r["model_id"], "repo_id": r["repo_id"], "risk": r["r"] or 0, "count": r["n"]} for r in rows
    ]


def _trend(scope: Scope, figures: Figures, today: date) -> None:
    points = []
    rows = RiskSnapshot.objects.filter(day__gte=today - timedelta(days=TREND_DAYS - 1), day__lt=today).order_by("day")
    fields = ["day", "total_risk"] if scope.app_ids is None else ["day", "total_risk", "by_application"]
    for snap in rows.values(*fields):
        if scope.app_ids is None:
            risk = snap["total_risk"]
        else:
            per_app = snap["by_application"] or {}
            risk = sum(int(per_app.get(str(a), 0)) for a in scope.app_ids)
        points.append({"day": snap["day"], "risk": risk})
    points.append({"day": today, "risk": figures.total_risk, "live": True})
    figures.trend = points


def _versions_in_scope(user: Any, scope: Scope) -> Any:
    qs = ModelVersion.objects.restrict(user)
    if scope.app_ids is not None:
        qs = qs.filter(pk__in=ApplicationModel.objects.filter(application_id__in=scope.app_ids).values("version_id"))
    return qs


def _licenses(user: Any, scope: Scope, figures: Figures, run: RollupRun | None) -> None:
    """Approved versions by license threat group: from the rollup for everything, live for a scope."""

    if scope.app_ids is None and run is not None:
        allowed = has_perm(user, "licenses.view_licenseanalysis")
        counts = dict((run.figures or {}).get("licenses", {})) if allowed else {}
    else:
        approved = _versions_in_scope(user, scope).filter(review_status=ReviewStatus.APPROVED)
        rows = (
            LicenseAnalysis.objects.restrict(user)
            .filter(version__in=approved.values("pk"))
            .values("threat_group")
            .annotate(n=Count("id"))
            .order_by()
        )
        counts = {r["threat_group"]: r["n"] for r in rows}
    figures.licenses = [{"group": g, "count": counts.get(g, 0)} for g in THREAT_GROUPS]
    figures.approved_versions = sum(counts.values())


def _awaiting(user: Any, scope: Scope, figures: Figures) -> None:

    pending = _versions_in_scope(user, scope).filter(review_status__in=[ReviewStatus.PENDING, ReviewStatus.IN_REVIEW])
    figures.awaiting_count = pending.count()
    risk = (
        Violation.objects.filter(version=OuterRef("pk"), state="open")
        .order_by()
        .values("version")
        .annotate(s=Sum("policy__threat_level"))
        .values("s")
    )
    if scope.restricted:
        risk = risk.filter(application_id__in=scope.app_ids or [])
    figures.awaiting = list(
        pending.select_related("model").annotate(risk=Coalesce(Subquery(risk), 0)).order_by("-imported_at", "-id")[:8]
    )


def _expiring(user: Any, scope: Scope, figures: Figures, now: Any) -> None:

    qs = Waiver.objects.restrict(user).in_force(now).filter(expires_at__lte=now + timedelta(days=EXPIRING_DAYS))
    if scope.app_ids is not None:
        org_ids = list(scope.org_ids or [])
        if scope.application:
            org_ids = []
        qs = qs.filter(Q(application_id__in=scope.app_ids) | Q(organization_id__in=org_ids))
    figures.expiring_count = qs.count()
    # Few joins on purpose: with the list's ten joins PostgreSQL spends ~100 ms planning under load.
    figures.expiring = list(
        qs.select_related("policy", "version__model", "model")
        .prefetch_related("organization", "application")
        .order_by("expires_at", "id")[:8]
    )


def current_rollup() -> RollupRun | None:
    """The newest rollup, however old; None before the first refresh. Never refreshes (see the module
    docstring): when there is none or it is older than MODELGATE_OVERVIEW_MAX_AGE, a refresh is enqueued."""
    run = RollupRun.objects.order_by("-refreshed_at", "-id").first()
    if run is None or _age(run) > settings.MODELGATE_OVERVIEW_MAX_AGE:
        request_refresh()
    return run


def _age(run: RollupRun) -> int:
    return max(0, int((timezone.now() - run.refreshed_at).total_seconds()))


def request_refresh() -> bool:
    """Enqueue the refresh task after commit, at most once a minute per cache (every overview request
    of a burst would otherwise enqueue its own). True if enqueued."""
    from governance import tasks  # governance.tasks imports this module

    if not cache.add(_REQUESTED_KEY, True, timeout=60):
        return False
    tasks.refresh_rollups.delay_on_commit()
    return True


def overview_figures(user: Any, *, organization: Any = None, application: Any = None) -> Figures:
    """Everything the overview shows, for this user and these filters (a fixed number of small queries)."""
    now = timezone.now()
    run = current_rollup()
    scope = resolve_scope(user, organization=organization, application=application)
    figures = Figures(scope=scope)
    if run is not None:
        figures.as_of, figures.age_seconds = run.refreshed_at, _age(run)
        figures.stale = figures.age_seconds > settings.MODELGATE_OVERVIEW_MAX_AGE
    _grouped(user, scope, figures)
    _breakdown(user, scope, figures)
    _top_models(user, scope, figures, run)
    _trend(scope, figures, now.date())
    _licenses(user, scope, figures, run)
    _awaiting(user, scope, figures)
    _expiring(user, scope, figures, now)
    return figures


def claim_lease(*, seconds: int = LEASE_SECONDS) -> str | None:
    """Claim the refresh lease (a token to release it with), or None while another holder's lease runs.
    The claim is one conditional UPDATE in its own transaction: atomic on every database, never blocks."""
    now = timezone.now()
    RollupLease.objects.bulk_create([RollupLease(pk=1, expires_at=now - timedelta(seconds=1))], ignore_conflicts=True)
    token = uuid.uuid4().hex
    claimed = RollupLease.objects.filter(pk=1, expires_at__lte=now).update(
        holder=token, expires_at=now + timedelta(seconds=seconds)
    )
    return token if claimed else None


def release_lease(token: str) -> None:
    RollupLease.objects.filter(pk=1, holder=token).update(holder="", expires_at=timezone.now())


def refresh_rollups_once() -> RollupRun | None:
    """What the beat task runs: refresh unless another worker holds the lease (then None, nothing done)."""
    token = claim_lease()
    if token is None:
        return None
    try:
        return refresh_rollups()
    finally:
        release_lease(token)


@transaction.atomic
def refresh_rollups() -> RollupRun:
    """Re-aggregate every violation into the rollups, in one transaction (readers see the old rows until
    commit). The grouping runs in the database; a few thousand rows come back and are written in bulk."""

    started = time.monotonic()
    duration = ExpressionWrapper(F("resolved_at") - F("opened_at"), output_field=DurationField())
    grouped = (
        Violation.objects.values(
            "application_id", "application__organization_id", "policy__threat_level", "policy__category", "state"
        )
        .annotate(n=Count("id"), ttr=Sum(duration, filter=Q(state="resolved", resolved_at__isnull=False)))
        .order_by()
    )
    risk_rows = [
        RiskRollup(
            application_id=r["application_id"],
            organization_id=r["application__organization_id"],
            threat_level=r["policy__threat_level"] or 0,
            category=r["policy__category"] or "other",
            state=r["state"],
            count=r["n"],
            resolve_seconds=r["ttr"].total_seconds() if r["ttr"] else 0.0,
        )
        for r in grouped
    ]
    per_model = (
        Violation.objects.filter(state="open")
        .values("version__model_id", "version__model__repo_id", "application_id")
        .annotate(risk=Sum("policy__threat_level"), n=Count("id"))
        .order_by()
    )
    model_rows = [
        ModelRiskRollup(
            model_id=r["version__model_id"],
            repo_id=r["version__model__repo_id"][:200],
            application_id=r["application_id"],
            risk=r["risk"] or 0,
            count=r["n"],
        )
        for r in per_model
    ]
    licenses = dict(
        LicenseAnalysis.objects.filter(version__review_status=ReviewStatus.APPROVED)
        .values_list("threat_group")
        .annotate(n=Count("id"))
        .order_by()
    )
    top_models = triage.top_models(Violation.objects.all(), TOP_ROWS)
    pair_rows = pair_rollups()
    RiskRollup.objects.all().delete()
    ModelRiskRollup.objects.all().delete()
    PairRollup.objects.all().delete()
    RiskRollup.objects.bulk_create(risk_rows, batch_size=5000)
    PairRollup.objects.bulk_create(pair_rows, batch_size=5000)
    ModelRiskRollup.objects.bulk_create(model_rows, batch_size=5000)
    run = RollupRun.objects.create(
        refreshed_at=timezone.now(),
        duration_ms=int((time.monotonic() - started) * 1000),
        violations=sum(r.count for r in risk_rows),
        figures={"licenses": licenses, "top_models": top_models},
    )
    RollupRun.objects.filter(refreshed_at__lt=run.refreshed_at - timedelta(days=1)).delete()
    return run


_RANK = {"open": 0, "waived": 1, "resolved": 2}


def _pair_cells(violations: Any) -> dict[tuple[int, str, str], list[float]]:
    """(threat level, category, pair state) → [problems, seconds to resolve] over these violations, with a
    pair's state the best of its violations' (open < waived < resolved); counted in SQL."""
    cells: dict[tuple[int, str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for c in triage.pair_counts(violations):
        category = c["category"] if c["category"] in CATEGORIES else "other"
        cells[(c["threat_level"], category, c["state"])][0] += c["count"]
    resolved = (
        violations.order_by()
        .values("version_id", "policy_id")
        .annotate(
            tl=Max("threat_level"),
            cat=Max("policy__category"),
            rank=Min(triage.STATE_RANK),
            opened=Min("opened_at"),
            closed=Max("resolved_at"),
        )
        .filter(rank=2)
        .values_list("tl", "cat", "opened", "closed")
    )
    for level, category, opened, closed in resolved.iterator(10000):
        if opened is not None and closed is not None:
            key = (level or 0, category if category in CATEGORIES else "other", "resolved")
            cells[key][1] += max(0.0, (closed - opened).total_seconds())
    return cells


def pair_rollups() -> list[PairRollup]:
    """Problems (version × policy) per threat level × category × pair state, for everything and for each
    organization's subtree. Everything is counted in SQL (`triage.pair_counts`); the time to resolve
    comes from the resolved pairs only (grouped in SQL); the organization subtrees from one streamed pass
    over the violations that have an application. A pair's state is the best of its violations'
    (open < waived < resolved), per scope."""
    cells = _pair_cells(Violation.objects.all())
    out = [
        PairRollup(
            organization_id=None, threat_level=level, category=category, state=state, count=int(n), resolve_seconds=ttr
        )
        for (level, category, state), (n, ttr) in cells.items()
    ]

    parents = dict(Organization.objects.values_list("id", "parent_id"))
    chains: dict[int, list[int]] = {}

    def chain(org_id: int) -> list[int]:
        if org_id not in chains:
            ids: list[int] = []
            seen, cur = 0, cast(int | None, org_id)
            while cur is not None and seen < 64:
                ids.append(cur)
                cur, seen = parents.get(cur), seen + 1
            chains[org_id] = ids
        return chains[org_id]

    info: dict[tuple[int, int], tuple[int, str]] = {}
    per_org: dict[int, dict[tuple[int, int], int]] = defaultdict(dict)
    rows = (
        Violation.objects.filter(application__isnull=False)
        .order_by()
        .values_list(
            "version_id", "policy_id", "application__organization_id", "threat_level", "policy__category", "state"
        )
    )
    for version_id, policy_id, org_id, level, category, state in rows.iterator(10000):
        pair, rank = (version_id, policy_id), _RANK.get(state, 2)
        info.setdefault(pair, (level or 0, category if category in CATEGORIES else "other"))
        for anc in chain(org_id):
            mine = per_org[anc]
            if rank < mine.get(pair, 3):
                mine[pair] = rank
    states = {v: k for k, v in _RANK.items()}
    for org_id, ranks in per_org.items():
        counts: dict[tuple[int, str, str], int] = defaultdict(int)
        for pair, rank in ranks.items():
            level, category = info[pair]
            counts[(level, category, states[rank])] += 1
        out.extend(
            PairRollup(organization_id=org_id, threat_level=level, category=category, state=state, count=n)
            for (level, category, state), n in counts.items()
        )
    return out


def rollup_pair_count(filters: dict[str, str]) -> tuple[int, datetime] | None:
    """How many rows the triage list shows for these filters, from the rollups — or None when they cannot
    say exactly (another filter, or no fresh rollup). Registered with policies.triage (see apps.py)."""
    allowed = {"state", "band", "category", "application", "root", "organization"}
    if set(filters) - allowed:
        return None
    run = RollupRun.objects.order_by("-refreshed_at", "-id").first()
    if run is None or _age(run) > settings.MODELGATE_OVERVIEW_MAX_AGE:
        return None
    state = filters.get("state") or "open"
    if state not in ("open", "waived", "resolved", "all"):
        return None
    app_id, org_id, root = _int(filters.get("application")), _int(filters.get("organization")), filters.get("root")
    if ("application" in filters and app_id is None) or ("organization" in filters and org_id is None):
        return None
    qs: Any
    if app_id is not None:
        if org_id is not None or root:
            return None  # combinations the rollups do not hold
        qs = RiskRollup.objects.filter(application_id=app_id)
    elif root:
        if root != "true" or org_id is not None:
            return None
        qs = RiskRollup.objects.filter(application_id__isnull=True)
    elif org_id is not None:
        qs = PairRollup.objects.filter(organization_id=org_id)
    else:
        qs = PairRollup.objects.filter(organization_id__isnull=True)
    if state != "all":
        qs = qs.filter(state=state)
    band = filters.get("band")
    if band:
        if band not in BANDS:
            return None
        low, high = Band.levels(band)
        qs = qs.filter(threat_level__gte=low, threat_level__lte=high)
    category = filters.get("category")
    if category:
        if category not in CATEGORIES:
            return None
        qs = qs.filter(category=category)
    return int(qs.aggregate(n=Sum("count"))["n"] or 0), run.refreshed_at


def take_snapshot(*, day: date | None = None) -> RiskSnapshot:
    """Store today's (or `day`'s) figures, unrestricted; idempotent (one row per day)."""

    day = day or timezone.now().date()
    open_rows = (
        Violation.objects.filter(state="open")
        .values("application_id", "application__organization_id", "policy__threat_level", "policy__category")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_band: dict[str, dict[str, int]] = {b: {"count": 0, "risk": 0} for b in BANDS}
    by_category: dict[str, dict[str, int]] = {c: {"count": 0, "risk": 0} for c in CATEGORIES}
    by_org: dict[str, int] = defaultdict(int)
    by_app: dict[str, int] = defaultdict(int)
    for row in open_rows:  # per context: an application's own problems (by_organization: its own apps)
        risk = (row["policy__threat_level"] or 0) * row["n"]
        by_app[str(row["application_id"]) if row["application_id"] else "root"] += risk
        if row["application__organization_id"]:
            by_org[str(row["application__organization_id"])] += risk
    total = count = waived = 0
    for cell in triage.pair_counts(Violation.objects.all()):  # problems: a pair counts once, as in the list
        level, n = cell["threat_level"], cell["count"]
        if cell["state"] == "waived":
            waived += n
        if cell["state"] != "open":
            continue
        risk = level * n
        total, count = total + risk, count + n
        band = Band.of(level)
        category = cell["category"] if cell["category"] in by_category else "other"
        by_band[band]["count"] += n
        by_band[band]["risk"] += risk
        by_category[category]["count"] += n
        by_category[category]["risk"] += risk
    snapshot, _ = RiskSnapshot.objects.update_or_create(
        day=day,
        defaults={
            "total_risk": total,
            "open_count": count,
            "waived_count": waived,
            "by_band": by_band,
            "by_category": by_category,
            "by_organization": dict(by_org),
            "by_application": dict(by_app),
        },
    )
    return snapshot


# --- Server-side SVG charts: geometry here, markup in templates/governance/_chart_*.html --------


def bar_chart(
    items: list[dict[str, Any]], *, width: int = 420, row: int = 26, label_width: int = 120, unit: str = ""
) -> dict[str, Any]:
    """Horizontal bars. `items`: {label, value, css, href?, …} (extra keys pass through to the table)."""
    peak = max((i["value"] for i in items), default=0) or 1
    span = width - label_width - 60
    bars = []
    for n, item in enumerate(items):
        w = max(round(span * item["value"] / peak, 1), 1 if item["value"] else 0)
        bars.append(
            {
                "href": "",
                **item,
                "y": n * row + 4,
                "text_y": n * row + 18,
                "w": w,
                "x": label_width,
                "value_x": label_width + w + 6,
            }
        )
    return {
        "bars": bars,
        "width": width,
        "height": len(items) * row + 8,
        "label_width": label_width,
        "bar_h": row - 8,
        "label_x": label_width - 8,
        "unit": unit,
    }


def line_chart(points: list[dict[str, Any]], *, width: int = 1200, height: int = 200) -> dict[str, Any]:
    """Risk over days: a polyline with a y-axis from 0 to the peak."""
    left, right, top, bottom = 48, 12, 12, 26
    inner_w, inner_h = width - left - right, height - top - bottom
    peak = max((p["risk"] for p in points), default=0) or 1
    n = len(points)
    coords = []
    for i, p in enumerate(points):
        x = left + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)
        y = top + inner_h - inner_h * p["risk"] / peak
        coords.append({"x": round(x, 1), "y": round(y, 1), **p})
    ticks = [{"y": round(top + inner_h - inner_h * f, 1), "label": round(peak * f)} for f in (0, 0.5, 1)]
    labels = [coords[0], coords[-1]] if n > 1 else coords
    return {
        "width": width,
        "height": height,
        "points": coords,
        "ticks": ticks,
        "left": left,
        "right_x": width - right,
        "base_y": top + inner_h,
        "labels": labels,
        "label_y": height - 8,
        "polyline": " ".join(f"{c['x']},{c['y']}" for c in coords),
    }
