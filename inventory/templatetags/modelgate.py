"""Template helpers used across apps."""

from __future__ import annotations

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from core.choices import Band
from inventory.markdown import render_markdown

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    return render_markdown(text or "")


@register.filter
def chips(value: object, limit: int = 80) -> SafeString | str:
    """A list as comma-separated chips (never a Python repr like ['llama3.1']); other values as text."""
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        if not items:
            return mark_safe('<span class="muted">none</span>')
        return format_html_join(", ", '<span class="chip">{}</span>', ((str(i)[:limit],) for i in items))
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@register.filter
def band(threat_level: int | None) -> str:
    """The band of a threat level (the one rule, core.choices.Band)."""
    return Band.of(threat_level).value


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **kwargs: object) -> str:
    """The current query string with some parameters replaced (filters kept in the URL)."""
    params = context["request"].GET.copy()
    for key, value in kwargs.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    params.pop("page", None) if "page" not in kwargs else None
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"
