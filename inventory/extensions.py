"""Extension points through which scanning, licenses and policies add to inventory pages.

Imports point one way (DESIGN.md): inventory never imports those apps; they register here in
their AppConfig.ready().
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

log = logging.getLogger(__name__)

# name -> (order, template, context function(request, version) -> dict | None)
_VERSION_PANELS: dict[str, tuple[int, str, Callable[[HttpRequest, Any], dict[str, Any] | None]]] = {}
# name -> function(request, application) -> list of {"label", "url"}
_APPLICATION_LINKS: dict[str, Callable[[HttpRequest, Any], list[dict[str, str]]]] = {}


def register_version_panel(
    name: str, *, order: int, template: str, context: Callable[[HttpRequest, Any], dict[str, Any] | None]
) -> None:
    """`context` returns the panel's template context, or None to hide it (e.g. no permission)."""
    _VERSION_PANELS[name] = (order, template, context)


def version_panels(request: HttpRequest, version: Any) -> list[dict[str, Any]]:
    """Each panel rendered with its own context (plus `version` and `request`)."""
    from django.template.loader import render_to_string

    panels = []
    for name, (_order, template, context_fn) in sorted(_VERSION_PANELS.items(), key=lambda kv: kv[1][0]):
        ctx = context_fn(request, version)
        if ctx is not None:
            html = render_to_string(template, {"version": version, **ctx}, request=request)
            panels.append({"name": name, "html": html})
    return panels


def register_application_links(name: str, func: Callable[[HttpRequest, Any], list[dict[str, str]]]) -> None:
    _APPLICATION_LINKS[name] = func


def application_links(request: HttpRequest, application: Any) -> list[dict[str, str]]:
    links: list[dict[str, str]] = []
    for func in _APPLICATION_LINKS.values():
        links.extend(func(request, application))
    return links
