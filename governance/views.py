"""Pages of the governance app: home, the risk overview, the audit log."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views import View

from core.choices import Band
from core.http import HtmxHttpRequest
from core.models import AuditEvent
from core.pagecache import cached_page
from core.permissions import PermissionMixin, has_perm, require
from core.views import paginate
from governance import notifications, work
from governance import overview as ov
from governance.models import NotificationEvent, Webhook, WebhookDelivery
from inventory.choices import NO_APPLICATION
from inventory.models import Application, ModelVersion
from licenses.choices import ThreatGroup


class HomeView(View):
    """Send each role where its work is: "my work" when the role has a queue, else the overview."""

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        if work.sections_for(request.user):
            return redirect("governance:work")
        if has_perm(request.user, "governance.view_overview"):
            return redirect("governance:overview")
        if has_perm(request.user, "inventory.view_model"):
            return redirect("inventory:model_list")
        return render(request, "governance/no_role.html", status=403)


class WorkView(View):
    """ "My work": per permission, what waits for this user (count, first rows, link to the full list).

    The post-login page. A role without any queue (managers) is sent on to the risk overview.
    """

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        sections = work.sections_for(request.user)
        if not sections:
            if has_perm(request.user, "governance.view_overview"):
                return redirect("governance:overview")
            if has_perm(request.user, "inventory.view_model"):
                return redirect("inventory:model_list")
            return render(request, "governance/no_role.html", status=403)
        return render(
            request,
            "governance/work.html",
            {
                "sections": sections,
                "total": sum(s.count for s in sections),
                "can_overview": has_perm(request.user, "governance.view_overview"),
            },
        )


def _violations_url() -> str:
    try:
        return reverse("policies:violation_list")
    except NoReverseMatch:
        return ""


def overview_context(request: HttpRequest) -> dict[str, Any]:
    figures = ov.overview_figures(
        request.user, organization=request.GET.get("organization"), application=request.GET.get("application")
    )
    violations_url = _violations_url()
    scope_params = figures.scope.params()

    def drill(**params: Any) -> str:
        if not violations_url:
            return ""
        return f"{violations_url}?{urlencode({**scope_params, **params})}"

    trend_chart = ov.line_chart(figures.trend)
    trend_dots, trend_rows = _trend_markup(trend_chart)
    band_labels = dict(Band.choices)
    return {
        "figures": figures,
        "scope": figures.scope,
        "violations_url": violations_url,
        "band_labels": band_labels,
        "open_url": drill(state="open"),
        "export_query": f"?{urlencode(scope_params)}" if scope_params else "",
        "band_chart": ov.bar_chart(
            [
                {
                    "label": band_labels[b],
                    "value": figures.by_band[b].risk,
                    "count": figures.by_band[b].count,
                    "css": f"bar-{b}",
                    "href": drill(band=b),
                }
                for b in ov.BANDS
            ]
        ),
        "category_chart": ov.bar_chart(
            [
                {
                    "label": c.title(),
                    "value": figures.by_category[c].risk,
                    "count": figures.by_category[c].count,
                    "css": f"bar-{c}",
                    "href": drill(category=c),
                }
                for c in ov.CATEGORIES
            ]
        ),
        "mttr_chart": ov.bar_chart(
            [
                {
                    "label": band_labels[b],
                    "value": figures.mttr[b]["hours"] or 0,
                    "css": f"bar-{b}",
                    "display": "—" if figures.mttr[b]["hours"] is None else "",  # nothing resolved: no mean
                }
                for b in ov.BANDS
            ],
            unit=" h",
        ),
        "license_chart": ov.bar_chart(
            [
                {
                    "label": dict(ThreatGroup.choices).get(r["group"], r["group"]),
                    "value": r["count"],
                    "css": f"bar-lic-{r['group']}",
                }
                for r in figures.licenses
            ],
            label_width=130,
        ),
        "trend_chart": trend_chart,
        "trend_dots": trend_dots,
        "trend_rows": trend_rows,
        "organization_options": _options(figures.scope.organizations, figures.scope.organization),
        "application_options": _options(figures.scope.applications, figures.scope.application),
        "matrix_rows": [
            (b, [(c, figures.matrix[b][c], drill(band=b, category=c)) for c in ov.CATEGORIES]) for b in ov.BANDS
        ],
        "categories": ov.CATEGORIES,
        "org_rows": [
            {
                **o,
                "name": o["name"] if o["id"] else NO_APPLICATION,  # the inventory is not an organization
                "href": f"?{urlencode({'organization': o['id']})}" if o["id"] else "",
                "violations": drill(root="true") if o["id"] is None else drill(organization=o["id"]),
            }
            for o in figures.organizations
        ],
        "app_rows": [
            {
                **a,
                "href": f"?{urlencode({'organization': a['organization_id'], 'application': a['id']})}",
                "violations": drill(application=a["id"]),
            }
            for a in figures.applications
        ],
        "model_rows": [{**m, "violations": drill(model=m["id"])} for m in figures.models],
    }


def _options(rows: list[dict[str, Any]], selected: dict[str, Any] | None) -> str:
    """`<option>`s built in Python: hundreds of applications render ~10× faster than a template loop."""
    chosen = selected["id"] if selected else None
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((r["id"], " selected" if r["id"] == chosen else "", r["name"]) for r in rows),
    )


def _trend_markup(chart: dict[str, Any]) -> tuple[str, str]:
    """The trend's SVG dots and its table rows (90 of each), built in Python for the same reason."""
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="2.5" class="trend-dot"><title>{}: {}</title></circle>',
        ((p["x"], p["y"], p["day"].isoformat(), p["risk"]) for p in chart["points"]),
    )
    rows = format_html_join(
        "",
        '<tr><td>{}{}</td><td class="right">{}</td></tr>',
        (
            (p["day"].isoformat(), mark_safe(' <span class="muted">(now)</span>') if p.get("live") else "", p["risk"])
            for p in reversed(chart["points"])
        ),
    )
    return dots, rows


