"""Policies pages: authoring, triage (violations), waivers, version review.

One view, two renderings: the full page, or its partial for htmx (STYLE.md §6). Mutations are
real POST forms with post/redirect/get; htmx requests get the changed fragment plus
out-of-band counters. Every read goes through `restrict()`, every action through a service that
checks the role.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms as django_forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.http import HttpRequest as DjangoHttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View

from core.htmx import focus_first_error, is_htmx_fragment, render_form_errors
from core.http import HtmxHttpRequest as HttpRequest
from core.pagecache import cached_page
from core.permissions import PermissionMixin, has_perm, organization_scope, require
from core.urls_safe import safe_next
from core.views import audit_trail, paginate, partial_template
from inventory.models import Application, ModelVersion, Organization
from licenses import services as license_services
from licenses.models import LicenseAnalysis, LicenseObligation
from policies import filtersets, forms, services, triage
from policies.choices import Stage, ViolationState, WaiverState
from policies.models import Approval, Policy, Violation, Waiver
from scanning.models import ScanRun


def _errors(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{m}" for msgs in exc.message_dict.values() for m in msgs]
    return list(exc.messages)


def _in_sight(user: Any, prefix: str) -> Q:
    """Q on a relation to violations: only those the user may see (a membership role: its organizations)."""
    if organization_scope(user, "policies.view_violation") is None:
        return Q()
    return Q(**{f"{prefix}__in": Violation.objects.restrict(user).values("pk")})


# ---------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------


class PolicyListView(PermissionMixin, View):
    permission_required = "policies.view_policy"

    def get(self, request: HttpRequest) -> HttpResponse:
        qs = (
            Policy.objects.restrict(request.user)
            .select_related("organization", "application")
            .annotate(
                open_count=Count(
                    "violations",
                    filter=Q(violations__state=ViolationState.OPEN) & _in_sight(request.user, "violations"),
                )
            )
            .order_by("-threat_level", "name")
        )
        filterset = filtersets.PolicyFilterSet(request.GET, queryset=qs)
        page = paginate(request, filterset.qs)
        return render(
            request,
            partial_template(request, "policies/policy_list.html", "results"),
            {"filterset": filterset, "page": page, "policies": page.object_list, "stages": Stage.choices},
        )


class PolicyDetailView(PermissionMixin, View):
    permission_required = "policies.view_policy"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        policy = get_object_or_404(Policy.objects.restrict(request.user).with_details(), pk=pk)
        stats = (
            Violation.objects.restrict(request.user)
            .filter(policy=policy)
            .aggregate(
                open=Count("pk", filter=Q(state=ViolationState.OPEN)),
                waived=Count("pk", filter=Q(state=ViolationState.WAIVED)),
                resolved=Count("pk", filter=Q(state=ViolationState.RESOLVED)),
            )
        )
        return render(
            request,
            "policies/policy_detail.html",
            {"policy": policy, "stats": stats, "audit": audit_trail(request, policy), "stages": Stage.choices},
        )


class PolicyToggleView(PermissionMixin, View):
    permission_required = "policies.change_policy"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        policy = get_object_or_404(Policy.objects.restrict(request.user, "change"), pk=pk)
        policy = services.set_policy_enabled(
            user=request.user, policy=policy, enabled=not policy.enabled, reason=request.POST.get("reason", "")
        )
        if request.htmx:
            visible = Violation.objects.restrict(request.user).filter(policy=policy, state=ViolationState.OPEN)
            policy.open_count = visible.count()  # type: ignore[attr-defined]
            return render(request, "policies/policy_list.html#row", {"p": policy, "perms_change": True})
        messages.success(request, f"{policy} {'enabled' if policy.enabled else 'disabled'}.")
        return redirect(safe_next(request, policy.get_absolute_url()))


class PolicyDeleteView(PermissionMixin, View):
    permission_required = "policies.delete_policy"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        policy = get_object_or_404(Policy.objects.restrict(request.user, "delete"), pk=pk)
        name = str(policy)
        services.delete_policy(user=request.user, policy=policy, reason=request.POST.get("reason", ""))
        messages.success(request, f"Deleted {name}.")
        return redirect("policies:policy_list")


class PolicyEditView(PermissionMixin, View):
    """Create (no pk) or edit a policy; the impact preview posts the same form to PolicyPreviewView."""

    permission_required = "policies.view_policy"

    def dispatch(self, request: DjangoHttpRequest, *args: Any, **kwargs: Any) -> Any:
        self.permission_required = "policies.change_policy" if kwargs.get("pk") else "policies.add_policy"
        return super().dispatch(request, *args, **kwargs)

    def _policy(self, request: HttpRequest, pk: int | None) -> Policy | None:
        if pk is None:
            return None
        return get_object_or_404(Policy.objects.restrict(request.user, "change").with_details(), pk=pk)

    def _render(self, request: HttpRequest, form: forms.PolicyForm, policy: Policy | None, status: int = 200) -> Any:
        return render(
            request,
            "policies/policy_form.html",
            {"form": form, "policy": policy, "stages": Stage.choices},
            status=status,
        )

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        policy = self._policy(request, pk)
        return self._render(request, forms.PolicyForm(user=request.user, policy=policy), policy)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        policy = self._policy(request, pk)
        form = forms.PolicyForm(request.POST, user=request.user, policy=policy)
        if form.is_valid():
            try:
                reason = form.cleaned_data.get("reason", "")
                if policy is None:
                    policy = services.create_policy(user=request.user, data=form.policy_data(), reason=reason)
                else:
                    policy = services.update_policy(
                        user=request.user, policy=policy, data=form.policy_data(), reason=reason
                    )
            except ValidationError as exc:
                for message in _errors(exc):
                    form.add_error(None, message)
            else:
                messages.success(request, f"Saved {policy}; violations are being re-evaluated.")
                if request.htmx:
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = policy.get_absolute_url()
                    return response
                return redirect(policy)
        return render_form_errors(
            request, "policies/policy_form.html", {"form": form, "policy": policy, "stages": Stage.choices}
        )


class PolicyPreviewView(PermissionMixin, View):
    """POST the authoring form: what saving it would change ("would newly fail N, warn M, clear K")."""

    permission_required = "policies.view_policy"

    def post(self, request: HttpRequest) -> HttpResponse:
        if not (has_perm(request.user, "policies.add_policy") or has_perm(request.user, "policies.change_policy")):
            raise PermissionDenied
        pk = request.POST.get("policy_id")
        policy = get_object_or_404(Policy.objects.restrict(request.user), pk=pk) if pk else None
        form = forms.PolicyForm(request.POST, user=request.user, policy=policy)
        stage = request.POST.get("preview_stage") or Stage.RELEASE
        if stage not in Stage.values:
            stage = Stage.RELEASE
        impact, errors = None, []
        if form.is_valid():
            try:
                impact = services.preview_policy_impact(data=form.policy_data(), policy=policy, stage=stage)
            except ValidationError as exc:
                errors = _errors(exc)
        else:
            errors = [
                f"{k}: {', '.join(str(m) for m in v)}" if k != "__all__" else ", ".join(str(m) for m in v)
                for k, v in form.errors.items()
            ]
        if request.htmx:
            return render(request, "policies/policy_form.html#impact", {"impact": impact, "errors": errors})
        return render(
            request,
            "policies/policy_form.html",
            {"form": form, "policy": policy, "stages": Stage.choices, "impact": impact, "errors": errors},
        )


class ConditionRowView(PermissionMixin, View):
    """htmx: re-render one condition row for the chosen fact/operator (the field-aware value editor)."""

    permission_required = "policies.view_policy"

    def get(self, request: HttpRequest) -> HttpResponse:
        prefix = request.GET.get("prefix", "k-0-c-0-")
        if not prefix.startswith("k-") or len(prefix) > 20:
            prefix = "k-0-c-0-"
        data = request.GET
        cond = {
            "fact": data.get(prefix + "fact", ""),
            "operator": data.get(prefix + "operator", ""),
            "value": [v for v in data.getlist(prefix + "value") if v] or None,
            "negate": data.get(prefix + "negate") == "on",
        }
        if isinstance(cond["value"], list) and len(cond["value"]) == 1:
            cond["value"] = cond["value"][0]
        context: dict[str, Any] = {"c": forms.condition_editor(prefix, cond)}
        if request.GET.get("add"):  # a new row, and the "Add condition" button moves to the next index (OOB)
            k_index, _, j = prefix.removeprefix("k-").rstrip("-").partition("-c-")
            if k_index.isdigit() and j.isdigit():
                context.update(k_index=int(k_index), next=int(j) + 1)
                return render(request, "policies/policy_form.html#added_condition", context)
        return render(request, "policies/policy_form.html#condition", context)


class PolicyExportView(PermissionMixin, View):
    permission_required = "policies.view_policy"

    def get(self, request: HttpRequest) -> HttpResponse:
        qs = Policy.objects.restrict(request.user).with_details()
        ids = request.GET.getlist("id")
        if ids:
            qs = qs.filter(pk__in=[i for i in ids if i.isdigit()])
        response = HttpResponse(services.export_policies(policies=qs), content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="modelgate-policies.yaml"'
        return response


class PolicyImportView(PermissionMixin, View):
    permission_required = "policies.add_policy"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "policies/policy_import.html", {"form": forms.PolicyImportForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        require(request.user, "policies.change_policy")
        form = forms.PolicyImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                imported = services.import_policies(user=request.user, text=form.yaml_text())
            except ValidationError as exc:
                for message in _errors(exc):
                    form.add_error(None, message)
            else:
                messages.success(request, f"Imported {len(imported)} policies.")
                return redirect("policies:policy_list")
        return render(request, "policies/policy_import.html", {"form": form})


# ---------------------------------------------------------------------------------------------
# Violations (triage)
# ---------------------------------------------------------------------------------------------


def _violation_qs(user: Any) -> QuerySet[Violation]:
    pending = Waiver.objects.filter(state=WaiverState.PENDING).select_related("requested_by")
    return (
        Violation.objects.restrict(user)
        .for_list()
        .prefetch_related(Prefetch("waiver_requests", queryset=pending, to_attr="pending_waivers"))
        .order_by("-threat_level", "-first_seen_at", "-id")
    )


LIST_PARAMS = ("q", "organization", "application", "root", "policy", "category", "band", "state", "age", "version",
               "model", "assignee", "dismissed")  # fmt: skip
ROLLUP_PARAMS = {"state", "band", "category", "application", "root", "organization"}


def _perms(request: HttpRequest) -> dict[str, Any]:
    return {
        "can_request": has_perm(request.user, "policies.request_waiver"),
        "can_assign": has_perm(request.user, "policies.assign_triage"),
        "can_dismiss": has_perm(request.user, "policies.dismiss_triage"),
        "can_comment": has_perm(request.user, "policies.add_triagecomment"),
        "user": request.user,
    }


def _row_context(request: HttpRequest, v: Violation) -> dict[str, Any]:
    """The triage row (version × policy) the violation `v` belongs to, for the `row` partial."""
    return {"r": triage.row_for(Violation.objects.restrict(request.user), v), **_perms(request)}


def _total(request: HttpRequest, base: QuerySet[Violation], params: dict[str, str], rows: QuerySet[Any]) -> Any:
    """(rows the filter shows, as of) — from the overview's rollups when they answer exactly this filter and
    `restrict()` narrows nothing; otherwise one COUNT over the grouped query (as of now: None)."""
    if set(params) <= ROLLUP_PARAMS and triage.is_unrestricted(base):
        answer = triage.rollup_count({"state": "open", **params})
        if answer is not None:
            return answer
    return triage.count_groups(rows), None


def _list_context(request: HttpRequest) -> dict[str, Any]:
    base = Violation.objects.restrict(request.user)
    filterset = filtersets.TriageFilterSet(request.GET, queryset=base, request=request)
    filterset.form.fields["organization"].queryset = Organization.objects.restrict(request.user)  # type: ignore[attr-defined]
    filterset.form.fields["application"].queryset = Application.objects.restrict(request.user)  # type: ignore[attr-defined]
    filterset.form.fields["policy"].queryset = Policy.objects.restrict(request.user)  # type: ignore[attr-defined]
    forms.use_fast_selects(filterset.form, "organization", "application", "policy")
    valid = filterset.is_valid()
    state = (filterset.form.cleaned_data.get("state") if valid else "") or "open"
    sort, desc = triage.parse_sort(request.GET.get("sort"))
    sort_value = f"{'-' if desc else ''}{sort.name}"
    violations = filterset.qs
    rows_qs = triage.having_state(triage.grouped(violations, sort=sort), state)
    cursor_error = ""
    try:
        groups, next_cursor, prev_cursor = triage.seek(
            rows_qs, sort, desc, after=request.GET.get("after", ""), before=request.GET.get("before", "")
        )
    except triage.BadCursor:
        cursor_error = "That page link is not valid (any more); showing the first page."
        groups, next_cursor, prev_cursor = triage.seek(rows_qs, sort, desc)
    params = {k: request.GET[k] for k in LIST_PARAMS if request.GET.get(k)}
    # The counters are part of the page, not of the results fragment htmx swaps on a filter change.
    stats = None if is_htmx_fragment(request) else triage.counters(request.user)
    if stats is not None and valid and set(params) <= {"state"} and state in ("open", "waived"):
        total, as_of = stats[state], stats["as_of"]  # the default view is exactly the counter
    else:
        total, as_of = _total(request, base, params if valid else {"invalid": "1"}, rows_qs)
    keep = {**params, **({"sort": sort_value} if sort_value != triage.DEFAULT_SORT else {})}

    def link(**extra: str) -> str:
        return "?" + urlencode({**keep, **extra})

    columns = []
    for s in triage.SORTS.values():
        if s.name == sort.name:
            target, aria = (s.name if desc else f"-{s.name}"), ("descending" if desc else "ascending")
        else:
            target, aria = (f"-{s.name}" if s.default_desc else s.name), ""
        columns.append(
            {"name": s.name, "label": s.label, "href": "?" + urlencode({**params, "sort": target}), "aria": aria}
        )
    return {
        "filterset": filterset,
        "rows": triage.build_rows(violations, groups),
        "total": total,
        "as_of": as_of,
        "state": state,
        "sort_value": keep.get("sort", ""),
        "columns": {c["name"]: c for c in columns},
        "next_url": link(after=next_cursor) if next_cursor else "",
        "prev_url": link(before=prev_cursor) if prev_cursor else "",
        "first_url": link() if (request.GET.get("after") or request.GET.get("before")) else "",
        "share_url": request.build_absolute_uri(reverse("policies:violation_list") + link()),
        "cursor_error": cursor_error,
        "counters": stats,
        "bulk_form": _bulk_waive_form(request),
        "triage_form": forms.TriageBulkForm(auto_id="triage_%s"),
        **_perms(request),
    }


def _bulk_waive_form(request: HttpRequest) -> forms.BulkWaiveForm:
    form = forms.BulkWaiveForm(user=request.user, auto_id="bulk_%s")
    forms.use_fast_selects(form, *(n for n in ("organization", "application", "reason") if n in form.fields))
    return form


class ViolationListView(PermissionMixin, View):
    """The triage list: one row per version × policy (see policies/triage.py), keyset pages, sortable."""

    permission_required = "policies.view_violation"

    # "Assigned to me" is this user's list alone; otherwise users of one audience share it (core/pagecache.py).
    @method_decorator(cached_page(vary_on_user=lambda request: request.GET.get("assignee") == "me"))
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(
            request, partial_template(request, "policies/violation_list.html", "results"), _list_context(request)
        )


def _other_revisions(user: Any, row: triage.TriageRow) -> list[dict[str, Any]]:
    """Other revisions of the model, newest first, and whether each is clean for this policy (no open or
    waived violation of it in any visible context; "not evaluated" when never evaluated)."""
    versions = list(
        ModelVersion.objects.restrict(user)
        .filter(model_id=row.version.model_id)
        .exclude(pk=row.version.pk)
        .order_by("-imported_at", "-id")[:20]
    )
    states: dict[int, set[str]] = {}
    for vid, state in (
        Violation.objects.restrict(user)
        .filter(policy=row.policy, version__in=versions)
        .values_list("version_id", "state")
    ):
        states.setdefault(vid, set()).add(state)
    out = []
    for version in versions:
        seen = states.get(version.pk, set())
        if ViolationState.OPEN in seen:
            verdict = "open"
        elif ViolationState.WAIVED in seen:
            verdict = "waived"
        else:
            verdict = "clean"
        out.append({"version": version, "verdict": verdict})
    return out


def _evidence(user: Any, row: triage.TriageRow) -> dict[str, Any]:
    """What made the policy fire: the scan findings of the version (security), the license evidence and
    obligation clauses (legal). Each part only for readers whose role may see it."""
    facts = {k for v in row.violations for k in (v.matched or {}).get("facts", {})}
    category = row.policy.category
    out: dict[str, Any] = {"findings": [], "license": None, "license_evidence": [], "clauses": []}
    wants_scan = category == "security" or any(f.startswith(("scan", "file", "remote_code")) for f in facts)
    if wants_scan and has_perm(user, "scanning.view_finding"):
        run = ScanRun.objects.filter(version=row.version).order_by("-id").first()
        if run is not None:
            out["scan_run"] = run
            out["findings"] = list(run.findings.order_by("-severity", "path", "id")[:50])
    wants_license = category == "legal" or any(f.startswith(("license", "obligation")) for f in facts)
    if wants_license and has_perm(user, "licenses.view_licenseanalysis"):
        analysis = LicenseAnalysis.objects.filter(version=row.version).first()
        if analysis is not None:
            out["license"] = analysis
            out["license_evidence"] = list(analysis.evidence.order_by("-score", "path")[:10])
            out["clauses"] = list(
                LicenseObligation.objects.filter(license__key__in=analysis.effective_ids or [])
                .exclude(quote="")
                .select_related("license", "obligation")[:30]
            )
    return out


def _detail_context(request: HttpRequest, v: Violation, **forms_: Any) -> dict[str, Any]:
    visible = Violation.objects.restrict(request.user)
    row = triage.row_for(visible, v)
    if row is None:
        raise Http404
    waivers = list(v.waiver_requests.all())
    item = row.item
    comments = list(item.comments.select_related("author")) if item is not None else []
    audit = audit_trail(request, v)
    if item is not None:
        audit = sorted([*audit, *audit_trail(request, item)], key=lambda e: (e.created_at, e.pk), reverse=True)
    return {
        "v": v,
        "r": row,
        "policy": Policy.objects.with_details().get(pk=v.policy_id),
        "evidence": _evidence(request.user, row),
        "others": _other_revisions(request.user, row),
        "comments": comments,
        "audit": audit,
        "waivers": waivers,
        "cannot_waive": _cannot_waive(request, v, waivers),
        "assign_form": forms_.get("assign_form")
        or forms.TriageAssignForm(initial={"assignee": row.assignee.pk if row.assignee else None}),
        "due_form": forms_.get("due_form")
        or forms.TriageDueForm(initial={"due_on": item.due_at.date() if item is not None and item.due_at else None}),
        "comment_form": forms_.get("comment_form") or forms.TriageCommentForm(),
        "dismiss_form": forms_.get("dismiss_form") or forms.TriageDismissForm(),
        **_perms(request),
    }


class ViolationDetailView(PermissionMixin, View):
    """A row's page: the problem (version × policy), its contexts, evidence, triage and history."""

    permission_required = "policies.view_violation"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        v = get_object_or_404(_violation_qs(request.user), pk=pk)
        return render(request, "policies/violation_detail.html", _detail_context(request, v))


