"""The triage list: one row per problem — a policy matching a version — whatever the contexts.

A `Violation` row exists per policy × version × context (the root context, i.e. the inventory with no
application, plus one per application using the version). People triage *problems*, so the list
groups violations by (version, policy): the row shows the contexts as chips, its state (open if any
is open, else waived, else resolved), the threat level (a property of the policy, so the same for the
whole group) and when it was first seen. Triage state (assignee, due date, comments, dismissal) lives
on `TriageItem`, keyed by the same pair.

Reads start from `Violation.objects.restrict(user)` (so organization scoping narrows the groups too),
filtered by `TriageFilterSet`; the grouping, the sort and the page are one SQL query. Pages are
*keyset* ("seek") pages: the cursor in the URL is the sort key of the last (or first) row shown plus
the (version, policy) tie-breakers, so a deep page costs what the first page costs (no OFFSET).
The total shown comes from a registered counter (the overview's rollups, see `register_pair_counter`)
when the filter is one the rollups answer and the rows are not narrowed by `restrict()`; otherwise
from one COUNT over the grouped query.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.choices import Band
from inventory.choices import NO_APPLICATION
from inventory.models import Model, ModelVersion
from policies.choices import ViolationState, WaiverState
from policies.models import Policy, TriageItem, Violation, Waiver

PAGE_SIZE = 50
ROOT_LABEL = NO_APPLICATION  # the inventory itself, never an organization
STATE_RANK = Case(
    When(state=ViolationState.OPEN, then=Value(0)),
    When(state=ViolationState.WAIVED, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)
RANK_STATE = {0: ViolationState.OPEN.value, 1: ViolationState.WAIVED.value, 2: ViolationState.RESOLVED.value}
STATE_RANKS = {v: k for k, v in RANK_STATE.items()}


def _far_future() -> datetime:
    return datetime(9999, 12, 31, tzinfo=timezone.get_fixed_timezone(0))


@dataclass(frozen=True)
class Sort:
    """One sortable column: `?sort=<name>` ascending, `?sort=-<name>` descending."""

    name: str
    label: str
    field: str  # annotation of the grouped query
    kind: str  # "int" | "str" | "dt": how the cursor value is decoded
    default_desc: bool = False  # the direction a click on the header first asks for


SORTS: dict[str, Sort] = {
    s.name: s
    for s in [
        Sort("threat", "Threat", "threat", "int", default_desc=True),
        Sort("first_seen", "First seen", "first_seen", "dt"),
        Sort("model", "Model version", "repo", "str"),
        Sort("policy", "Policy", "policy_name", "str"),
        Sort("state", "State", "rank", "int"),
        Sort("due", "Due", "due", "dt"),
        Sort("assignee", "Assignee", "assignee_name", "str"),
    ]
}
DEFAULT_SORT = "-threat"


def parse_sort(value: str | None) -> tuple[Sort, bool]:
    """(column, descending) of a `?sort=` value; unknown values fall back to the default (threat, worst first)."""
    raw = (value or DEFAULT_SORT).strip()
    desc = raw.startswith("-")
    sort = SORTS.get(raw.lstrip("-"))
    if sort is None:
        return SORTS["threat"], True
    return sort, desc


def due_days(band: str) -> int | None:
    """Default days from first seen to due for a band (MODELGATE_TRIAGE_DUE_DAYS; empty or absent: none)."""
    raw = str(settings.MODELGATE_TRIAGE_DUE_DAYS.get(band, "") or "").strip()
    return int(raw) if raw.isdigit() else None


def default_due(threat_level: int, first_seen: datetime) -> datetime | None:
    days = due_days(Band.of(threat_level).value)
    return first_seen + timedelta(days=days) if days is not None else None


def _derived_due() -> Any:
    """SQL for the default due date of a group: first seen + the band's days (far future when none)."""
    first_seen = Min("first_seen_at")
    whens = []
    for band in Band.values:
        days = due_days(band)
        if days is None:
            continue
        low, high = Band.levels(band)
        whens.append(
            When(
                threat_level__gte=low,
                threat_level__lte=high,
                then=ExpressionWrapper(first_seen + Value(timedelta(days=days)), output_field=DateTimeField()),
            )
        )
    return Case(*whens, default=Value(_far_future()), output_field=DateTimeField())