class OverviewView(PermissionMixin, View):
    """The managers' home page. htmx requests (the filter form) get only the figures."""

    permission_required = "governance.view_overview"

    @method_decorator(cached_page)
    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        template = "governance/overview.html"
        if request.htmx and not request.htmx.boosted:
            template += "#figures"
        return render(request, template, overview_context(request))


class AuditEventListView(PermissionMixin, View):
    permission_required = "core.view_auditevent"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
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
        page = paginate(request, qs)
        context: dict[str, Any] = {
            "page": page,
            "events": page.object_list,
            "filters": {"action": action, "actor": actor, "type": target_type, "id": target_id},
            "types": ContentType.objects.filter(pk__in=AuditEvent.objects.values("target_type").distinct()).order_by(
                "app_label", "model"
            ),
        }
        template = "governance/auditevent_list.html"
        if request.htmx and not request.htmx.boosted:
            template += "#results"
        return render(request, template, context)


class NotificationPreferencesView(View):
    """Each user chooses which events they get by email, and the daily digest."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not notifications.can_receive(request.user):
            raise PermissionDenied("Your role receives no notifications.")
        return super().dispatch(request, *args, **kwargs)

    def _context(self, request: HttpRequest) -> dict[str, Any]:
        from governance.models import NotificationEvent, Webhook

        prefs = notifications.preferences_of(request.user)
        allowed = set(notifications.events_for(request.user))
        return {
            "events": [
                {"value": e.value, "label": e.label, "checked": e.value in prefs.email_events}
                for e in NotificationEvent
                if e.value in allowed
            ],
            "prefs": prefs,
            "can_digest": has_perm(request.user, notifications.DIGEST_PERM),
            "has_email": bool(getattr(request.user, "email", "")),
            "webhooks": Webhook.objects.restrict(request.user).order_by("name")[:50],
            "can_manage_webhooks": has_perm(request.user, "governance.view_webhook"),
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "governance/notification_preferences.html", self._context(request))

    def post(self, request: HtmxHttpRequest) -> HttpResponseBase:
        notifications.set_preferences(
            user=request.user,
            email_events=request.POST.getlist("email_events"),
            daily_digest=bool(request.POST.get("daily_digest")),
        )
        if request.htmx:
            response = render(request, "governance/notification_preferences.html#form", self._context(request))
            response["HX-Trigger"] = '{"toast": {"level": "success", "message": "Preferences saved."}}'
            return response
        messages.success(request, "Preferences saved.")
        return redirect("governance:notification_preferences")


class VersionBomView(PermissionMixin, View):
    """Download the CycloneDX 1.6 ML-BOM of a version."""

    permission_required = "inventory.view_modelversion"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        from governance import bom

        version = get_object_or_404(ModelVersion.objects.restrict(request.user).select_related("model"), pk=pk)
        data = bom.version_bom(version, with_violations=bom.sees_root_context(request.user))
        return _json_download(data, bom.filename(f"{version.model.repo_id}@{version.commit}"))


class ApplicationBomView(PermissionMixin, View):
    """Download the CycloneDX 1.6 ML-BOM of an application (every version it uses)."""

    permission_required = "inventory.view_application"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        from governance import bom

        app = get_object_or_404(Application.objects.restrict(request.user).select_related("organization"), pk=pk)
        return _json_download(bom.application_bom(app), bom.filename(app.slug))


def _json_download(data: dict[str, Any], filename: str) -> HttpResponse:
    response = HttpResponse(json.dumps(data, indent=2), content_type="application/vnd.cyclonedx+json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ViolationExportView(PermissionMixin, View):
    """CSV of the violations, with the violations list's filters (streamed)."""

    permission_required = "policies.view_violation"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        from governance import exports

        return exports.violations_response(request.user, request.GET)


