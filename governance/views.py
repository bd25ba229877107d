"""Pages of the governance app: home, the risk overview, the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from governance.models import AuditEvent
from governance.permissions import PermissionMixin, has_perm


class HomeView(View):
    """Send each role where its work is: managers to the overview, reviewers to the inventory."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if has_perm(request.user, "governance.view_overview"):
            return redirect("governance:overview")
        if has_perm(request.user, "inventory.view_model"):
            return redirect("inventory:model_list")
        return render(request, "governance/no_role.html", status=403)


class OverviewView(PermissionMixin, View):
    permission_required = "governance.view_overview"

    def get(self, request: HttpRequest) -> HttpResponse:
        from governance.overview import overview_context

        return render(request, "governance/overview.html", overview_context(request))


class AuditEventListView(PermissionMixin, View):
    permission_required = "governance.view_auditevent"
    paginate_by = 50

    def get(self, request: HttpRequest) -> HttpResponse:
        qs = AuditEvent.objects.restrict(request.user).select_related("target_type")
        action = request.GET.get("action", "").strip()
        actor = request.GET.get("actor", "").strip()
        target_type = request.GET.get("type", "").strip()
        target_id = request.GET.get("id", "").strip()
        if action:
            qs = qs.filter(action__startswith=action)
        if actor:
            qs = qs.filter(actor_repr=actor)
        if target_type and "." in target_type:
            app_label, model = target_type.split(".", 1)
            qs = qs.filter(target_type__app_label=app_label, target_type__model=model)
            if target_id:
                qs = qs.filter(target_id=target_id)
        page = Paginator(qs, self.paginate_by).get_page(request.GET.get("page"))
        context: dict[str, Any] = {
            "page": page,
            "events": page.object_list,
            "filters": {"action": action, "actor": actor, "type": target_type, "id": target_id},
            "types": ContentType.objects.filter(
                pk__in=AuditEvent.objects.values("target_type").distinct()
            ).order_by("app_label", "model"),
        }
        template = "governance/auditevent_list.html"
        if request.htmx and not request.htmx.boosted:
            template += "#results"
        return render(request, template, context)
