"""Pages of CI tokens and the per-application gate page.

A token's secret is shown once, in the response to the POST that created it (never stored, never
redirected to, `Cache-Control: no-store`); every other page shows only its visible prefix.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views import View

from core.http import HtmxHttpRequest
from core.models import AuditEvent
from core.permissions import PermissionMixin, has_perm, require
from identity import forms, services, snippets
from identity.choices import Capability
from identity.models import CIToken
from inventory.models import Application


def _tokens(request: HttpRequest, application: Application | None = None) -> Any:
    qs = CIToken.objects.restrict(request.user).for_list()
    if application is not None:
        qs = qs.filter(application=application) | qs.filter(organization_id__in=_org_chain(application))
    return qs


def _org_chain(application: Application) -> list[int]:
    org = application.organization
    return [org.pk, *(o.pk for o in org.ancestors())]


def _site_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _gate_context(request: HttpRequest, app: Application, **extra: Any) -> dict[str, Any]:
    usage = app.usages.select_related("version__model").order_by("-added_at").first()
    model = f"{usage.version.model.repo_id}@{usage.version.commit}" if usage else "org/model-name@main"
    data = snippets.GateSnippetInput(site_url=_site_url(request), application=app.slug, model=model)
    form = extra.pop("form", None) or forms.CITokenForm(
        user=request.user, initial={"application": app.pk, "capability": Capability.GATE, "name": f"CI: {app.name}"}
    )
    return {
        "app": app,
        "snippets": [
            {"id": "github", "label": "GitHub Actions", "text": snippets.github_actions(data)},
            {"id": "gitlab", "label": "GitLab CI", "text": snippets.gitlab_ci(data)},
            {"id": "shell", "label": "Shell", "text": snippets.shell(data)},
        ],
        "tokens": _tokens(request, app),
        "form": form,
        "can_add": has_perm(request.user, "identity.add_citoken"),
        "can_revoke": has_perm(request.user, "identity.revoke_citoken"),
        **extra,
    }


class CITokenListView(PermissionMixin, View):
    permission_required = "identity.view_citoken"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        return render(request, "identity/citoken_list.html", self.context(request))

    @staticmethod
    def context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
        return {
            "tokens": _tokens(request),
            "form": extra.pop("form", None) or forms.CITokenForm(user=request.user),
            "can_add": has_perm(request.user, "identity.add_citoken"),
            "can_revoke": has_perm(request.user, "identity.revoke_citoken"),
            "events": AuditEvent.objects.restrict(request.user)
            .filter(action__startswith="citoken.")
            .select_related("actor")[:20],
            **extra,
        }


class CITokenCreateView(PermissionMixin, View):
    """POST only: create, then answer with the page that shows the secret once."""

    permission_required = "identity.add_citoken"

    def post(self, request: HtmxHttpRequest) -> HttpResponse:
        form = forms.CITokenForm(request.POST, user=request.user)
        app_page = _app_page(request)
        created = secret = None
        if form.is_valid():
            d = form.cleaned_data
            try:
                created, secret = services.create_token(
                    user=request.user,
                    name=d["name"],
                    capability=d["capability"],
                    expires_on=d["expires_on"],
                    application=d.get("application"),
                    organization=d.get("organization"),
                )
            except ValidationError as exc:
                form.add_error(None, exc)
        status = 201 if created else 400
        if app_page is not None:
            ctx = _gate_context(request, app_page, form=None if created else form, created=created, secret=secret)
            response = render(request, "identity/application_gate.html", ctx, status=status)
        else:
            ctx = CITokenListView.context(request, form=None if created else form, created=created, secret=secret)
            response = render(request, "identity/citoken_list.html", ctx, status=status)
        add_never_cache_headers(response)
        response["Cache-Control"] += ", no-store"
        return response


def _app_page(request: HttpRequest) -> Application | None:
    """The application whose gate page posted the form (hidden `gate_page` field), if any."""
    raw = request.POST.get("gate_page", "")
    if not raw.isdigit():
        return None
    return get_object_or_404(Application.objects.restrict(request.user), pk=int(raw))


class CITokenRevokeView(PermissionMixin, View):
    permission_required = "identity.revoke_citoken"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        token = get_object_or_404(CIToken.objects.restrict(request.user), pk=pk)
        form = forms.RevokeForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        try:
            services.revoke_token(user=request.user, token=token, reason=reason)
            messages.success(request, f"Token {token} revoked.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        back = request.POST.get("next", "")
        if not back.startswith("/") or back.startswith("//"):
            back = reverse("identity:citoken_list")
        return HttpResponseRedirect(back)


class ApplicationGateView(PermissionMixin, View):
    """Per application: how a pipeline asks the gate, with copyable snippets and its tokens."""

    permission_required = "identity.view_citoken"

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        require(request.user, "inventory.view_application")
        app = get_object_or_404(Application.objects.restrict(request.user).select_related("organization"), pk=pk)
        return render(request, "identity/application_gate.html", _gate_context(request, app))