def grouped(qs: QuerySet[Violation], *, sort: Sort | None = None) -> QuerySet[Any]:
    """One row (a dict) per (version, policy) of `qs`: threat, first_seen, rank (0 open, 1 waived,
    2 resolved), rep (the lowest violation id), n (contexts), and the sort key.

    The threat level is the violation's copy of its policy's (kept in step by `sync_threat_levels`, so
    the same for a whole group) and the group key starts with it: sorted by threat, PostgreSQL walks the
    `violation_pair_order` index (state, threat level, version, policy) and stops after one page, on the
    first page as on a deep one. Joins for the model or policy name are added only to sort by them."""
    out = qs.order_by().annotate(threat=F("threat_level"))
    keys = ["threat", "version_id", "policy_id"]
    if sort is not None and sort.name == "model":
        out, keys = out.annotate(repo=F("version__model__repo_id")), [*keys, "repo"]
    if sort is not None and sort.name == "policy":
        out, keys = out.annotate(policy_name=F("policy__name")), [*keys, "policy_name"]
    out = out.values(*keys).annotate(
        first_seen=Min("first_seen_at"), rank=Min(STATE_RANK), rep=Min("id"), n=Count("id")
    )
    item = TriageItem.objects.filter(version_id=OuterRef("version_id"), policy_id=OuterRef("policy_id"))
    if sort is not None and sort.name == "due":
        explicit = Subquery(item.values("due_at")[:1], output_field=DateTimeField())
        out = out.annotate(due=Coalesce(explicit, _derived_due(), output_field=DateTimeField()))
    if sort is not None and sort.name == "assignee":
        out = out.annotate(assignee_name=Coalesce(Subquery(item.values("assignee__username")[:1]), Value("")))
    return out


def having_state(rows: QuerySet[Any], state: str) -> QuerySet[Any]:
    """Keep the groups whose state is `state` (open/waived/resolved; anything else: all)."""
    if state in STATE_RANKS:
        return rows.filter(rank=STATE_RANKS[state])
    return rows


def count_groups(rows: QuerySet[Any]) -> int:
    return rows.count()


# --- Counters registered by higher layers (the overview's rollups) ------------------------------------------

PairCounter = Callable[[dict[str, str]], tuple[int, datetime] | None]
_counters: list[PairCounter] = []


def register_pair_counter(counter: PairCounter) -> None:
    """A higher layer (governance) registers a function answering "how many rows would this filter show?"
    from its rollups — (count, as_of) — or None when it cannot answer that filter."""
    if counter not in _counters:
        _counters.append(counter)


def rollup_count(filters: dict[str, str]) -> tuple[int, datetime] | None:
    for counter in _counters:
        answer = counter(filters)
        if answer is not None:
            return answer
    return None


def is_unrestricted(qs: QuerySet[Any]) -> bool:
    """True when `restrict()` added no filter (a rollup, which counts every row, then matches the rows)."""
    return not qs.query.where and not qs.query.is_empty()


# --- Keyset pages ---------------------------------------------------------------------------------------------


