"""One FilterSet per list, behind both the HTML pages and the REST API (STYLE.md §3)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from core.filters import IdFilter
from inventory.models import Model
from scanning.choices import FindingCategory, FindingSeverity, ScanState, ScanTrigger, ScanVerdict
from scanning.models import Finding, ScanRun


class ScanRunFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ScanState.choices, empty_label="Any")
    verdict = django_filters.ChoiceFilter(choices=ScanVerdict.choices, empty_label="Any")
    trigger = django_filters.ChoiceFilter(choices=ScanTrigger.choices, empty_label="Any")
    model = django_filters.ModelChoiceFilter(field_name="version__model", queryset=Model.objects.all(), label="Model")
    version = IdFilter(field_name="version_id", label="Version id")
    q = django_filters.CharFilter(method="search", label="Search")
    rules_version = django_filters.CharFilter(label="Rules version")

    class Meta:
        model = ScanRun
        fields: list[str] = []

    def search(self, qs: QuerySet[ScanRun], name: str, value: str) -> QuerySet[ScanRun]:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(Q(version__model__repo_id__icontains=value) | Q(version__commit__startswith=value.lower()))


class FindingFilterSet(django_filters.FilterSet):
    category = django_filters.ChoiceFilter(choices=FindingCategory.choices, empty_label="Any")
    severity = django_filters.ChoiceFilter(choices=FindingSeverity.choices, empty_label="Any")
    verdict = django_filters.ChoiceFilter(choices=ScanVerdict.choices, empty_label="Any")
    rule = django_filters.CharFilter(lookup_expr="startswith", label="Rule starts with")
    file = django_filters.CharFilter(field_name="path", label="File")
    path = django_filters.CharFilter(lookup_expr="icontains", label="File contains")
    scan_run = IdFilter(field_name="scan_run_id", label="Scan run")
    version = IdFilter(field_name="scan_run__version_id", label="Version id")

    class Meta:
        model = Finding
        fields: list[str] = []
