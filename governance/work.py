""" "My work": what is waiting for the signed-in user, one section per permission.

Each section is a count, the first rows and a link to the full list filtered the same way (the count
equals the rows the link shows). The queries live here; the page is governance.views.WorkView.

`assigned_violations(user)` is the one place that decides what "violations assigned to me" means: with
`policies.TriageItem` (an assignee per version × policy) installed, the open violations whose triage
item is assigned to the user; before that, the open violations of versions the user imported or that
an application of the user's organizations uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils.http import urlencode

from core.permissions import has_perm
from identity.models import Membership
from inventory.choices import ReviewStatus
from inventory.models import ImportJob, ModelVersion, Organization
from licenses.models import LicenseAnalysis
from licenses.services import review_queue
from policies.choices import ViolationState
from policies.models import Violation, Waiver
from policies.services.waivers import decidable_waivers

FIRST_ROWS = 5
AWAITING_APPROVAL = (ReviewStatus.PENDING, ReviewStatus.IN_REVIEW)


@dataclass
class Section:
    """One block of the page: `rows` are the first of `count`, `url` shows them all."""

    key: str
    title: str
    count: int
    rows: list[Any]
    url: str
    empty: str
    action_label: str = ""
    action_url: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --- the queries (also used by tests and, later, the triage list) -------------------------------------
def legal_queue(user: Any) -> QuerySet[LicenseAnalysis]:
    """License reviews waiting for a conclusion: the legal queue (needs review, no deciding conclusion)."""
    return review_queue(user)  # type: ignore[no-any-return]


def waivers_to_decide(user: Any) -> QuerySet[Waiver]:
    """Pending waivers whose policy's kind the user may decide and which the user did not request."""
    return decidable_waivers(user, Waiver.objects.restrict(user)).select_related(
        "policy", "version__model", "model", "requested_by"
    )


def triage_model() -> Any:
    """`policies.TriageItem` when it is installed, else None."""
    try:
        return apps.get_app_config("policies").get_model("TriageItem")
    except LookupError:
        return None


def my_organization_ids(user: Any) -> set[int]:
    """Organizations the user holds a membership in (directly or through a team), with those below."""
    ids: set[int] = set()
    for org in Organization.objects.filter(
        pk__in=Membership.objects.for_user(user).values("organization_id")
    ).distinct():
        ids |= org.descendant_ids()
    return ids


def assigned_violations(user: Any) -> QuerySet[Violation]:
    """Open violations that are this user's to work on (see the module docstring)."""
    qs = Violation.objects.restrict(user).filter(state=ViolationState.OPEN)
    triage = triage_model()
    if triage is not None and any(f.name == "assignee" for f in triage._meta.get_fields()):
        # One triage item per version × policy (its assignee owns every context's row of that pair).
        assigned = triage.objects.filter(
            assignee=user, version_id=OuterRef("version_id"), policy_id=OuterRef("policy_id")
        )
        if any(f.name == "dismissed_reason" for f in triage._meta.get_fields()):
            assigned = assigned.filter(dismissed_reason="")  # a dismissed problem is no longer work
        return qs.filter(Exists(assigned))
    orgs = my_organization_ids(user)
    mine = Q(version__imported_by=user)
    if orgs:
        mine |= Q(version__usages__application__organization_id__in=orgs)
    return qs.filter(mine).distinct()


def assigned_violation_rows(user: Any) -> tuple[int, list[Violation]]:
    """(count of version × policy pairs, the first rows, one per pair, highest threat first)."""
    qs = assigned_violations(user)
    pairs = list(
        qs.order_by("-threat_level", "-first_seen_at", "-id").values_list("pk", "version_id", "policy_id").distinct()
    )
    first_of_pair: dict[tuple[int, int], int] = {}
    for pk, version_id, policy_id in pairs:
        first_of_pair.setdefault((version_id, policy_id), pk)
    wanted = list(first_of_pair.values())[:FIRST_ROWS]
    rows = Violation.objects.filter(pk__in=wanted).select_related("policy", "version__model")
    by_pk = {v.pk: v for v in rows}
    return len(first_of_pair), [by_pk[pk] for pk in wanted if pk in by_pk]


def my_imports(user: Any) -> QuerySet[ImportJob]:
    return ImportJob.objects.restrict(user).filter(requested_by=user).select_related("version__model")


def versions_awaiting_approval(user: Any) -> QuerySet[ModelVersion]:
    """The current revision of each model still waiting for an approve/reject decision."""
    return (
        ModelVersion.objects.restrict(user)
        .filter(model__is_placeholder=False, model__latest_version_id=F("pk"))
        .filter(review_status__in=AWAITING_APPROVAL)
        .select_related("model")
        .order_by("-imported_at", "-id")
    )


# --- the page -----------------------------------------------------------------------------------------
def _url(name: str, **params: Any) -> str:
    base = reverse(name)
    return f"{base}?{urlencode(params)}" if params else base


def sections_for(user: Any) -> list[Section]:
    """The sections this user's permissions give, in the order of a working day."""
    out: list[Section] = []
    can_import = has_perm(user, "inventory.import_model")
    import_url = reverse("inventory:import") if can_import else ""
    if has_perm(user, "licenses.conclude_license"):
        qs = legal_queue(user)
        out.append(
            Section(
                key="legal",
                title="Legal queue",
                count=qs.count(),
                rows=list(qs[:FIRST_ROWS]),
                url=_url("licenses:queue"),
                empty="Nothing waiting: every analysed license is concluded or needs no review.",
            )
        )
    if has_perm(user, "policies.decide_legal_waiver") or has_perm(user, "policies.decide_security_waiver"):
        qs_w = waivers_to_decide(user).order_by("requested_at", "id")
        out.append(
            Section(
                key="waivers",
                title="Waivers awaiting my decision",
                count=qs_w.count(),
                rows=list(qs_w[:FIRST_ROWS]),
                url=_url("policies:waiver_list", tab="to_decide"),
                empty="No waiver requests for you to decide.",
            )
        )
    if has_perm(user, "policies.view_violation") and has_perm(user, "policies.request_waiver"):
        count, rows = assigned_violation_rows(user)
        triage = triage_model() is not None
        out.append(
            Section(
                key="violations",
                title="Violations assigned to me" if triage else "Violations on my models",
                count=count,
                rows=rows,
                url=_url("policies:violation_list", assignee="me") if triage else _url("policies:violation_list"),
                empty="No open violation is assigned to you."
                if triage
                else "No open violations on models you imported or your organizations use.",
                note=""
                if triage
                else "Versions you imported or that your organizations' applications use; open violations, "
                "one row per version and policy.",
            )
        )
    if can_import:
        qs_i = my_imports(user)
        out.append(
            Section(
                key="imports",
                title="Imports I started",
                count=qs_i.count(),
                rows=list(qs_i[:FIRST_ROWS]),
                url=_url("inventory:importjob_list", mine="true"),
                empty="You have not imported anything yet.",
                action_label="Import a model",
                action_url=import_url,
            )
        )
    if has_perm(user, "policies.approve_version"):
        qs_v = versions_awaiting_approval(user)
        out.append(
            Section(
                key="approvals",
                title="Versions awaiting approval",
                count=qs_v.count(),
                rows=list(qs_v[:FIRST_ROWS]),
                url=_url("inventory:model_list", status="awaiting"),
                empty="No version is waiting for a decision.",
                action_label="Import a model" if can_import else "",
                action_url=import_url,
            )
        )
    return out
