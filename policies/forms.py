"""Forms of the policies pages. They parse and present; the rules live in services."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from django import forms
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from core.choices import Band
from inventory.models import Application, Organization
from policies.choices import (
    WAIVER_EXPIRY_PRESETS,
    Action,
    DismissReason,
    Match,
    Operator,
    ScopeKind,
    Stage,
    WaiverScope,
)
from policies.engine.catalog import CATALOG, LIST_OPERATORS, OPERATORS_BY_TYPE, UNARY_OPERATORS
from policies.models import Policy, WaiverReason
from policies.services import ACCEPTED_RISK_MESSAGE, PolicyData, assignable_users, constraints_of
from policies.services.authoring import MAX_POLICY_YAML_BYTES

OPERATOR_LABELS = dict(Operator.choices)
CATEGORY_LABELS = {"security": "Security", "legal": "Legal", "quality": "Quality", "other": "Other"}


def fact_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for spec in CATALOG.values():
        groups.setdefault(CATEGORY_LABELS.get(spec.category, spec.category), []).append((spec.name, spec.label))
    return list(groups.items())


def condition_editor(prefix: str, cond: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything a condition row needs to render its field-aware editor."""
    cond = cond or {}
    fact = cond.get("fact") or ""
    spec = CATALOG.get(fact)
    operators = OPERATORS_BY_TYPE[spec.type] if spec else []
    operator = cond.get("operator") or (operators[0] if operators else "")
    if operators and operator not in operators:
        operator = operators[0]
    value = cond.get("value")
    values = [str(v) for v in value] if isinstance(value, list) else ([] if value is None else [str(value)])
    if spec is None or operator in UNARY_OPERATORS:
        widget = "none" if spec else "text"
    elif spec.type == "bool":
        widget = "bool"
    elif operator in {"older_than", "within"} or spec.type == "number":
        widget = "number"
    elif spec.choices and operator in LIST_OPERATORS:
        widget = "multi"
    elif spec.choices:
        widget = "select"
    elif operator in LIST_OPERATORS:
        widget = "list"
    else:
        widget = "text"
    return {
        "prefix": prefix,
        "fact": fact,
        "spec": spec,
        "operator": operator,
        "operators": [(op, OPERATOR_LABELS.get(op, op)) for op in operators],
        "value": ", ".join(values) if widget in {"list", "text"} else (values[0] if values else ""),
        "values": values,
        "negate": bool(cond.get("negate")),
        "widget": widget,
        "groups": fact_groups(),
        "error": cond.get("error", ""),
    }


