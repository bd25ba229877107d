"""One FilterSet per list, behind both the HTML pages and the REST API (STYLE.md §3)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from core.filters import AnyBooleanFilter, IdFilter
from licenses.choices import AnalysisState, ConclusionStatus, ThreatGroup
from licenses.models import License, LicenseAnalysis, LicenseConclusion, Obligation


class LicenseAnalysisFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    threat_group = django_filters.ChoiceFilter(choices=ThreatGroup.choices, label="Threat group")
    conflict = AnyBooleanFilter(label="In conflict")
    needs_review = AnyBooleanFilter(label="Needs review")
    state = django_filters.ChoiceFilter(choices=AnalysisState.choices)
    license = django_filters.CharFilter(field_name="effective", lookup_expr="icontains", label="License")
    version = IdFilter(field_name="version_id")

    class Meta:
        model = LicenseAnalysis
        fields: list[str] = []

    def search(self, qs: QuerySet[LicenseAnalysis], name: str, value: str) -> QuerySet[LicenseAnalysis]:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(
            Q(version__model__repo_id__icontains=value) | Q(effective__icontains=value) | Q(declared__icontains=value)
        )


class LicenseFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    threat_group = django_filters.ChoiceFilter(choices=ThreatGroup.choices, label="Threat group")
    family = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = License
        fields: list[str] = []

    def search(self, qs: QuerySet[License], name: str, value: str) -> QuerySet[License]:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(Q(key__icontains=value) | Q(name__icontains=value) | Q(spdx_id__icontains=value))


class ObligationFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="term", lookup_expr="icontains", label="Term")

    class Meta:
        model = Obligation
        fields: list[str] = []


class LicenseConclusionFilterSet(django_filters.FilterSet):
    version = IdFilter(field_name="version_id")
    application = IdFilter(field_name="application_id")
    status = django_filters.ChoiceFilter(choices=ConclusionStatus.choices)

    class Meta:
        model = LicenseConclusion
        fields: list[str] = []
