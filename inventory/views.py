"""Inventory pages. One view, two renderings: the full page, or its partial for htmx (STYLE.md §6)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from core.htmx import render_form_errors
from core.http import HtmxHttpRequest
from core.permissions import PermissionMixin, require
from core.urls_safe import safe_next
from core.views import audit_trail, paginate, partial_template
from inventory import diff, filtersets, forms, services
from inventory.models import (
    Application,
    ApplicationModel,
    BaseModelLink,
    Dataset,
    ImportJob,
    Model,
    ModelVersion,
    Organization,
    Watch,
)

# --- models -------------------------------------------------------------------------------


class ModelListView(PermissionMixin, View):
    permission_required = "inventory.view_model"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        qs = (
            Model.objects.restrict(request.user)
            .real()
            .select_related("latest_version")
            .annotate(version_count=Count("versions", distinct=True))
            .order_by("repo_id")
        )
        filterset = filtersets.ModelFilterSet(request.GET, queryset=qs, request=request)
        filterset.form.fields["organization"].queryset = Organization.objects.restrict(request.user)  # type: ignore[attr-defined]
        filterset.form.fields["application"].queryset = Application.objects.restrict(request.user)  # type: ignore[attr-defined]
        page = paginate(request, filterset.qs)
        return render(
            request,
            partial_template(request, "inventory/model_list.html", "results"),
            {"filterset": filterset, "page": page, "models": page.object_list},
        )


class ModelDetailView(PermissionMixin, View):
    permission_required = "inventory.view_model"

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        model = get_object_or_404(Model.objects.restrict(request.user), pk=pk)
        versions = model.versions.select_related("imported_by").annotate(file_count=Count("files"))
        latest = model.latest_version
        bases = (
            BaseModelLink.objects.filter(version=latest).select_related("base", "base__latest_version")
            if latest
            else BaseModelLink.objects.none()
        )
        derived = (
            BaseModelLink.objects.filter(base=model)
            .select_related("version", "version__model")
            .order_by("version__model__repo_id", "-version__imported_at")
        )
        datasets = latest.datasets.all() if latest else Dataset.objects.none()
        context = {
            "model": model,
            "versions": versions,
            "latest": latest,
            "bases": bases,
            "derived": derived,
            "datasets": datasets,
            "watches": Watch.objects.restrict(request.user).filter(model=model),
            "watch_form": forms.WatchForm(),
            "events": audit_trail(request, model),
        }
        return render(request, "inventory/model_detail.html", context)


class VersionDetailView(PermissionMixin, View):
    permission_required = "inventory.view_modelversion"

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(
            ModelVersion.objects.restrict(request.user).select_related("model", "imported_by"), pk=pk
        )
        context = {
            "version": version,
            "model": version.model,
            "files": version.files.all(),
            "bases": version.base_links.select_related("base", "base__latest_version"),
            "datasets": version.datasets.all(),
            "usages": ApplicationModel.objects.restrict(request.user)
            .filter(version=version)
            .select_related("application", "application__organization"),
            "usage_form": forms.UsageForm(user=request.user),
            "previous": diff.previous_version(version, ModelVersion.objects.restrict(request.user)),
            "panels": _version_panels(request, version),
            "events": audit_trail(request, version),
        }
        return render(request, "inventory/version_detail.html", context)


class ModelDiffView(PermissionMixin, View):
    """Two revisions of a model side by side: files, findings, licenses, violations.

    `?from=<rev>&to=<rev>` (commit prefixes); `to` defaults to the latest revision, `from` to the one
    before `to`. A plain GET form with two selects: works without JavaScript.
    """

    permission_required = "inventory.view_modelversion"

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        model = get_object_or_404(Model.objects.restrict(request.user, "view"), pk=pk)
        versions = ModelVersion.objects.restrict(request.user).filter(model=model)
        choices = list(versions.order_by("-imported_at", "-id"))
        errors: list[str] = []
        new = old = None
        to_rev, from_rev = request.GET.get("to", ""), request.GET.get("from", "")
        try:
            new = (
                diff.resolve_revision(model, versions, to_rev, label="to")
                if to_rev
                else (choices[0] if choices else None)
            )
        except diff.RevisionError as exc:
            errors.append(str(exc))
        try:
            if from_rev:
                old = diff.resolve_revision(model, versions, from_rev, label="from")
            elif new is not None:
                old = diff.previous_version(new, versions)
        except diff.RevisionError as exc:
            errors.append(str(exc))
        bad_input = bool(errors)
        if not errors and (old is None or new is None):
            errors.append(f"{model.repo_id} has only one imported revision: nothing to compare it with.")
        if not errors and old is not None and new is not None and old.pk == new.pk:
            errors.append("Pick two different revisions.")
            bad_input = True
        sections = diff.version_diff(request.user, old, new) if not errors and old and new else []
        context = {
            "model": model,
            "choices": choices,
            "old": old,
            "new": new,
            "from_value": old.short_commit if old else from_rev,
            "to_value": new.short_commit if new else to_rev,
            "errors": errors,
            "sections": sections,
        }
        return render(request, "inventory/model_diff.html", context, status=400 if bad_input else 200)


def _version_panels(request: HttpRequest, version: ModelVersion) -> list[dict[str, Any]]:
    """Panels other apps contribute to the version page (scan, licenses, policies)."""
    from inventory.extensions import version_panels

    return version_panels(request, version)


class UsageAddView(PermissionMixin, View):
    permission_required = "inventory.add_applicationmodel"

    def post(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(ModelVersion.objects.restrict(request.user), pk=pk)
        form = forms.UsageForm(request.POST, user=request.user)
        if form.is_valid():
            services.add_usage(
                application=form.cleaned_data["application"],
                version=version,
                user=request.user,
                notes=form.cleaned_data["notes"],
                check=True,
            )
            messages.success(request, f"{form.cleaned_data['application']} now uses {version}.")
        else:
            messages.error(request, "Choose an application.")
        return redirect(version.get_absolute_url())


class UsageRemoveView(PermissionMixin, View):
    permission_required = "inventory.delete_applicationmodel"

    def post(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        usage = get_object_or_404(ApplicationModel.objects.restrict(request.user).select_related("version"), pk=pk)
        target = usage.version.get_absolute_url()
        services.remove_usage(usage=usage, user=request.user)
        messages.success(request, "Usage removed.")
        return redirect(safe_next(request, target))


class WatchAddView(PermissionMixin, View):
    permission_required = "inventory.add_watch"

    def post(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        model = get_object_or_404(Model.objects.restrict(request.user), pk=pk)
        form = forms.WatchForm(request.POST)
        if form.is_valid():
            services.watch_model(model=model, ref=form.cleaned_data["ref"], user=request.user)
            messages.success(request, f"Watching {model}@{form.cleaned_data['ref']}.")
        return redirect(model.get_absolute_url())


class WatchRemoveView(PermissionMixin, View):
    permission_required = "inventory.delete_watch"

    def post(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        watch = get_object_or_404(Watch.objects.restrict(request.user).select_related("model"), pk=pk)
        model = watch.model
        services.unwatch_model(watch=watch, user=request.user)
        messages.success(request, "Watch removed.")
        return redirect(model.get_absolute_url())


# --- imports ------------------------------------------------------------------------------


class ImportView(PermissionMixin, View):
    permission_required = "inventory.import_model"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        initial = {"repo_id": request.GET.get("repo_id", ""), "revision": request.GET.get("revision", "main")}
        return render(
            request, "inventory/import_form.html", {"form": forms.ImportForm(initial=initial, user=request.user)}
        )

    def post(self, request: HtmxHttpRequest) -> HttpResponse:
        form = forms.ImportForm(request.POST, user=request.user)
        if not form.is_valid():
            return render_form_errors(request, "inventory/import_form.html", {"form": form}, partial="form")
        data = form.cleaned_data
        job = services.request_import(
            user=request.user,
            repo_id=data["repo_id"],
            revision=data["revision"] or "main",
            local_path=data["local_path"],
            application=data["application"],
        )
        if request.htmx:
            job.refresh_from_db()
            response = render(request, "inventory/importjob_detail.html#status", {"job": job})
            response["HX-Push-Url"] = job.get_absolute_url()
            return response
        return HttpResponseRedirect(job.get_absolute_url())


class ImportJobListView(PermissionMixin, View):
    permission_required = "inventory.view_importjob"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        qs = ImportJob.objects.restrict(request.user).select_related("requested_by", "version", "application")
        filterset = filtersets.ImportJobFilterSet(request.GET, queryset=qs, request=request)
        page = paginate(request, filterset.qs)
        return render(
            request,
            partial_template(request, "inventory/importjob_list.html", "results"),
            {"filterset": filterset, "page": page, "jobs": page.object_list},
        )


class ImportJobDetailView(PermissionMixin, View):
    permission_required = "inventory.view_importjob"

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        job = get_object_or_404(
            ImportJob.objects.restrict(request.user).select_related("version", "version__model", "requested_by"),
            pk=pk,
        )
        template = "inventory/importjob_detail.html"
        if request.htmx and request.GET.get("fragment") == "status":
            template += "#status"
            response = render(request, template, {"job": job})
            if not job.is_active:
                response["HX-Trigger"] = "importFinished"
            return response
        return render(request, template, {"job": job})


class ImportJobRetryView(PermissionMixin, View):
    permission_required = "inventory.import_model"

    def post(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        job = get_object_or_404(ImportJob.objects.restrict(request.user), pk=pk)
        try:
            job = services.retry_import(job=job, user=request.user)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Import queued again.")
        if request.htmx:
            job.refresh_from_db()
            return render(request, "inventory/importjob_detail.html#status", {"job": job})
        return redirect(job.get_absolute_url())


# --- organizations & applications --------------------------------------------------------


class OrganizationListView(PermissionMixin, View):
    permission_required = "inventory.view_organization"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        orgs = list(
            Organization.objects.restrict(request.user).annotate(app_count=Count("applications")).order_by("name")
        )
        children: dict[int | None, list[Organization]] = {}
        for org in orgs:
            children.setdefault(org.parent_id, []).append(org)

        def build(parent: int | None, depth: int = 0) -> list[dict[str, Any]]:
            if depth > 32:
                return []
            return [{"org": o, "children": build(o.pk, depth + 1)} for o in children.get(parent, [])]

        return render(request, "inventory/organization_list.html", {"tree": build(None), "count": len(orgs)})


class OrganizationDetailView(PermissionMixin, View):
    permission_required = "inventory.view_organization"

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        org = get_object_or_404(Organization.objects.restrict(request.user).select_related("parent"), pk=pk)
        return render(
            request,
            "inventory/organization_detail.html",
            {
                "org": org,
                "children": org.children.all(),
                "applications": org.applications.annotate(usage_count=Count("usages")),
                "events": audit_trail(request, org),
            },
        )


class _EditView(PermissionMixin, View):
    """Create/update of a simple model through a ModelForm, audited."""

    model: type[Organization] | type[Application]
    form_class: type[forms.OrganizationForm] | type[forms.ApplicationForm]
    template = "inventory/object_form.html"

    def save(self, *, user: Any, obj: Any, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    def get_object(self, request: HtmxHttpRequest, pk: int | None) -> Any:
        if pk is None:
            return None
        return get_object_or_404(self.model.objects.restrict(request.user), pk=pk)

    def get(self, request: HtmxHttpRequest, pk: int | None = None) -> HttpResponse:
        obj = self.get_object(request, pk)
        return render(
            request,
            self.template,
            {
                "form": self.form_class(instance=obj, user=request.user),
                "object": obj,
                "kind": self.model._meta.verbose_name,
            },
        )

    def post(self, request: HtmxHttpRequest, pk: int | None = None) -> HttpResponse:
        obj = self.get_object(request, pk)
        form = self.form_class(request.POST, instance=obj, user=request.user)
        if not form.is_valid():
            return render(request, self.template, {"form": form, "object": obj, "kind": self.model._meta.verbose_name})
        saved = self.save(user=request.user, obj=obj, data=form.cleaned_data)
        messages.success(request, f"Saved {saved}.")
        return redirect(saved.get_absolute_url())


class OrganizationCreateView(_EditView):
    permission_required = "inventory.add_organization"
    model = Organization
    form_class = forms.OrganizationForm

    def save(self, *, user: Any, obj: Any, data: dict[str, Any]) -> Any:
        return services.save_organization(user=user, organization=obj, data=data)


class OrganizationUpdateView(OrganizationCreateView):
    permission_required = "inventory.change_organization"


class ApplicationListView(PermissionMixin, View):
    permission_required = "inventory.view_application"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        qs = (
            Application.objects.restrict(request.user)
            .select_related("organization")
            .annotate(usage_count=Count("usages"))
            .order_by("name")
        )
        filterset = filtersets.ApplicationFilterSet(request.GET, queryset=qs)
        filterset.form.fields["organization"].queryset = Organization.objects.restrict(request.user)  # type: ignore[attr-defined]
        page = paginate(request, filterset.qs)
        return render(
            request,
            partial_template(request, "inventory/application_list.html", "results"),
            {"filterset": filterset, "page": page, "applications": page.object_list},
        )


class ApplicationDetailView(PermissionMixin, View):
    permission_required = "inventory.view_application"

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        app = get_object_or_404(
            Application.objects.restrict(request.user).select_related("organization", "owner"), pk=pk
        )
        usages = app.usages.select_related("version", "version__model", "added_by")
        from inventory.extensions import application_links

        return render(
            request,
            "inventory/application_detail.html",
            {
                "app": app,
                "usages": usages,
                "links": application_links(request, app),
                "events": audit_trail(request, app),
            },
        )


class ApplicationCreateView(_EditView):
    permission_required = "inventory.add_application"
    model = Application
    form_class = forms.ApplicationForm

    def save(self, *, user: Any, obj: Any, data: dict[str, Any]) -> Any:
        return services.save_application(user=user, application=obj, data=data)


class ApplicationUpdateView(ApplicationCreateView):
    permission_required = "inventory.change_application"


# --- datasets -----------------------------------------------------------------------------


class DatasetListView(PermissionMixin, View):
    permission_required = "inventory.view_dataset"

    def get(self, request: HtmxHttpRequest) -> HttpResponse:
        qs = Dataset.objects.restrict(request.user).annotate(version_count=Count("versions")).order_by("repo_id")
        filterset = filtersets.DatasetFilterSet(request.GET, queryset=qs)
        page = paginate(request, filterset.qs)
        return render(
            request,
            partial_template(request, "inventory/dataset_list.html", "results"),
            {"filterset": filterset, "page": page, "datasets": page.object_list},
        )


class DatasetDetailView(PermissionMixin, View):
    permission_required = "inventory.view_dataset"

    def get(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        dataset = get_object_or_404(Dataset.objects.restrict(request.user), pk=pk)
        form = forms.DatasetFlagsForm(initial={"flags": dataset.flags, "notes": dataset.notes})
        return render(request, "inventory/dataset_detail.html", self._context(request, dataset, form))

    def post(self, request: HtmxHttpRequest, pk: int) -> HttpResponse:
        require(request.user, "inventory.change_dataset")
        dataset = get_object_or_404(Dataset.objects.restrict(request.user), pk=pk)
        form = forms.DatasetFlagsForm(request.POST)
        if form.is_valid():
            services.set_dataset_flags(
                dataset=dataset, flags=form.cleaned_data["flags"], notes=form.cleaned_data["notes"], user=request.user
            )
            messages.success(request, "Dataset flags saved; affected versions are re-evaluated.")
            return redirect(reverse("inventory:dataset_detail", args=[dataset.pk]))
        return render(request, "inventory/dataset_detail.html", self._context(request, dataset, form))

    def _context(self, request: HtmxHttpRequest, dataset: Dataset, form: forms.DatasetFlagsForm) -> dict[str, Any]:
        return {
            "dataset": dataset,
            "form": form,
            "versions": ModelVersion.objects.filter(datasets=dataset)
            .select_related("model")
            .order_by("model__repo_id")[:200],
            "events": audit_trail(request, dataset),
        }