class TriageActionView(PermissionMixin, View):
    """POST one triage action on the row of violation `pk`: htmx gets the triage panel back (422 with the
    form's errors in place when invalid), a plain form post/redirect/get to the row's page."""

    form_class: type[django_forms.Form] = django_forms.Form
    form_name = ""
    done = ""

    def act(self, request: HttpRequest, v: Violation, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        v = get_object_or_404(_violation_qs(request.user), pk=pk)
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                self.act(request, v, form.cleaned_data)
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for name, errors in exc.message_dict.items():
                        for message in errors:
                            form.add_error(name if name in form.fields else None, message)
                else:
                    for message in exc.messages:
                        form.add_error(None, message)
            else:
                if is_htmx_fragment(request):
                    return render(request, "policies/violation_detail.html#triage_panel", _detail_context(request, v))
                messages.success(request, self.done)
                return redirect(safe_next(request, reverse("policies:violation_detail", args=[v.pk])))
        return render_form_errors(
            request,
            "policies/violation_detail.html",
            _detail_context(request, v, **{self.form_name: form}),
            form=form,
            partial="triage_panel",
            target="#triage-panel",
            swap="outerHTML",
        )


class TriageAssignView(TriageActionView):
    permission_required = "policies.assign_triage"
    form_class = forms.TriageAssignForm
    form_name, done = "assign_form", "Assignment saved."

    def act(self, request: HttpRequest, v: Violation, data: dict[str, Any]) -> None:
        services.assign_triage(user=request.user, version=v.version, policy=v.policy, assignee=data["assignee"])


class TriageDueView(TriageActionView):
    permission_required = "policies.assign_triage"
    form_class = forms.TriageDueForm
    form_name, done = "due_form", "Due date saved."

    def act(self, request: HttpRequest, v: Violation, data: dict[str, Any]) -> None:
        services.set_triage_due(user=request.user, version=v.version, policy=v.policy, due_on=data.get("due_on"))


class TriageCommentView(TriageActionView):
    permission_required = "policies.add_triagecomment"
    form_class = forms.TriageCommentForm
    form_name, done = "comment_form", "Comment added."

    def act(self, request: HttpRequest, v: Violation, data: dict[str, Any]) -> None:
        services.comment_triage(user=request.user, version=v.version, policy=v.policy, text=data["text"])


class TriageDismissView(TriageActionView):
    permission_required = "policies.dismiss_triage"
    form_class = forms.TriageDismissForm
    form_name, done = "dismiss_form", "Dismissed."

    def act(self, request: HttpRequest, v: Violation, data: dict[str, Any]) -> None:
        services.dismiss_triage(
            user=request.user, version=v.version, policy=v.policy, reason=data["dismiss_reason"], note=data["note"]
        )


class TriageReopenView(TriageActionView):
    permission_required = "policies.dismiss_triage"
    form_name, done = "dismiss_form", "Reopened."

    def act(self, request: HttpRequest, v: Violation, data: dict[str, Any]) -> None:
        services.reopen_triage(user=request.user, version=v.version, policy=v.policy)


class TriageBulkView(PermissionMixin, View):
    """Assign, set the due date of, or dismiss the selected rows (each row its own audited service call).
    A plain form post redirects back to the list with a summary; htmx gets the list's results re-rendered."""

    permission_required = "policies.view_violation"

    def post(self, request: HttpRequest) -> HttpResponse:
        form = forms.TriageBulkForm(request.POST)
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
        selected = list(Violation.objects.restrict(request.user).filter(pk__in=ids).select_related("version", "policy"))
        pairs = {(v.version_id, v.policy_id): v for v in selected}
        done, refused = 0, []
        if not pairs:
            form.is_valid()
            form.add_error(None, "Select at least one row.")
        if pairs and form.is_valid():
            data = form.cleaned_data
            for v in pairs.values():
                try:
                    if data["action"] == "assign":
                        services.assign_triage(
                            user=request.user, version=v.version, policy=v.policy, assignee=data.get("assignee")
                        )
                    elif data["action"] == "due":
                        services.set_triage_due(
                            user=request.user, version=v.version, policy=v.policy, due_on=data.get("due_on")
                        )
                    else:
                        services.dismiss_triage(
                            user=request.user, version=v.version, policy=v.policy,
                            reason=data["dismiss_reason"], note=data["note"],
                        )  # fmt: skip
                    done += 1
                except (ValidationError, PermissionDenied) as exc:
                    text = "; ".join(_errors(exc)) if isinstance(exc, ValidationError) else str(exc)
                    refused.append(f"{v.policy} on {v.version}: {text}")
        if form.errors:
            context = _list_context(request)
            context["triage_form"] = form
            return render_form_errors(
                request, "policies/violation_list.html", context, form=form, partial="bulk_triage",
                target="#bulk-triage", swap="outerHTML",
            )  # fmt: skip
        label = dict(forms.TriageBulkForm.ACTIONS)[form.cleaned_data["action"]].lower()
        if done:
            messages.success(request, f"{label.capitalize()}: {done} row(s).")
        for message in refused[:20]:
            messages.error(request, f"Not done ({label}): {message}")
        return HttpResponseRedirect(safe_next(request, reverse("policies:violation_list")))


def _cannot_waive(request: HttpRequest, v: Violation, waivers: list[Waiver]) -> str:
    """Why no waiver can be requested for this violation now ("" when one can)."""
    if v.state == ViolationState.WAIVED:
        return "It is already waived."
    if v.state != ViolationState.OPEN:
        return "It is resolved: the facts no longer match the policy."
    if v.policy.non_waivable:
        return f"The policy “{v.policy.name}” is non-waivable: the cause has to be fixed."
    if not has_perm(request.user, "policies.request_waiver"):
        return "Your role does not allow requesting waivers."
    pending = next((w for w in waivers if w.state == WaiverState.PENDING), None)
    if pending is not None:
        return f"Waiver request #{pending.pk} is already pending a decision."
    return ""


class WaiverRequestView(PermissionMixin, View):
    """Request a waiver for one violation: inline in the triage row (htmx) or as a page."""

    permission_required = "policies.request_waiver"

    def _violation(self, request: HttpRequest, pk: int) -> Violation:
        return get_object_or_404(_violation_qs(request.user), pk=pk)

    def _form_response(self, request: HttpRequest, v: Violation, form: Any) -> HttpResponse:
        template = partial_template(request, "policies/waiver_form.html", "inline")
        return render(request, template, {"v": v, "form": form, "inline": template.endswith("#inline")})

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        v = self._violation(request, pk)
        initial = {"owner": "application" if v.application_id else "root", "application": v.application_id}
        return self._form_response(
            request, v, forms.WaiverRequestForm(user=request.user, policy=v.policy, initial=initial)
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        v = self._violation(request, pk)
        form = forms.WaiverRequestForm(request.POST, user=request.user, policy=v.policy)
        if form.is_valid():
            c = form.cleaned_data
            try:
                services.request_waiver(
                    user=request.user, policy=v.policy, scope=c["scope"], expires_on=c["expires_on"],
                    reason=c["reason"], comment=c.get("comment", ""), version=v.version, model=v.version.model,
                    owner=c["owner"], organization=c.get("organization"), application=c.get("application"),
                    source_violation=v,
                )  # fmt: skip
            except ValidationError as exc:
                for message in _errors(exc):
                    form.add_error(None, message)
            else:
                if request.htmx:
                    v = self._violation(request, pk)
                    return render(
                        request,
                        "policies/violation_list.html#row_with_counters",
                        {**_row_context(request, v), "counters": triage.counters(request.user)},
                    )
                messages.success(request, "Waiver requested; a reviewer with the right role decides it.")
                return redirect(safe_next(request, reverse("policies:violation_list")))
        # The inline form replaces its own triage row; the page form re-renders the page.
        return render_form_errors(
            request,
            "policies/waiver_form.html",
            {"v": v, "form": form, "inline": is_htmx_fragment(request)},
            partial="inline",
        )


class ViolationRowView(PermissionMixin, View):
    """htmx: one triage row (used by Cancel on the inline waiver form)."""

    permission_required = "policies.view_violation"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        v = get_object_or_404(_violation_qs(request.user), pk=pk)
        return render(request, "policies/violation_list.html#row", _row_context(request, v))


class ViolationBulkWaiveView(PermissionMixin, View):
    """Request waivers for the selected violations (one per violation, each audited)."""

    permission_required = "policies.request_waiver"

    def post(self, request: HttpRequest) -> HttpResponse:
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
        selected = list(_violation_qs(request.user).filter(pk__in=ids))
        done, refused = 0, []
        for v in selected:
            form = forms.WaiverRequestForm(request.POST, user=request.user, policy=v.policy)
            if not form.is_valid():
                refused.append(f"{v}: " + "; ".join(str(e) for errs in form.errors.values() for e in errs))
                continue
            c = form.cleaned_data
            try:
                services.request_waiver(
                    user=request.user, policy=v.policy, scope=c["scope"], expires_on=c["expires_on"],
                    reason=c["reason"], comment=c.get("comment", ""), version=v.version, model=v.version.model,
                    owner=c["owner"], organization=c.get("organization"), application=c.get("application"),
                    source_violation=v,
                )  # fmt: skip
                done += 1
            except ValidationError as exc:
                refused.append(f"{v}: " + "; ".join(_errors(exc)))
            except PermissionDenied as exc:
                refused.append(f"{v}: {exc}")
        if not selected:
            messages.warning(request, "Select at least one violation.")
        if done:
            messages.success(request, f"Requested {done} waiver(s).")
        for message in refused[:20]:
            messages.error(request, f"Not waived: {message}")
        return HttpResponseRedirect(safe_next(request, reverse("policies:violation_list")))


# ---------------------------------------------------------------------------------------------
# Waivers
# ---------------------------------------------------------------------------------------------


class WaiverListView(PermissionMixin, View):
    permission_required = "policies.view_waiver"

    def get(self, request: HttpRequest) -> HttpResponse:
        data = request.GET.copy()
        data.setdefault("tab", "pending")
        qs = (
            Waiver.objects.restrict(request.user)
            .for_list()
            .annotate(waived_count=Count("violations", filter=Q(violations__state=ViolationState.WAIVED)))
            .order_by("expires_at", "id")
        )
        filterset = filtersets.WaiverFilterSet(data, queryset=qs, request=request)
        page = paginate(request, filterset.qs)
        return render(
            request,
            partial_template(request, "policies/waiver_list.html", "results"),
            {
                "filterset": filterset,
                "tab": data["tab"],
                "tabs": filtersets.WaiverFilterSet.TABS,
                "page": page,
                "waivers": page.object_list,
                "counters": triage.counters(request.user),
                "user": request.user,
            },
        )


class WaiverDetailView(PermissionMixin, View):
    permission_required = "policies.view_waiver"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        waiver = get_object_or_404(Waiver.objects.restrict(request.user).for_list(), pk=pk)
        violations = waiver.violations.select_related("version__model", "application", "policy")[:100]
        return render(
            request,
            "policies/waiver_detail.html",
            {
                "w": waiver,
                "violations": violations,
                "audit": audit_trail(request, waiver),
                "can_decide": services.can_decide_waiver(request.user, waiver),
                "decision_form": forms.WaiverDecisionForm(),
            },
        )


class WaiverDecideView(PermissionMixin, View):
    """Approve / reject / revoke; the service checks the role for the policy's category and the requester."""

    permission_required = "policies.view_waiver"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        waiver = get_object_or_404(Waiver.objects.restrict(request.user).for_list(), pk=pk)
        form = forms.WaiverDecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose approve, reject or revoke.")
            return redirect(waiver)
        decision, comment = form.cleaned_data["decision"], form.cleaned_data.get("comment", "")
        error = ""
        try:
            if decision == "revoke":
                waiver = services.revoke_waiver(user=request.user, waiver=waiver, comment=comment)
            else:
                waiver = services.decide_waiver(
                    user=request.user, waiver=waiver, approve=decision == "approve", comment=comment
                )
        except ValidationError as exc:
            error = "; ".join(_errors(exc))
        violation_id = request.POST.get("violation", "")
        if request.htmx and violation_id.isdigit():
            v = get_object_or_404(_violation_qs(request.user), pk=int(violation_id))
            return render(
                request,
                "policies/violation_list.html#row_with_counters",
                {**_row_context(request, v), "counters": triage.counters(request.user)},
            )
        if request.htmx:
            waiver = get_object_or_404(
                Waiver.objects.restrict(request.user)
                .for_list()
                .annotate(waived_count=Count("violations", filter=Q(violations__state=ViolationState.WAIVED))),
                pk=pk,
            )
            return render(
                request,
                "policies/waiver_list.html#row_with_counters",
                {"w": waiver, "error": error, "counters": triage.counters(request.user), "user": request.user},
            )
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"Waiver {waiver.get_state_display().lower()}.")
        return redirect(safe_next(request, waiver.get_absolute_url()))


# ---------------------------------------------------------------------------------------------
# Version review
# ---------------------------------------------------------------------------------------------


def _license_layers(version: ModelVersion) -> dict[str, Any] | None:
    return license_services.license_facts([version.pk]).get(version.pk)


def _scan(version: ModelVersion) -> dict[str, Any] | None:
    run = ScanRun.objects.filter(version=version).order_by("-id").first()
    if run is None:
        return {"run": None, "findings": []}
    return {"run": run, "findings": list(run.findings.all()[:200])}


def _url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


class VersionReviewView(PermissionMixin, View):
    permission_required = "policies.view_violation"

    def get(self, request: HttpRequest, pk: int, form: Any = None, status: int = 200) -> HttpResponse:
        version = get_object_or_404(ModelVersion.objects.restrict(request.user).select_related("model"), pk=pk)
        violations = list(
            Violation.objects.restrict(request.user)
            .filter(version=version)
            .select_related("policy", "application", "waiver")
            .order_by("state", "-policy__threat_level", "policy__name")
        )
        stage_actions = {s: services.action_at(version=version, stage=s)[0] for s in Stage.values}
        return render(
            request,
            "policies/version_review.html",
            {
                "version": version,
                "violations": violations,
                # Blocking violations in contexts the user may see (not another organization's).
                "blocking": [b for b in services.blocking_violations(version=version) if b in violations],
                "legal_open": services.legal_review_open(version=version),
                "stage_actions": stage_actions,
                "approvals": Approval.objects.restrict(request.user)
                .filter(version=version)
                .select_related("decided_by"),
                "licenses": _license_layers(version),
                "license_url": _url("licenses:review", version.pk),
                "scan": _scan(version),
                "can_decide": services.can_decide_version(request.user, version),
                "form": form or forms.VersionDecisionForm(),
                "audit": audit_trail(request, version),
                "now": timezone.now(),
            },
            status=status,
        )


class VersionDecideView(PermissionMixin, View):
    permission_required = "policies.approve_version"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(ModelVersion.objects.restrict(request.user), pk=pk)
        form = forms.VersionDecisionForm(request.POST)
        if form.is_valid():
            try:
                if form.cleaned_data["decision"] == "approve":
                    services.approve_version(
                        user=request.user,
                        version=version,
                        reason=form.cleaned_data["reason"],
                        despite_open_legal_review=form.cleaned_data["despite_open_legal_review"],
                    )
                else:
                    services.reject_version(user=request.user, version=version, reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):  # a field's error stays next to the field
                    for name, errors in exc.message_dict.items():
                        form.add_error(name if name in form.fields else None, errors)
                else:
                    for message in _errors(exc):
                        form.add_error(None, message)
            else:
                messages.success(request, f"{version}: {form.cleaned_data['decision']}d.")
                return redirect("policies:version_review", pk=version.pk)
        focus_first_error(form)
        return VersionReviewView().get(request, pk, form=form, status=422)
