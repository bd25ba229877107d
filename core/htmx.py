"""One error convention for every form, htmx or not.

An invalid submission answers 422 with the form rendered again, its errors in place:

- htmx requests get the fragment (``template#partial``); ``<meta name="htmx-config">`` in base.html
  tells htmx 2 to swap 422 responses (it does not swap 4xx by default). ``target``/``swap`` set
  ``HX-Retarget``/``HX-Reswap`` when the fragment belongs somewhere other than the request's target.
- Other requests (JavaScript off, plain forms) get the full page.
- Django marks invalid fields ``aria-invalid`` and points ``aria-describedby`` at their error list;
  ``templates/_form_errors.html`` announces the errors (``role="alert"``); the first invalid field gets
  ``autofocus``, which browsers honour on page load and htmx honours after a swap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

UNPROCESSABLE = 422


def is_htmx_fragment(request: HttpRequest) -> bool:
    """An htmx request that wants a fragment (boosted navigations want whole pages)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not bool(getattr(htmx, "boosted", False))


def focus_first_error(form: forms.BaseForm) -> str | None:
    """Put ``autofocus`` on the first invalid field (in field order); return its name."""
    if not form.is_bound or not form.errors:
        return None
    for name, field in form.fields.items():
        if name in form.errors and not field.widget.is_hidden:
            field.widget.attrs["autofocus"] = True
            return name
    return None


def render_form_errors(
    request: HttpRequest,
    template: str,
    context: Mapping[str, Any],
    *,
    form: forms.BaseForm | None = None,
    partial: str | None = None,
    target: str | None = None,
    swap: str | None = None,
) -> HttpResponse:
    """Render an invalid form with status 422 (fragment for htmx, full page otherwise)."""
    form = form if form is not None else context.get("form")
    if isinstance(form, forms.BaseForm):
        focus_first_error(form)
    fragment = is_htmx_fragment(request)
    name = f"{template}#{partial}" if fragment and partial else template
    response = render(request, name, dict(context), status=UNPROCESSABLE)
    if fragment:
        if target:
            response["HX-Retarget"] = target
        if swap:
            response["HX-Reswap"] = swap
    return response
