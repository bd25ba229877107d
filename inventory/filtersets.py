"""One FilterSet per list, behind both the HTML pages and the REST API (STYLE.md §3)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet

from core.filters import AnyBooleanFilter, IdFilter
from inventory.choices import JobState, ReviewStatus, Source
from inventory.models import Application, Dataset, ImportJob, Model, ModelVersion, Organization

AWAITING = "awaiting"


class ModelFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    organization = django_filters.ModelChoiceFilter(
        queryset=Organization.objects.all(), method="by_organization", label="Organization"
    )
    application = django_filters.ModelChoiceFilter(
        queryset=Application.objects.all(), method="by_application", label="Application"
    )
    license = django_filters.CharFilter(
        field_name="latest_version__license_expression", lookup_expr="icontains", label="License"
    )
    status = django_filters.ChoiceFilter(
        choices=[*ReviewStatus.choices, (AWAITING, "Awaiting a decision")], method="by_status", label="Review status"
    )
    verdict = django_filters.CharFilter(field_name="latest_version__scan_verdict", label="Scan verdict")
    tag = django_filters.CharFilter(method="by_tag", label="Tag")
    pipeline_tag = django_filters.CharFilter(field_name="pipeline_tag", label="Task")
    source = django_filters.ChoiceFilter(choices=Source.choices)
    sort = django_filters.OrderingFilter(
        fields=(
            ("repo_id", "name"),
            ("latest_version__imported_at", "imported"),
            ("downloads", "downloads"),
            ("likes", "likes"),
            ("hub_last_modified", "modified"),
        ),
        label="Sort",
    )

    class Meta:
        model = Model
        fields: list[str] = []

    def search(self, qs: QuerySet[Model], name: str, value: str) -> QuerySet[Model]:
        value = value.strip()
        return qs.filter(Q(repo_id__icontains=value) | Q(author__icontains=value)) if value else qs

    def by_status(self, qs: QuerySet[Model], name: str, value: str) -> QuerySet[Model]:
        if not value:
            return qs
        if value == AWAITING:  # pending or in review: what "my work" counts as awaiting approval
            return qs.filter(latest_version__review_status__in=[ReviewStatus.PENDING, ReviewStatus.IN_REVIEW])
        return qs.filter(latest_version__review_status=value)

    def by_organization(self, qs: QuerySet[Model], name: str, value: Organization | None) -> QuerySet[Model]:
        if not value:
            return qs
        return qs.filter(versions__usages__application__organization_id__in=value.descendant_ids()).distinct()

    def by_application(self, qs: QuerySet[Model], name: str, value: Application | None) -> QuerySet[Model]:
        return qs.filter(versions__usages__application=value).distinct() if value else qs

    def by_tag(self, qs: QuerySet[Model], name: str, value: str) -> QuerySet[Model]:
        value = value.strip()
        if not value:
            return qs
        # JSON list containment works on PostgreSQL and SQLite (JSON1) alike.
        return qs.filter(tags__icontains=f'"{value}"')


class ModelVersionFilterSet(django_filters.FilterSet):
    repo_id = django_filters.CharFilter(field_name="model__repo_id")
    commit = django_filters.CharFilter(field_name="commit", lookup_expr="startswith")
    review_status = django_filters.ChoiceFilter(choices=ReviewStatus.choices)
    application = IdFilter(field_name="usages__application_id", distinct=True)

    class Meta:
        model = ModelVersion
        fields: list[str] = []


class ImportJobFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=JobState.choices)
    q = django_filters.CharFilter(method="search", label="Search")
    mine = AnyBooleanFilter(method="by_mine", label="Started by me")

    class Meta:
        model = ImportJob
        fields: list[str] = []

    def search(self, qs: QuerySet[ImportJob], name: str, value: Any) -> QuerySet[ImportJob]:
        return qs.filter(Q(repo_id__icontains=value) | Q(local_path__icontains=value)) if value else qs

    def by_mine(self, qs: QuerySet[ImportJob], name: str, value: bool | None) -> QuerySet[ImportJob]:
        if value is None:
            return qs
        user_id = getattr(getattr(self.request, "user", None), "pk", None)
        return qs.filter(requested_by_id=user_id) if value else qs.exclude(requested_by_id=user_id)


class DatasetFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="repo_id", lookup_expr="icontains", label="Search")
    flag = django_filters.CharFilter(method="by_flag", label="Flag")

    class Meta:
        model = Dataset
        fields: list[str] = []

    def by_flag(self, qs: QuerySet[Dataset], name: str, value: str) -> QuerySet[Dataset]:
        return qs.filter(flags__icontains=f'"{value}"') if value else qs


class ApplicationFilterSet(django_filters.FilterSet):
    organization = django_filters.ModelChoiceFilter(queryset=Organization.objects.all())
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")

    class Meta:
        model = Application
        fields: list[str] = []
