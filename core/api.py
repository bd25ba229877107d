"""API plumbing shared by every app's endpoints."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Django's ValidationError/PermissionDenied raised by services."""
    if isinstance(exc, DjangoValidationError):
        detail: Any = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(detail=str(exc) or None)
    return drf_exception_handler(exc, context)


def restrict_related_fields(serializer: Any, user: Any) -> None:
    """Narrow the choices of a serializer's related fields to the objects the user may see."""
    from django.db.models import Manager
    from rest_framework.relations import ManyRelatedField, RelatedField
    from rest_framework.serializers import BaseSerializer, ListSerializer

    from core.permissions import RestrictedQuerySet

    if isinstance(serializer, ListSerializer):
        serializer = serializer.child
    for field in getattr(serializer, "fields", {}).values():
        target: Any = field.child_relation if isinstance(field, ManyRelatedField) else field
        queryset: Any = getattr(target, "queryset", None)
        if isinstance(queryset, Manager):
            queryset = queryset.all()
        if isinstance(target, RelatedField) and isinstance(queryset, RestrictedQuerySet):
            setattr(target, "queryset", queryset.restrict(user))  # noqa: B010  (django-stubs types it as a manager)
        elif isinstance(field, BaseSerializer):
            restrict_related_fields(field, user)


class ScopedBrowsableAPIRenderer(BrowsableAPIRenderer):
    """The browsable API, whose HTML forms offer only what the user may see: related-object choices
    are restricted, and the filter form (its choices come from unrestricted filtersets) is left out
    for users whose roles are held through organization memberships."""

    def render_form_for_serializer(self, serializer: Any) -> Any:
        request = serializer.context.get("request")
        if request is not None:
            restrict_related_fields(serializer, request.user)
        return super().render_form_for_serializer(serializer)

    def get_filter_form(self, data: Any, view: Any, request: Any) -> Any:
        from core.permissions import organization_scope

        if organization_scope(request.user, "inventory.view_organization") is not None:
            return None
        return super().get_filter_form(data, view, request)
