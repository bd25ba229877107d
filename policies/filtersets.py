"""One FilterSet per list, behind both the HTML pages and the REST API (STYLE.md §3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.choices import Band, Category
from core.filters import AnyBooleanFilter, IdFilter
from inventory.choices import NO_APPLICATION
from inventory.models import Application, Organization
from policies.choices import ScopeKind, ViolationState, WaiverState
from policies.models import Policy, Violation, Waiver
from policies.services.waivers import decidable_waivers

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
