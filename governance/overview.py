"""Figures of the org-wide risk overview (extended by the dashboard issue)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from inventory.models import Application, ImportJob, Model, ModelVersion, Organization


def overview_context(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    versions = ModelVersion.objects.restrict(user)
    return {
        "counts": {
            "organizations": Organization.objects.restrict(user).count(),
            "applications": Application.objects.restrict(user).count(),
            "models": Model.objects.restrict(user).real().count(),
            "versions": versions.count(),
            "pending_review": versions.filter(review_status__in=["pending", "in_review"]).count(),
            "failed_imports": ImportJob.objects.restrict(user).filter(state="failed").count(),
        },
        "recent_versions": versions.select_related("model").order_by("-imported_at")[:10],
    }
