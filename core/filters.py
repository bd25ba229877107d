"""Filters shared by every app's FilterSets."""

from __future__ import annotations

import django_filters
from django import forms

MAX_ID = 2**63 - 1


class IdField(forms.IntegerField):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class IdFilter(django_filters.NumberFilter):
    """A primary-key filter: whole numbers in the database's range (no 1e300, no 1.5) → a 400, not a 500."""

    field_class = IdField


class AnyBooleanWidget(django_filters.widgets.BooleanWidget):
    """Yes / No / Any: an empty boolean filter means "any", not "unknown"."""

    def __init__(self, attrs: dict[str, object] | None = None) -> None:
        super().__init__(attrs)
        self.choices = [("", "Any"), ("true", "Yes"), ("false", "No")]


class AnyBooleanFilter(django_filters.BooleanFilter):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("widget", AnyBooleanWidget)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
