"""One FilterSet per list, behind both the HTML pages and the REST API (STYLE.md §3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from core.choices import Band, Category
from core.filters import AnyBooleanFilter, IdFilter
from inventory.choices import NO_APPLICATION
from inventory.models import Application, Organization
from policies.choices import ScopeKind, ViolationState, WaiverState
from policies.models import Policy, TriageItem, Violation, Waiver
from policies.services.waivers import decidable_waivers
from policies.triage import filter_state

AGE_CHOICES = [("1", "older than 1 day"), ("7", "older than 7 days"), ("30", "older than 30 days"),
               ("90", "older than 90 days")]  # fmt: skip


def _band_q(prefix: str, band: str) -> Q:
    low, high = Band.levels(band)
    return Q(**{f"{prefix}threat_level__gte": low, f"{prefix}threat_level__lte": high})


class PolicyFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    category = django_filters.ChoiceFilter(choices=Category.choices)
    band = django_filters.ChoiceFilter(choices=Band.choices, method="by_band", label="Band")
    enabled = AnyBooleanFilter()
    scope = django_filters.ChoiceFilter(choices=ScopeKind.choices, method="by_scope", label="Scope")

    class Meta:
        model = Policy
        fields: list[str] = []

    def search(self, qs: QuerySet[Policy], name: str, value: str) -> QuerySet[Policy]:
        value = value.strip()
        return qs.filter(Q(name__icontains=value) | Q(description__icontains=value)) if value else qs

    def by_band(self, qs: QuerySet[Policy], name: str, value: str) -> QuerySet[Policy]:
        return qs.filter(_band_q("", value)) if value else qs

    def by_scope(self, qs: QuerySet[Policy], name: str, value: str) -> QuerySet[Policy]:
        if value == ScopeKind.APPLICATION:
            return qs.filter(application__isnull=False)
        if value == ScopeKind.ORGANIZATION:
            return qs.filter(organization__isnull=False)
        if value == ScopeKind.ROOT:
            return qs.filter(organization__isnull=True, application__isnull=True)
        return qs


class ViolationFilterSet(django_filters.FilterSet):
    """Triage filters. Without a `state`, the list shows open violations."""

    q = django_filters.CharFilter(method="search", label="Model")
    organization = django_filters.ModelChoiceFilter(
        queryset=Organization.objects.all(), method="by_organization", label="Organization"
    )
    application = django_filters.ModelChoiceFilter(queryset=Application.objects.all(), label="Application")
    root = AnyBooleanFilter(field_name="application", lookup_expr="isnull", label=f"{NO_APPLICATION} only")
    policy = django_filters.ModelChoiceFilter(queryset=Policy.objects.all())
    category = django_filters.ChoiceFilter(field_name="policy__category", choices=Category.choices, label="Category")
    band = django_filters.ChoiceFilter(choices=Band.choices, method="by_band", label="Band")
    state = django_filters.ChoiceFilter(choices=[*ViolationState.choices, ("all", "All")], method="by_state")
    age = django_filters.ChoiceFilter(choices=AGE_CHOICES, method="by_age", label="Age")
    version = IdFilter(field_name="version_id")

    class Meta:
        model = Violation
        fields: list[str] = []

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        data = data.copy() if data is not None else {}
        if not data.get("state"):
            data["state"] = ViolationState.OPEN
        super().__init__(data, *args, **kwargs)

    def search(self, qs: QuerySet[Violation], name: str, value: str) -> QuerySet[Violation]:
        value = value.strip()
        return qs.filter(version__model__repo_id__icontains=value) if value else qs

    def by_organization(self, qs: QuerySet[Violation], name: str, value: Organization | None) -> QuerySet[Violation]:
        return qs.filter(application__organization_id__in=value.descendant_ids()) if value else qs

    def by_band(self, qs: QuerySet[Violation], name: str, value: str) -> QuerySet[Violation]:
        return qs.filter(_band_q("", value)) if value else qs

    def by_state(self, qs: QuerySet[Violation], name: str, value: str) -> QuerySet[Violation]:
        return qs if value in ("", "all") else qs.filter(state=value)

    def by_age(self, qs: QuerySet[Violation], name: str, value: str) -> QuerySet[Violation]:
        return qs.filter(first_seen_at__lte=timezone.now() - timedelta(days=int(value))) if value else qs


TRIAGE_STATE_CHOICES = [("open", "Open"), ("waived", "Waived"), ("resolved", "Resolved"), ("all", "All")]


class TriageFilterSet(ViolationFilterSet):
    """Filters of the triage list (one row per version × policy; see policies/triage.py).

    The violation filters narrow the violations a row is made of; `state` is the *row's* state
    (open if any of its violations is open, else waived, else resolved): open keeps the open
    violations, waived drops the resolved ones and keeps the groups with none open, resolved keeps
    the groups whose every violation is resolved (the HAVING part is `triage.having_state`).
    """

    state = django_filters.ChoiceFilter(choices=TRIAGE_STATE_CHOICES, method="by_state", label="State")
    model = IdFilter(field_name="version__model_id", label="Model id")
    assignee = django_filters.ChoiceFilter(
        choices=[("me", "Assigned to me"), ("none", "Unassigned"), ("any", "Assigned")],
        method="by_assignee",
        label="Assignee",
        empty_label="Anyone",
    )
    dismissed = django_filters.ChoiceFilter(
        choices=[("hide", "Hide dismissed"), ("only", "Dismissed only")],
        method="by_dismissed",
        label="Dismissed",
        empty_label="Show",
    )

    def _items(self) -> QuerySet[TriageItem]:
        return TriageItem.objects.filter(version_id=OuterRef("version_id"), policy_id=OuterRef("policy_id"))

    def by_state(self, qs: QuerySet[Violation], name: str, value: str) -> QuerySet[Violation]:
        return filter_state(qs, value)

    def by_assignee(self, qs: QuerySet[Violation], name: str, value: str) -> QuerySet[Violation]:
        user = getattr(self.request, "user", None)
        if value == "me" and user is not None and user.is_authenticated:
            return qs.filter(Exists(self._items().filter(assignee=user)))
        if value == "none":
            return qs.exclude(Exists(self._items().filter(assignee__isnull=False)))
        if value == "any":
            return qs.filter(Exists(self._items().filter(assignee__isnull=False)))
        return qs

    def by_dismissed(self, qs: QuerySet[Violation], name: str, value: str) -> QuerySet[Violation]:
        dismissed = Exists(self._items().exclude(dismissed_reason=""))
        if value == "hide":
            return qs.exclude(dismissed)
        if value == "only":
            return qs.filter(dismissed)
        return qs


class WaiverFilterSet(django_filters.FilterSet):
    TABS = [
        ("pending", "Pending requests"),
        ("to_decide", "Awaiting my decision"),
        ("expiring", "Expiring soon"),
        ("stale", "Stale"),
        ("all", "All"),
    ]

    tab = django_filters.ChoiceFilter(choices=TABS, method="by_tab", label="Show")
    state = django_filters.ChoiceFilter(choices=WaiverState.choices)
    policy = django_filters.ModelChoiceFilter(queryset=Policy.objects.all())
    category = django_filters.ChoiceFilter(field_name="policy__category", choices=Category.choices, label="Category")

    class Meta:
        model = Waiver
        fields: list[str] = []

    def by_tab(self, qs: QuerySet[Waiver], name: str, value: str) -> QuerySet[Waiver]:
        now = timezone.now()
        if value == "pending":
            return qs.filter(state=WaiverState.PENDING)
        if value == "to_decide":  # pending requests this user may decide (not their own)
            return decidable_waivers(getattr(self.request, "user", None), qs)
        if value == "expiring":
            return qs.filter(state=WaiverState.APPROVED, expires_at__gt=now, expires_at__lte=now + timedelta(days=14))
        if value == "stale":
            return qs.stale(now)  # type: ignore[attr-defined]
        return qs
