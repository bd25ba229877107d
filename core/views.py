"""View helpers every app's views share: one rendering rule, one paginator, one audit trail."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from core.models import AuditEvent
from core.permissions import has_perm

PAGE_SIZE = 50
AUDIT_ROWS = 20


def partial_template(request: HttpRequest, template: str, partial: str) -> str:
    """`template#partial` for an htmx request that targets it; the full page otherwise (and for boosted links)."""
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted:
        return f"{template}#{partial}"
    return template


def paginate(request: HttpRequest, qs: QuerySet[Any], *, size: int = PAGE_SIZE, count: int | None = None) -> Page:
    """A page of `qs` (`?page=`); `count`, when already known (e.g. from counters), saves a COUNT(*)."""
    paginator = Paginator(qs, size)
    if count is not None:
        paginator.__dict__["count"] = count  # Paginator.count is a cached_property
    return paginator.get_page(request.GET.get("page"))


def audit_trail(
    request: HttpRequest, obj: Model, *, action_prefix: str = "", limit: int = AUDIT_ROWS
) -> list[AuditEvent]:
    """The latest audit events about `obj` the user may read (for `_audit_trail.html`), newest first."""
    if not has_perm(request.user, "core.view_auditevent"):
        return []
    qs = AuditEvent.objects.restrict(request.user).for_object(obj).select_related("actor")
    if action_prefix:
        qs = qs.filter(action__startswith=action_prefix)
    return list(qs[:limit])
