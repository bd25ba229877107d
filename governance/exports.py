"""CSV exports of violations and waivers, streamed, filtered by the lists' own FilterSets.

Rows are read with `values_list(...).iterator()` so 200,000 violations stream in constant memory.
Cells that a spreadsheet would read as a formula are prefixed with an apostrophe (CSV injection).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.http import QueryDict, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from core.choices import Band
from inventory.choices import NO_APPLICATION
from policies.filtersets import ViolationFilterSet, WaiverFilterSet
from policies.models import Violation, Waiver

VIOLATION_COLUMNS = [
    "id", "state", "policy", "threat_level", "band", "category", "model", "commit", "application", "organization",
    "first_seen_at", "opened_at", "resolved_at", "waiver_id", "release_action", "url",
]  # fmt: skip
WAIVER_COLUMNS = [
    "id", "state", "policy", "threat_level", "category", "scope", "model", "commit", "owner", "owner_name", "reason",
    "comment", "requested_by", "requested_at", "decided_by", "decided_at", "expires_at", "url",
]  # fmt: skip
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(v) for v in row])


def _response(lines: Iterator[str], name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response


def filtered_violations(user: Any, params: QueryDict | dict[str, Any]) -> Any:

    fs = ViolationFilterSet(params, queryset=Violation.objects.restrict(user))
    return fs.qs if fs.is_valid() else Violation.objects.none()


def filtered_waivers(user: Any, params: QueryDict | dict[str, Any]) -> Any:

    fs = WaiverFilterSet(params, queryset=Waiver.objects.restrict(user))
    return fs.qs if fs.is_valid() else Waiver.objects.none()


def _url_pattern(name: str) -> str:
    """`https://site/policies/violations/{}/` — reversed once, formatted per row."""
    marker = 987654321
    return settings.MODELGATE_SITE_URL.rstrip("/") + reverse(name, args=[marker]).replace(str(marker), "{}")


def violation_rows(qs: Any) -> Iterator[list[Any]]:
    url = _url_pattern("policies:violation_detail")
    fields = ("id", "state", "policy__name", "policy__threat_level", "policy__category", "version__model__repo_id",
              "version__commit", "application__name", "application__organization__name", "first_seen_at",
              "opened_at", "resolved_at", "waiver_id", "policy__action_release")  # fmt: skip
    for row in qs.order_by("id").values_list(*fields).iterator(chunk_size=2000):
        (pk, state, policy, level, category, repo, commit, app, org, first, opened, resolved, waiver, action) = row
        band = Band.of(level).value
        yield [pk, state, policy, level, band, category, repo, commit, app or NO_APPLICATION, org or "", first, opened,
               resolved, waiver, action, url.format(pk)]  # fmt: skip


def waiver_rows(qs: Any) -> Iterator[list[Any]]:
    url = _url_pattern("policies:waiver_detail")
    fields = ("id", "state", "policy__name", "policy__threat_level", "policy__category", "scope",
              "version__model__repo_id", "model__repo_id", "version__commit", "owner", "application__name",
              "organization__name", "reason__name", "comment", "requested_by__username", "requested_at",
              "decided_by__username", "decided_at", "expires_at")  # fmt: skip
    for row in qs.order_by("id").values_list(*fields).iterator(chunk_size=2000):
        (pk, state, policy, level, category, scope, v_repo, m_repo, commit, owner, app, org, reason, comment,
         requested_by, requested_at, decided_by, decided_at, expires_at) = row  # fmt: skip
        yield [pk, state, policy, level, category, scope, v_repo or m_repo or "", commit or "", owner, app or org or "",
               reason, comment, requested_by, requested_at, decided_by, decided_at, expires_at,
               url.format(pk)]  # fmt: skip


def violations_response(user: Any, params: QueryDict | dict[str, Any]) -> StreamingHttpResponse:
    return _response(csv_lines(VIOLATION_COLUMNS, violation_rows(filtered_violations(user, params))), "violations")


def waivers_response(user: Any, params: QueryDict | dict[str, Any]) -> StreamingHttpResponse:
    return _response(csv_lines(WAIVER_COLUMNS, waiver_rows(filtered_waivers(user, params))), "waivers")