def parse_constraints(data: Any) -> list[dict[str, Any]]:
    """Constraints from POSTed rows `k-<i>-name|match` and `k-<i>-c-<j>-fact|operator|value|negate`.

    Rows without a fact are blank (the page always offers one spare row) and are skipped.
    """
    constraints = []
    i = 0
    while f"k-{i}-match" in data and i < 50:
        conditions = []
        j = 0
        while f"k-{i}-c-{j}-fact" in data and j < 50:
            p = f"k-{i}-c-{j}-"
            fact = data.get(p + "fact", "").strip()
            if fact:
                values = [v for v in data.getlist(p + "value") if v != ""] if hasattr(data, "getlist") else []
                value: Any = values if len(values) > 1 else (values[0] if values else data.get(p + "value"))
                conditions.append(
                    {
                        "fact": fact,
                        "operator": data.get(p + "operator", ""),
                        "value": value,
                        "negate": data.get(p + "negate") in {"on", "true", "1"},
                    }
                )
            j += 1
        name = data.get(f"k-{i}-name", "").strip()
        if conditions or name:
            constraints.append({"name": name, "match": data.get(f"k-{i}-match") or Match.ALL, "conditions": conditions})
        i += 1
    return constraints


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=150)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    remediation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="What to do about a violation (shown on its page).",
    )
    threat_level = forms.IntegerField(
        min_value=0, max_value=10, help_text="8-10 critical, 4-7 severe, 2-3 moderate, 1 low"
    )
    scope = forms.ChoiceField(choices=ScopeKind.choices, initial=ScopeKind.ROOT)
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), required=False)
    application = forms.ModelChoiceField(queryset=Application.objects.none(), required=False)
    enabled = forms.BooleanField(required=False, initial=True)
    non_waivable = forms.BooleanField(required=False)
    reason = forms.CharField(max_length=300, required=False, help_text="Why this change (kept in the audit log).")

    def __init__(self, *args: Any, user: Any = None, policy: Policy | None = None, **kwargs: Any) -> None:
        if policy is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": policy.name,
                "description": policy.description,
                "remediation": policy.remediation,
                "threat_level": policy.threat_level,
                "scope": policy.scope_kind,
                "organization": policy.organization_id,
                "application": policy.application_id,
                "enabled": policy.enabled,
                "non_waivable": policy.non_waivable,
                **{Stage.field_name(s): policy.action_for(s) for s in Stage.values},
            }
        super().__init__(*args, **kwargs)
        # Owners the user may author for (a membership role: its own organizations only).
        perm = "policies.change_policy" if policy is not None else "policies.add_policy"
        self.fields["organization"].queryset = Organization.objects.restrict(user, perm)  # type: ignore[attr-defined]
        self.fields["application"].queryset = Application.objects.restrict(user, perm)  # type: ignore[attr-defined]
        for stage in Stage:
            self.fields[Stage.field_name(stage)] = forms.ChoiceField(
                label=stage.label, choices=Action.choices, initial=Action.NONE
            )
        self.policy = policy
        if self.is_bound:
            self.constraints = parse_constraints(self.data)
        else:
            self.constraints = constraints_of(policy) if policy else [{"name": "", "match": "all", "conditions": []}]

    def action_fields(self) -> list[forms.BoundField]:
        return [self[Stage.field_name(s)] for s in Stage.values]

    def constraint_rows(self) -> list[dict[str, Any]]:
        rows = []
        constraints = [*self.constraints, {"name": "", "match": "all", "conditions": []}]
        for i, k in enumerate(constraints):
            conditions = [*k["conditions"], {}]
            rows.append(
                {
                    "index": i,
                    "name": k.get("name", ""),
                    "match": k.get("match", "all"),
                    "spare": i == len(constraints) - 1,
                    "conditions": [condition_editor(f"k-{i}-c-{j}-", c) for j, c in enumerate(conditions)],
                    "next_condition": len(conditions),
                }
            )
        return rows

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        scope = cleaned.get("scope")
        if scope == ScopeKind.ORGANIZATION and not cleaned.get("organization"):
            self.add_error("organization", "Choose the organization.")
        if scope == ScopeKind.APPLICATION and not cleaned.get("application"):
            self.add_error("application", "Choose the application.")
        return cleaned

    def policy_data(self) -> PolicyData:
        c = self.cleaned_data
        return PolicyData(
            name=c["name"],
            description=c.get("description", ""),
            remediation=c.get("remediation", ""),
            threat_level=c["threat_level"],
            enabled=c.get("enabled", False),
            non_waivable=c.get("non_waivable", False),
            organization=c.get("organization") if c.get("scope") == ScopeKind.ORGANIZATION else None,
            application=c.get("application") if c.get("scope") == ScopeKind.APPLICATION else None,
            actions={s: c[Stage.field_name(s)] for s in Stage.values},
            constraints=self.constraints,
        )


class PolicyImportForm(forms.Form):
    file = forms.FileField(required=False, help_text="A YAML export")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), required=False, label="or paste YAML")

    def yaml_text(self) -> str:
        upload = self.cleaned_data.get("file")
        if upload:
            # Bounded read: one byte over the limit is enough for the parser to refuse it.
            return upload.read(MAX_POLICY_YAML_BYTES + 1).decode("utf-8", errors="replace")
        return self.cleaned_data.get("text") or ""


def _today() -> date:
    return timezone.now().astimezone(UTC).date()


class WaiverRequestForm(forms.Form):
    scope = forms.ChoiceField(choices=WaiverScope.choices, initial=WaiverScope.VERSION)
    owner = forms.ChoiceField(choices=ScopeKind.choices, initial=ScopeKind.ROOT)
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), required=False)
    application = forms.ModelChoiceField(queryset=Application.objects.none(), required=False)
    preset = forms.ChoiceField(required=False, label="Expires in")
    expires_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="or on (ends 23:59:59 UTC)"
    )
    reason = forms.ModelChoiceField(queryset=WaiverReason.objects.filter(active=True))
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args: Any, user: Any = None, policy: Policy | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        perm = "policies.request_waiver"  # owners inside the user's organizations (for a membership role)
        self.fields["organization"].queryset = Organization.objects.restrict(user, perm)  # type: ignore[attr-defined]
        self.fields["application"].queryset = Application.objects.restrict(user, perm)  # type: ignore[attr-defined]
        max_days = Band.max_waiver_days(policy.band) if policy else 365
        self.max_days = max_days
        presets = [d for d in WAIVER_EXPIRY_PRESETS if d <= max_days]
        preset_field = self.fields["preset"]
        assert isinstance(preset_field, forms.ChoiceField)
        preset_field.choices = [("", "custom date"), *[(str(d), f"{d} days") for d in presets]]
        self.fields["preset"].initial = str(presets[-1]) if presets else ""
        self.fields["expires_on"].help_text = f"At most {max_days} days for a {policy.band if policy else ''} policy."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        preset = cleaned.get("preset")
        if preset:
            cleaned["expires_on"] = _today() + timedelta(days=int(preset))
        elif not cleaned.get("expires_on"):
            self.add_error("expires_on", "An expiry date is required.")
        return cleaned


