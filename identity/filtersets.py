"""FilterSets of the identity pages (STYLE.md §3)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from core.filters import AnyBooleanFilter
from core.roles import ROLES
from inventory.models import Organization


class UserFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    role = django_filters.ChoiceFilter(
        choices=[(r, r.capitalize()) for r in ROLES], field_name="groups__name", label="Global role", distinct=True
    )
    organization = django_filters.ModelChoiceFilter(
        queryset=Organization.objects.none(), method="by_organization", label="Organization"
    )
    active = AnyBooleanFilter(field_name="is_active", label="Active")

    class Meta:
        model = get_user_model()
        fields: list[str] = []

    def search(self, qs: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(
            Q(username__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(email__icontains=value)
        )

    def by_organization(self, qs: QuerySet[Any], name: str, value: Organization | None) -> QuerySet[Any]:
        """Members of the organization: directly or through a team."""
        if not value:
            return qs
        return qs.filter(Q(memberships__organization=value) | Q(groups__memberships__organization=value)).distinct()
