"""Template helpers used across apps."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from core.choices import Band
from inventory.markdown import render_markdown

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    return render_markdown(text or "")


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