class BulkWaiveForm(WaiverRequestForm):
    ids = forms.CharField(required=False, widget=forms.HiddenInput)


class WaiverDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject"), ("revoke", "Revoke")])
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class VersionDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    despite_open_legal_review = forms.BooleanField(
        required=False,
        label="Approve despite open legal review",
        help_text="Recorded in the audit log with your reason.",
    )


class ImpactStageForm(forms.Form):
    stage = forms.ChoiceField(choices=Stage.choices, initial=Stage.RELEASE, required=False)


# --- Triage (one row per version × policy) ---------------------------------------------------------------


class TriageAssignForm(forms.Form):
    assignee: forms.ModelChoiceField = forms.ModelChoiceField(
        queryset=None,  # type: ignore[arg-type]  # set in __init__: the users who may act
        required=False,
        empty_label="— nobody —",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_users()  # type: ignore[attr-defined]


class TriageDueForm(forms.Form):
    due_on = forms.DateField(
        required=False,
        label="Due on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: the default for the threat band.",
    )


class TriageCommentForm(forms.Form):
    text = forms.CharField(label="Comment", max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class TriageDismissForm(forms.Form):
    dismiss_reason = forms.ChoiceField(label="Reason", choices=[("", "— choose —"), *DismissReason.choices])
    note = forms.CharField(label="Note", max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_dismiss_reason(self) -> str:
        value = str(self.cleaned_data["dismiss_reason"])
        if value == DismissReason.ACCEPTED_RISK:
            raise forms.ValidationError(ACCEPTED_RISK_MESSAGE)
        return value


class TriageBulkForm(forms.Form):
    """Bulk triage of the selected rows (`pairs`: "<version id>-<policy id>"); the button says which action."""

    ACTIONS = [("assign", "Assign"), ("due", "Set due date"), ("dismiss", "Dismiss")]

    action = forms.ChoiceField(choices=ACTIONS)
    assignee: forms.ModelChoiceField = forms.ModelChoiceField(
        queryset=None,  # type: ignore[arg-type]  # set in __init__: the users who may act
        required=False,
        empty_label="— nobody —",
    )
    due_on = forms.DateField(required=False, label="Due on", widget=forms.DateInput(attrs={"type": "date"}))
    dismiss_reason = forms.ChoiceField(
        label="Dismiss reason", required=False, choices=[("", "— choose —"), *DismissReason.choices]
    )
    note = forms.CharField(label="Dismiss note", required=False, max_length=5000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_users()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "dismiss":
            if data.get("dismiss_reason") == DismissReason.ACCEPTED_RISK:
                self.add_error("dismiss_reason", ACCEPTED_RISK_MESSAGE)
            elif not data.get("dismiss_reason"):
                self.add_error("dismiss_reason", "Choose a reason to dismiss.")
            if not (data.get("note") or "").strip():
                self.add_error("note", "Say why (a note is required to dismiss).")
        return data


class FastSelect(forms.Select):
    """A `<select>` rendered in Python, not one template per option: the triage list carries a few hundred
    options (organizations, applications, policies, twice) and Django's per-option templates were ~40 % of
    its render time. Same markup and escaping as `forms.Select` for single choices."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> Any:
        final = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        selected = {str(v) for v in self.format_value(value)}
        parts: list[str] = [format_html("<select{}>", flatatt(final))]
        for option_value, label in self.choices:
            text = "" if option_value is None else str(option_value)
            mark = " selected" if text in selected else ""
            parts.append(format_html('<option value="{}"{}>{}</option>', text, mark, label))
        parts.append("</select>")
        return mark_safe("".join(str(p) for p in parts))  # noqa: S308 - every part is escaped by format_html


def use_fast_selects(form: forms.BaseForm, *names: str) -> None:
    """Swap the named fields' Select widgets for FastSelect (keeping their attributes and choices)."""
    for name in names:
        field = form.fields[name]
        widget = FastSelect(attrs=dict(field.widget.attrs))
        widget.choices = field.choices  # type: ignore[attr-defined]
        widget.is_required = field.widget.is_required
        field.widget = widget