def encode_cursor(values: Iterable[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


class BadCursor(ValueError):
    pass


def decode_cursor(token: str, sort: Sort) -> tuple[Any, int, int]:
    """(sort key, version id, policy id) of a cursor; BadCursor when it is not one of ours."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key, version_id, policy_id = raw
        if not (isinstance(version_id, int) and isinstance(policy_id, int)):
            raise BadCursor(token)
        if sort.kind == "int" and not isinstance(key, int):
            raise BadCursor(token)
        if sort.kind == "str" and not isinstance(key, str):
            raise BadCursor(token)
        if sort.kind == "dt":
            key = parse_datetime(key) if isinstance(key, str) else None
            if key is None:
                raise BadCursor(token)
        return key, version_id, policy_id
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise BadCursor(token) from exc


def _after(sort: Sort, desc: bool, key: Any, version_id: int, policy_id: int) -> Q:
    """Rows strictly after (key, version, policy) in the (key, version, policy) order, all in one direction."""
    op = "lt" if desc else "gt"
    f = sort.field
    return (
        Q(**{f"{f}__{op}": key})
        | Q(**{f: key, f"version_id__{op}": version_id})
        | Q(**{f: key, "version_id": version_id, f"policy_id__{op}": policy_id})
    )


def _seek_filter(rows: QuerySet[Any], sort: Sort, desc: bool, key: Any, version_id: int, policy_id: int) -> Any:
    """`rows` after the cursor. Sorted by threat the keys are columns of the violation table: one row-value
    comparison, which PostgreSQL answers with a range of the `violation_pair_order` index (the OR form
    below would be filtered row by row from the top: a deep page would cost its depth)."""
    if sort.name == "threat":
        table = Violation._meta.db_table
        op = "<" if desc else ">"
        return rows.extra(  # noqa: S610 - fixed SQL, values passed as parameters
            where=[f'("{table}"."threat_level", "{table}"."version_id", "{table}"."policy_id") {op} (%s, %s, %s)'],
            params=[int(key), int(version_id), int(policy_id)],
        )
    return rows.filter(_after(sort, desc, key, version_id, policy_id))


def _order(sort: Sort, desc: bool) -> list[Any]:
    fields = [sort.field, "version_id", "policy_id"]
    return [F(x).desc() if desc else F(x).asc() for x in fields]


@dataclass
class TriagePage:
    rows: list[TriageRow]
    next_cursor: str = ""
    prev_cursor: str = ""
    sort: Sort = field(default_factory=lambda: SORTS["threat"])
    desc: bool = True

    @property
    def has_next(self) -> bool:
        return bool(self.next_cursor)

    @property
    def has_previous(self) -> bool:
        return bool(self.prev_cursor)


def seek(
    rows: QuerySet[Any], sort: Sort, desc: bool, *, after: str = "", before: str = "", size: int = PAGE_SIZE
) -> tuple[list[dict[str, Any]], str, str]:
    """One keyset page of grouped rows: (rows, next cursor, previous cursor). `after` pages forward from a
    cursor, `before` backward; neither: the first page."""

    def key_of(row: dict[str, Any]) -> list[Any]:
        return [row[sort.field], row["version_id"], row["policy_id"]]

    if before:
        key = decode_cursor(before, sort)
        chunk = list(_seek_filter(rows, sort, not desc, *key).order_by(*_order(sort, not desc))[: size + 1])
        more_before = len(chunk) > size
        page = list(reversed(chunk[:size]))
        prev_cursor = encode_cursor(key_of(page[0])) if page and more_before else ""
        next_cursor = encode_cursor(key_of(page[-1])) if page else ""
        return page, next_cursor, prev_cursor
    qs = rows
    if after:
        qs = _seek_filter(qs, sort, desc, *decode_cursor(after, sort))
    chunk = list(qs.order_by(*_order(sort, desc))[: size + 1])
    page = chunk[:size]
    next_cursor = encode_cursor(key_of(page[-1])) if len(chunk) > size else ""
    prev_cursor = encode_cursor(key_of(page[0])) if after and page else ""
    return page, next_cursor, prev_cursor


# --- Rows -----------------------------------------------------------------------------------------------------


@dataclass
class Context:
    """A chip: where one violation of the group lives."""

    label: str
    application_id: int | None
    state: str
    violation_id: int

    @property
    def is_root(self) -> bool:
        return self.application_id is None


@dataclass
class TriageRow:
    version: ModelVersion
    policy: Policy
    state: str
    threat: int
    first_seen: datetime
    rep_id: int
    violations: list[Violation]
    item: TriageItem | None = None
    pending_waivers: list[Waiver] = field(default_factory=list)

    @property
    def pk(self) -> int:  # the element id of the row and its page: the lowest violation id of the group
        return self.rep_id

    @property
    def key(self) -> str:
        return f"{self.version.pk}-{self.policy.pk}"

    @property
    def band(self) -> str:
        return Band.of(self.threat).value

    @property
    def contexts(self) -> list[Context]:
        chips = [
            Context(
                label=str(v.application) if v.application_id else ROOT_LABEL,
                application_id=v.application_id,
                state=v.state,
                violation_id=v.pk,
            )
            for v in self.violations
        ]
        return sorted(chips, key=lambda c: (not c.is_root, c.label.lower()))

    @property
    def assignee(self) -> Any:
        return self.item.assignee if self.item else None

    @property
    def due_at(self) -> datetime | None:
        if self.item is not None and self.item.due_at is not None:
            return self.item.due_at
        return default_due(self.threat, self.first_seen)

    @property
    def due_is_default(self) -> bool:
        return self.item is None or self.item.due_at is None

    @property
    def overdue(self) -> bool:
        due = self.due_at
        return due is not None and self.state == ViolationState.OPEN and due < timezone.now()

    @property
    def dismissed(self) -> bool:
        return self.item is not None and self.item.is_dismissed

    @property
    def representative(self) -> Violation:
        """An open violation of the group if any (the one a waiver request starts from), else the first."""
        open_ones = [v for v in self.violations if v.state == ViolationState.OPEN]
        return (open_ones or self.violations)[0]

    @property
    def age_days(self) -> int:
        return (timezone.now() - self.first_seen).days


def build_rows(qs: QuerySet[Violation], groups: list[dict[str, Any]]) -> list[TriageRow]:
    """Materialize grouped rows: a fixed number of queries whatever the page size."""
    if not groups:
        return []
    version_ids = {g["version_id"] for g in groups}
    policy_ids = {g["policy_id"] for g in groups}
    pairs = {(g["version_id"], g["policy_id"]) for g in groups}
    pending = Waiver.objects.filter(state=WaiverState.PENDING).select_related("requested_by")
    violations = (
        qs.filter(version_id__in=version_ids, policy_id__in=policy_ids)
        .select_related("application", "waiver")
        .prefetch_related(Prefetch("waiver_requests", queryset=pending, to_attr="pending_waivers"))
        .order_by("id")
    )
    by_pair: dict[tuple[int, int], list[Violation]] = {}
    for v in violations:
        if (v.version_id, v.policy_id) in pairs:
            by_pair.setdefault((v.version_id, v.policy_id), []).append(v)
    versions = ModelVersion.objects.select_related("model").in_bulk(version_ids)
    policies = Policy.objects.in_bulk(policy_ids)
    items = {
        (t.version_id, t.policy_id): t
        for t in TriageItem.objects.filter(version_id__in=version_ids, policy_id__in=policy_ids).select_related(
            "assignee"
        )
    }
    rows = []
    for g in groups:
        pair = (g["version_id"], g["policy_id"])
        members = by_pair.get(pair, [])
        rows.append(
            TriageRow(
                version=versions[g["version_id"]],
                policy=policies[g["policy_id"]],
                state=RANK_STATE[g["rank"]],
                threat=g["threat"],
                first_seen=g["first_seen"],
                rep_id=g["rep"],
                violations=members,
                item=items.get(pair),
                pending_waivers=[w for v in members for w in getattr(v, "pending_waivers", [])],
            )
        )
    return rows


def row_for(qs: QuerySet[Violation], violation: Violation) -> TriageRow | None:
    """The grouped row a violation belongs to (within `qs`, i.e. the user's visible violations)."""
    pair = qs.filter(version_id=violation.version_id, policy_id=violation.policy_id)
    groups = list(grouped(pair))
    rows = build_rows(pair, groups)
    return rows[0] if rows else None


def pair_counts(qs: QuerySet[Violation]) -> list[dict[str, Any]]:
    """Groups of `qs` counted per threat level × category × group state, in one SQL statement:
    [{threat_level, category, state, count}]. The overview's rollups and the list count with this."""
    inner = (
        qs.order_by()
        .annotate(tl=F("threat_level"), cat=F("policy__category"))
        .values("version_id", "policy_id", "tl", "cat")
        .annotate(rank=Min(STATE_RANK))
    )
    sql, params = inner.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tl, cat, rank, COUNT(*) FROM ({sql}) g GROUP BY tl, cat, rank", params)  # noqa: S608
        return [
            {"threat_level": tl or 0, "category": cat or "other", "state": RANK_STATE[rank], "count": n}
            for tl, cat, rank, n in cursor.fetchall()
        ]


def filter_state(qs: QuerySet[Violation], state: str) -> QuerySet[Violation]:
    """The WHERE part of a row-state filter (the HAVING part is `having_state`)."""
    if state == ViolationState.OPEN:
        return qs.filter(state=ViolationState.OPEN)
    if state == ViolationState.WAIVED:
        return qs.exclude(state=ViolationState.RESOLVED)
    return qs


def count_rows(qs: QuerySet[Violation], state: str) -> int:
    """Exactly how many rows the list shows for violations `qs` (already filtered) and row state `state`."""
    return having_state(grouped(filter_state(qs, state)), state).count()


def counters(user: Any) -> dict[str, Any]:
    """Open and waived rows (problems, not contexts) and pending waiver requests, for the page's counters.
    From the overview's rollups when they answer and `restrict()` narrows nothing, else counted exactly."""
    visible = Violation.objects.restrict(user)
    out: dict[str, Any] = {"as_of": None}
    for state in (ViolationState.OPEN, ViolationState.WAIVED):
        answer = rollup_count({"state": state.value}) if is_unrestricted(visible) else None
        if answer is not None:
            out[state.value], out["as_of"] = answer
        else:
            out[state.value] = count_rows(visible, state.value)
    out["pending"] = Waiver.objects.restrict(user).pending().count()
    return out


def top_models(qs: QuerySet[Violation], limit: int = 15) -> list[dict[str, Any]]:
    """Models by open risk over problems (a pair counts once however many contexts it is open in):
    [{id, repo_id, risk, count}], highest risk first. One SQL statement plus the names."""
    inner = (
        filter_state(qs, ViolationState.OPEN)
        .order_by()
        .annotate(m=F("version__model_id"), tl=F("threat_level"))
        .values("version_id", "policy_id", "m", "tl")
        .annotate(n=Count("id"))
    )
    sql, params = inner.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m, SUM(tl), COUNT(*) FROM ({sql}) g GROUP BY m ORDER BY SUM(tl) DESC, m LIMIT %s",  # noqa: S608
            [*params, int(limit) * 4],
        )
        found = cursor.fetchall()
    names = dict(Model.objects.filter(pk__in=[m for m, _, _ in found]).values_list("pk", "repo_id"))
    rows = [{"id": m, "repo_id": names.get(m, ""), "risk": int(r or 0), "count": n} for m, r, n in found]
    return sorted(rows, key=lambda r: (-r["risk"], r["repo_id"]))[:limit]