class WaiverExportView(PermissionMixin, View):
    """CSV of the waivers, with the waiver list's filters (streamed)."""

    permission_required = "policies.view_waiver"

    def get(self, request: HttpRequest) -> HttpResponseBase:
        from governance import exports

        return exports.waivers_response(request.user, request.GET)


class WebhookForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=NotificationEvent.choices, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )  # fmt: skip

    class Meta:
        model = Webhook
        fields = ["name", "url", "events", "active"]

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        if not url.lower().startswith(("http://", "https://")):
            raise forms.ValidationError("Only http(s) URLs.")
        notifications.check_webhook_url(url)
        return url


class WebhookListView(PermissionMixin, View):
    """Administrators: the webhooks, their recent deliveries, a form to add one (its secret is shown once)."""

    permission_required = "governance.view_webhook"

    def _render(self, request: HttpRequest, form: WebhookForm, secret: str = "", status: int = 200) -> HttpResponse:
        context = {
            "webhooks": Webhook.objects.restrict(request.user).order_by("name", "id"),
            "deliveries": WebhookDelivery.objects.restrict(request.user)
            .select_related("webhook")
            .order_by("-created_at", "-id")[:25],
            "form": form,
            "secret": secret,
            "can_add": has_perm(request.user, "governance.add_webhook"),
            "can_delete": has_perm(request.user, "governance.delete_webhook"),
        }
        return render(request, "governance/webhook_list.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, WebhookForm())

    def post(self, request: HttpRequest) -> HttpResponseBase:
        if "delete" in request.POST:
            require(request.user, "governance.delete_webhook")
            hook = get_object_or_404(Webhook.objects.restrict(request.user, "delete"), pk=request.POST["delete"])
            notifications.delete_webhook(user=request.user, webhook=hook)
            messages.success(request, "Webhook deleted.")
            return redirect("governance:webhook_list")
        require(request.user, "governance.add_webhook")
        form = WebhookForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        hook = notifications.create_webhook(
            user=request.user,
            name=form.cleaned_data["name"],
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            active=form.cleaned_data["active"],
        )
        return self._render(request, WebhookForm(), secret=hook.secret, status=201)
