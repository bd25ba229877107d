"""Scanning pages. One view, two renderings: the full page, or its partial for htmx (STYLE.md §6).

The version page (inventory) shows the scan panel through `inventory.extensions`; the panel polls
`scanning:version_panel` every second while its run is queued or running, and stops once it is done.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django_htmx.middleware import HtmxDetails

from core.permissions import PermissionMixin, has_perm
from core.views import paginate, partial_template
from inventory.models import Model, ModelVersion
from scanning import filtersets, services
from scanning.choices import ScanState
from scanning.models import Finding, ScanRun

FINDINGS_PAGE_SIZE = 100
PANEL_FINDINGS = 20
PANEL_TEMPLATE = "scanning/_version_panel.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _toast(response: HttpResponse, level: str, message: str, **events: Any) -> HttpResponse:
    response["HX-Trigger"] = json.dumps({"toast": {"level": level, "message": message}, **events})
    return response


# --- scan runs ----------------------------------------------------------------------------


class ScanRunListView(PermissionMixin, View):
    permission_required = "scanning.view_scanrun"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:  # type: ignore[override]
        qs = (
            ScanRun.objects.restrict(request.user)
            .filter(version__in=ModelVersion.objects.restrict(request.user))
            .select_related("version", "version__model", "requested_by")
            .order_by("-created_at", "-id")
        )
        filterset = filtersets.ScanRunFilterSet(request.GET, queryset=qs)
        filterset.form.fields["model"].queryset = Model.objects.restrict(request.user).real()  # type: ignore[attr-defined]
        page = paginate(request, filterset.qs)
        version = None
        if (vid := request.GET.get("version", "")).isdigit():
            version = ModelVersion.objects.restrict(request.user).select_related("model").filter(pk=vid).first()
        return render(
            request,
            partial_template(request, "scanning/scanrun_list.html", "results"),
            {
                "filterset": filterset,
                "page": page,
                "runs": page.object_list,
                "version": version,
                "any_active": any(run.is_active for run in page.object_list),
            },
        )


class ScanRunDetailView(PermissionMixin, View):
    permission_required = "scanning.view_scanrun"

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:  # type: ignore[override]
        run = get_object_or_404(
            ScanRun.objects.restrict(request.user)
            .filter(version__in=ModelVersion.objects.restrict(request.user))
            .select_related("version", "version__model", "requested_by"),
            pk=pk,
        )
        findings_qs = Finding.objects.restrict(request.user).filter(scan_run=run).by_severity()
        filterset = filtersets.FindingFilterSet(request.GET, queryset=findings_qs)
        findings = paginate(request, filterset.qs, size=FINDINGS_PAGE_SIZE)
        context = {
            "run": run,
            "version": run.version,
            "filterset": filterset,
            "page": findings,
            "findings": findings.object_list,
            "file_results": run.file_results.select_related("file").order_by("path"),
            "finding_paths": list(run.findings.order_by("path").values_list("path", flat=True).distinct()),
            "can_scan": has_perm(request.user, "scanning.run_scan"),
        }
        template = "scanning/scanrun_detail.html"
        fragment = request.GET.get("fragment", "")
        if request.htmx and not request.htmx.boosted and fragment == "run":
            response = render(request, f"{template}#run", context)
            if not run.is_active:
                response["HX-Trigger"] = "scanFinished"
            return response
        return render(request, partial_template(request, template, "findings"), context)


# --- the version panel -------------------------------------------------------------------


def version_panel_context(request: HttpRequest, version: ModelVersion) -> dict[str, Any] | None:
    """Context of `scanning/_version_panel.html`, or None (panel hidden) without `scanning.view_scanrun`."""
    if not has_perm(request.user, "scanning.view_scanrun"):
        return None
    runs = ScanRun.objects.restrict(request.user).filter(version=version).order_by("-id")
    run = runs.select_related("requested_by").first()
    shown = run if run is None or run.state == ScanState.SUCCEEDED else runs.filter(state=ScanState.SUCCEEDED).first()
    findings: list[Finding] = []
    if shown is not None and has_perm(request.user, "scanning.view_finding"):
        findings = list(Finding.objects.restrict(request.user).filter(scan_run=shown).by_severity()[:PANEL_FINDINGS])
    return {
        "scan": {
            "version": version,
            "run": run,
            "shown": shown,
            "findings": findings,
            "more_findings": max(0, (shown.finding_count if shown else 0) - len(findings)),
            "outdated": shown is not None and shown.rules_version != services.RULES_VERSION,
            "rules_version": services.RULES_VERSION,
            "can_scan": has_perm(request.user, "scanning.run_scan"),
            "panel_url": reverse("scanning:version_panel", args=[version.pk]),
            "scan_url": reverse("scanning:version_scan", args=[version.pk]),
            "history_url": f"{reverse('scanning:scanrun_list')}?version={version.pk}",
        }
    }


def _render_panel(request: HttpRequest, version: ModelVersion) -> HttpResponse:
    context = version_panel_context(request, version)
    return render(request, PANEL_TEMPLATE, context or {})


class VersionPanelView(PermissionMixin, View):
    """The panel alone: what the version page polls while a scan is active."""

    permission_required = "scanning.view_scanrun"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(ModelVersion.objects.restrict(request.user).select_related("model"), pk=pk)
        response = _render_panel(request, version)
        latest = services.latest_scan(version)
        if latest is not None and not latest.is_active:
            response["HX-Trigger"] = "scanFinished"
        return response


class VersionScanView(PermissionMixin, View):
    """POST: request a (re)scan. htmx gets the updated panel; other clients post/redirect/get."""

    permission_required = "scanning.run_scan"

    def post(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:  # type: ignore[override]
        version = get_object_or_404(ModelVersion.objects.restrict(request.user).select_related("model"), pk=pk)
        try:
            services.request_scan(version=version, user=request.user)
        except services.ScanAlreadyActive as exc:
            level, message = "error", exc.messages[0]
        else:
            level, message = "success", f"Scan of {version} queued."
        if request.htmx:
            latest = services.latest_scan(version)
            events = {"scanFinished": True} if latest is not None and not latest.is_active else {}
            return _toast(_render_panel(request, version), level, message, **events)
        getattr(messages, level)(request, message)
        return redirect(version.get_absolute_url())
