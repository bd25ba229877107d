"""Legal review pages. One view, two renderings: the full page, or its partial for htmx (STYLE.md §6)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views import View

from core.htmx import render_form_errors
from core.http import HtmxHttpRequest
from core.permissions import PermissionMixin, has_perm, organization_scope, require
from core.views import audit_trail, paginate, partial_template
from inventory.models import Application, ApplicationModel, ModelVersion
from licenses import filtersets, forms, services
from licenses.choices import AnalysisState
from licenses.models import License, LicenseAnalysis, LicenseConclusion, LicenseEvidence, Obligation


# --- queue ---------------------------------------------------------------------------------------
class QueueView(PermissionMixin, View):
    """Versions to review (unknown, other, conflict, AI-restricted/NC, unfit), riskiest first."""

    permission_required = "licenses.view_licenseanalysis"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        params = request.GET.copy()
        if "needs_review" not in params:
            params["needs_review"] = "true"
        qs = (
            LicenseAnalysis.objects.restrict(request.user)
            .filter(version__model__is_placeholder=False)
            .select_related("version__model")
            .riskiest_first()
        )
        filterset = filtersets.LicenseAnalysisFilterSet(params, queryset=qs, request=request)
        page = paginate(request, filterset.qs)
        _hide_unseen_applications(request.user, page.object_list)
        context = {"filterset": filterset, "page": page, "analyses": page.object_list}
        return render(request, partial_template(request, "licenses/queue.html", "results"), context)


def _hide_unseen_applications(user: Any, analyses: Any) -> None:
    """`unfit_applications` names every application using the version; a membership role sees its own only."""
    if organization_scope(user, "inventory.view_application") is None:
        return
    names = set(Application.objects.restrict(user).values_list("name", flat=True))
    for a in analyses:
        a.unfit_applications = [u for u in a.unfit_applications if u in names or u.split(": ", 1)[0] in names]


# --- review --------------------------------------------------------------------------------------
def _review_context(request: HtmxHttpRequest, version: ModelVersion) -> dict[str, Any]:
    analysis = LicenseAnalysis.objects.filter(version=version).first()
    evidence = list(analysis.evidence.all()) if analysis else []
    usages = list(
        ApplicationModel.objects.filter(
            version=version, application__in=Application.objects.restrict(request.user)
        ).select_related("application__organization")
    )
    fits = services.use_fit_many([(version.pk, u.application) for u in usages]) if analysis else {}
    catalog = services.engine_catalog()
    clause_rows = []
    if analysis:
        for term in analysis.obligations:
            sources = [lid for lid in analysis.effective_ids if term in catalog.terms(lid)]
            quotes = [
                (lid, o.clause, o.quote) for lid in sources for o in catalog.licenses[lid].obligations if o.term == term
            ]
            clause_rows.append({"term": term, "quotes": quotes})
    facts = services.license_facts([version.pk])[version.pk]
    return {
        "version": version,
        "analysis": analysis,
        "declared_evidence": analysis.summary if analysis else {},
        "observed": evidence,
        "inherited": analysis.inherited if analysis else [],
        "obligation_rows": clause_rows,
        "fits": [(u.application, *fits.get((version.pk, u.application_id), (True, []))) for u in usages],
        "facts": facts,
        "conclusions": LicenseConclusion.objects.restrict(request.user)
        .filter(version=version)
        .select_related("application", "organization", "created_by"),
        "current": services.current_conclusion(version.pk),
        "revoke_error": "",
        "form": forms.ConclusionForm(user=request.user),
        "can_conclude": has_perm(request.user, "licenses.conclude_license"),
        "events": audit_trail(request, version, action_prefix="license"),
    }


class ReviewView(PermissionMixin, View):
    permission_required = "licenses.view_licenseanalysis"

    def get(self, request: HtmxHttpRequest, version_id: int) -> HttpResponse:
        version = get_object_or_404(ModelVersion.objects.restrict(request.user).select_related("model"), pk=version_id)
        context = _review_context(request, version)
        return render(request, partial_template(request, "licenses/review.html", "state"), context)


class AnalyseView(PermissionMixin, View):
    """Re-run the analysis (queued; the review page polls the state partial while it runs)."""

    permission_required = "licenses.conclude_license"

    def post(self, request: HtmxHttpRequest, version_id: int) -> HttpResponse:
        version = get_object_or_404(ModelVersion.objects.restrict(request.user), pk=version_id)
        services.enqueue_analysis(version_id=version.pk)
        messages.info(request, "License analysis queued.")
        return HttpResponseRedirect(reverse("licenses:review", args=[version.pk]))


class ConcludeView(PermissionMixin, View):
    permission_required = "licenses.conclude_license"

    def post(self, request: HtmxHttpRequest, version_id: int) -> HttpResponse:
        version = get_object_or_404(ModelVersion.objects.restrict(request.user).select_related("model"), pk=version_id)
        form = forms.ConclusionForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                services.conclude_license(
                    actor=request.user,
                    version=version,
                    status=form.cleaned_data["status"],
                    license_expression=form.cleaned_data["license_expression"],
                    comment=form.cleaned_data["comment"],
                    application=form.cleaned_data["application"],
                    organization=form.cleaned_data["organization"],
                )
            except services.ConclusionError as exc:
                form.add_error("license_expression" if form.cleaned_data["license_expression"] else None, str(exc))
        if form.errors:
            context = {**_review_context(request, version), "form": form}
            return render_form_errors(request, "licenses/review.html", context, partial="conclusions")
        if request.htmx:
            response = render(request, "licenses/review.html#conclusions", _review_context(request, version))
            response["HX-Trigger"] = "license-concluded"
            return response
        messages.success(request, "Conclusion recorded.")
        return HttpResponseRedirect(reverse("licenses:review", args=[version.pk]))


class CarryRevokeView(PermissionMixin, View):
    """Withdraw a carried-forward conclusion (with a reason): the version goes back to the legal queue."""

    permission_required = "licenses.conclude_license"

    def post(self, request: HtmxHttpRequest, version_id: int) -> HttpResponse:
        version = get_object_or_404(ModelVersion.objects.restrict(request.user).select_related("model"), pk=version_id)
        try:
            services.revoke_carried_conclusion(
                actor=request.user, version=version, reason=request.POST.get("reason", "")
            )
        except services.CarryForwardError as exc:
            context = {**_review_context(request, version), "revoke_error": str(exc)}
            return render_form_errors(request, "licenses/review.html", context, partial="conclusions")
        if request.htmx:
            response = render(request, "licenses/review.html#conclusions", _review_context(request, version))
            response["HX-Trigger"] = '{"toast": {"level": "success", "message": "Carried-forward conclusion revoked."}}'
            return response
        messages.success(request, "Carried-forward conclusion revoked: the version is back in the legal queue.")
        return HttpResponseRedirect(reverse("licenses:review", args=[version.pk]))


class EvidenceView(PermissionMixin, View):
    """The file as stored at analysis time, matched lines highlighted (untrusted text, escaped)."""

    permission_required = "licenses.view_licenseanalysis"

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        evidence = get_object_or_404(
            LicenseEvidence.objects.select_related("analysis__version__model"),
            pk=pk,
            analysis__version__in=ModelVersion.objects.restrict(request.user),
        )
        return render(request, partial_template(request, "licenses/evidence.html", "lines"), {"evidence": evidence})


# --- catalog -------------------------------------------------------------------------------------
class LicenseListView(PermissionMixin, View):
    permission_required = "licenses.view_license"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        qs = (
            License.objects.restrict(request.user)
            .select_related("component_of")
            .prefetch_related("license_obligations__obligation")
        )
        filterset = filtersets.LicenseFilterSet(request.GET, queryset=qs, request=request)
        page = paginate(request, filterset.qs)
        context = {"filterset": filterset, "page": page, "licenses": page.object_list}
        return render(request, partial_template(request, "licenses/license_list.html", "results"), context)


class LicenseDetailView(PermissionMixin, View):
    permission_required = "licenses.view_license"

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        lic = get_object_or_404(License.objects.restrict(request.user), pk=pk)
        context = {
            "license": lic,
            "obligations": lic.license_obligations.select_related("obligation"),
            "variants": lic.variants.all(),
            "components": lic.components.all(),
            "ob_form": forms.LicenseObligationForm(),
            "can_edit": has_perm(request.user, "licenses.change_license"),
            "events": audit_trail(request, lic),
        }
        return render(request, partial_template(request, "licenses/license_detail.html", "obligations"), context)


class LicenseEditView(PermissionMixin, View):
    permission_required = "licenses.view_license"

    def _license(self, request: HtmxHttpRequest, pk: int | None) -> License | None:
        require(request.user, "licenses.change_license" if pk else "licenses.add_license")
        return get_object_or_404(License.objects.restrict(request.user), pk=pk) if pk else None

    def get(self, request: HtmxHttpRequest, pk: int | None = None) -> HttpResponse:
        lic = self._license(request, pk)
        return render(request, "licenses/license_form.html", {"form": forms.LicenseForm(instance=lic), "license": lic})

    def post(self, request: HtmxHttpRequest, pk: int | None = None) -> HttpResponse:
        lic = self._license(request, pk)
        form = forms.LicenseForm(request.POST, instance=License.objects.get(pk=lic.pk) if lic else None)
        if form.is_valid():
            data = {f: form.cleaned_data[f] for f in form.Meta.fields}
            try:
                saved = services.save_license(
                    actor=request.user, data=data, license=lic, reason=form.cleaned_data["reason"]
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"{saved.key} saved; versions are being re-analysed.")
                return HttpResponseRedirect(saved.get_absolute_url())
        return render(request, "licenses/license_form.html", {"form": form, "license": lic}, status=422)


class LicenseObligationView(PermissionMixin, View):
    permission_required = "licenses.change_license"

    def post(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        lic = get_object_or_404(License.objects.restrict(request.user), pk=pk)
        form = forms.LicenseObligationForm(request.POST)
        if form.is_valid():
            services.save_license_obligation(
                actor=request.user,
                license=lic,
                term=form.cleaned_data["term"],
                clause=form.cleaned_data["clause"],
                quote=form.cleaned_data["quote"],
                remove=form.cleaned_data["remove"],
            )
            messages.success(request, "Obligations updated.")
        else:
            messages.error(request, "Give an obligation term.")
        if request.htmx:
            return LicenseDetailView().get(request, pk=pk)
        return HttpResponseRedirect(lic.get_absolute_url())


class ObligationListView(PermissionMixin, View):
    permission_required = "licenses.view_obligation"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        qs = Obligation.objects.restrict(request.user).prefetch_related("license_obligations__license")
        filterset = filtersets.ObligationFilterSet(request.GET, queryset=qs, request=request)
        context = {
            "filterset": filterset,
            "obligations": filterset.qs,
            "form": forms.ObligationForm(),
            "can_add": has_perm(request.user, "licenses.add_obligation"),
            "can_edit": has_perm(request.user, "licenses.change_obligation"),
        }
        return render(request, partial_template(request, "licenses/obligation_list.html", "results"), context)

    def post(self, request: HtmxHttpRequest) -> HttpResponse:
        pk = request.POST.get("pk")
        obligation = get_object_or_404(Obligation.objects.restrict(request.user), pk=pk) if pk else None
        form = forms.ObligationForm(
            request.POST, instance=Obligation.objects.get(pk=obligation.pk) if obligation else None
        )
        if form.is_valid():
            services.save_obligation(
                actor=request.user,
                term=form.cleaned_data["term"],
                meaning=form.cleaned_data["meaning"],
                obligation=obligation,
            )
            messages.success(request, f"Obligation {form.cleaned_data['term']} saved.")
        else:
            messages.error(request, "; ".join(str(e) for errs in form.errors.values() for e in errs))
        return HttpResponseRedirect(reverse("licenses:obligation_list"))


# --- per application -----------------------------------------------------------------------------
class ChecklistView(PermissionMixin, View):
    permission_required = "licenses.view_licenseanalysis"

    def _app(self, request: HtmxHttpRequest, app_id: int) -> Application:
        return get_object_or_404(Application.objects.restrict(request.user).select_related("organization"), pk=app_id)

    def get(self, request: HtmxHttpRequest, app_id: int) -> HttpResponse:
        app = self._app(request, app_id)
        context = {
            "application": app,
            "rows": services.obligation_checklist(app),
            "status_choices": forms.ChecklistStatus.choices,
            "users": forms.get_user_model().objects.filter(is_active=True).order_by("username"),
            "can_edit": has_perm(request.user, "licenses.change_obligationstatus"),
        }
        return render(request, partial_template(request, "licenses/checklist.html", "rows"), context)

    def post(self, request: HtmxHttpRequest, app_id: int) -> HttpResponse:
        require(request.user, "licenses.change_obligationstatus")
        app = self._app(request, app_id)
        form = forms.ChecklistForm(request.POST)
        if form.is_valid():
            version = get_object_or_404(
                ModelVersion.objects.restrict(request.user), pk=form.cleaned_data["version"], usages__application=app
            )
            services.set_obligation_status(
                actor=request.user,
                application=app,
                version=version,
                term=form.cleaned_data["term"],
                status=form.cleaned_data["status"],
                owner=form.cleaned_data["owner"],
                note=form.cleaned_data["note"],
            )
            if not request.htmx:
                messages.success(request, "Checklist updated.")
        elif not request.htmx:
            messages.error(request, "Invalid checklist entry.")
        if request.htmx:
            return self.get(request, app_id)
        return HttpResponseRedirect(reverse("licenses:checklist", args=[app.pk]))


class AttributionView(PermissionMixin, View):
    permission_required = "licenses.view_licenseanalysis"

    def get(self, request: HtmxHttpRequest, app_id: int) -> HttpResponse:
        app = get_object_or_404(Application.objects.restrict(request.user), pk=app_id)
        entries = services.attribution_report(app)
        texts: dict[str, License] = {}
        for e in entries:
            for lic in e.licenses:
                texts.setdefault(lic.key, lic)
        return render(request, "licenses/attribution.html", {"application": app, "entries": entries, "texts": texts})


class AttributionNoticeView(PermissionMixin, View):
    permission_required = "licenses.view_licenseanalysis"

    def get(self, request: HtmxHttpRequest, app_id: int) -> HttpResponse:
        app = get_object_or_404(Application.objects.restrict(request.user), pk=app_id)
        body = services.notice_text(app, services.attribution_report(app))
        response = HttpResponse(body, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="NOTICE-{app.slug}.txt"'
        return response


# --- extension points for inventory pages --------------------------------------------------------
def version_panel_context(request: HttpRequest, version: ModelVersion) -> dict[str, Any] | None:
    if not has_perm(request.user, "licenses.view_licenseanalysis"):
        return None
    analysis = LicenseAnalysis.objects.filter(version=version).first()
    return {"analysis": analysis, "active": bool(analysis and analysis.state in AnalysisState.active())}


def application_links(request: HttpRequest, application: Application) -> list[dict[str, str]]:
    if not has_perm(request.user, "licenses.view_licenseanalysis"):
        return []
    return [
        {"label": "License obligations", "url": reverse("licenses:checklist", args=[application.pk])},
        {"label": "Attribution report", "url": reverse("licenses:attribution", args=[application.pk])},
    ]
