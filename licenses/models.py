"""License catalog, per-version attribution (the row the task advances), evidence, conclusions and
per-application obligation checklists."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from core.generation import TrackedQuerySet
from core.permissions import SHARED, Inherited, RestrictedQuerySet
from licenses.choices import AnalysisState, ChecklistStatus, ConclusionStatus, MatchKind, ThreatGroup

THREAT_SEVERITY = {
    ThreatGroup.PERMISSIVE: 0,
    ThreatGroup.WEAK_COPYLEFT: 1,
    ThreatGroup.COPYLEFT: 2,
    ThreatGroup.AI_RESTRICTED: 3,
    ThreatGroup.NON_COMMERCIAL: 4,
    ThreatGroup.PROPRIETARY: 5,
    ThreatGroup.UNKNOWN: 6,
}


class LicenseQuerySet(RestrictedQuerySet["License"]):
    def active(self) -> LicenseQuerySet:
        return self.filter(is_active=True)


class License(models.Model):
    key = models.CharField("canonical id", max_length=80, unique=True)
    spdx_id = models.CharField("SPDX id", max_length=120, blank=True)
    name = models.CharField(max_length=200)
    family = models.CharField(max_length=60, blank=True)
    threat_group = models.CharField(max_length=16, choices=ThreatGroup.choices, default=ThreatGroup.UNKNOWN)
    aliases = models.JSONField(default=list, blank=True, help_text="Other ids a card may use (case-insensitive).")
    reference_names = models.JSONField(default=list, blank=True, help_text="Phrases that count as a reference.")
    urls = models.JSONField(default=list, blank=True, help_text="URL fragments that count as a reference.")
    text = models.TextField(blank=True, help_text="The full text (matched against repository files).")
    component_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="components",
        help_text="An acceptable-use / usage policy is a component of this license, not a license of its own.",
    )
    notice = models.TextField(blank=True, help_text="The prescribed Notice sentence, if any.")
    display_attribution = models.CharField(max_length=200, blank=True, help_text="e.g. “Built with Llama”.")
    naming_prefix = models.CharField(max_length=40, blank=True, help_text="Derived model names must begin with this.")
    binds_output_trained = models.BooleanField(default=False, help_text="Binds models trained on its outputs.")
    is_active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    SCOPE = SHARED
    objects = LicenseQuerySet.as_manager()

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    def get_absolute_url(self) -> str:
        return reverse("licenses:license_detail", args=[self.pk])

    @property
    def severity(self) -> int:
        return THREAT_SEVERITY.get(self.threat_group, 6)  # type: ignore[call-overload]


class LicenseText(models.Model):
    """Further texts of one license (older versions, a variant without its appended AUP)."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=120)
    text = models.TextField()

    objects = TrackedQuerySet.as_manager()

    class Meta:
        ordering = ["license__key", "name"]
        constraints = [models.UniqueConstraint(fields=["license", "name"], name="licensetext_unique_name")]

    def __str__(self) -> str:
        return f"{self.license.key}: {self.name}"


class Obligation(models.Model):
    """A vocabulary term, possibly parameterised (`user-threshold:700M`)."""

    term = models.CharField(max_length=80, unique=True)
    meaning = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    SCOPE = SHARED
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["term"]

    def __str__(self) -> str:
        return self.term

    def get_absolute_url(self) -> str:
        return reverse("licenses:obligation_list") + f"#ob-{self.pk}"

    @property
    def base_term(self) -> str:
        return self.term.split(":", 1)[0]


class LicenseObligation(models.Model):
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="license_obligations")
    obligation = models.ForeignKey(Obligation, on_delete=models.PROTECT, related_name="license_obligations")
    clause = models.CharField(max_length=60, blank=True)
    quote = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    SCOPE = SHARED
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["license__key", "obligation__term"]
        constraints = [
            models.UniqueConstraint(fields=["license", "obligation"], name="licenseobligation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.license.key}: {self.obligation.term} ({self.clause})"


class LicenseAnalysisQuerySet(RestrictedQuerySet["LicenseAnalysis"]):
    def needs_review(self) -> LicenseAnalysisQuerySet:
        return self.filter(state=AnalysisState.DONE, needs_review=True)

    def riskiest_first(self) -> LicenseAnalysisQuerySet:
        return self.order_by("-risk", "-finished_at", "-id")


class LicenseAnalysis(models.Model):
    """License attribution of one version: the row the task advances and the pages read."""

    version = models.OneToOneField("inventory.ModelVersion", on_delete=models.CASCADE, related_name="license_analysis")
    state = models.CharField(max_length=8, choices=AnalysisState.choices, default=AnalysisState.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    declared = models.CharField(max_length=300, blank=True, help_text="Canonical expression, empty when none.")
    declared_name = models.CharField(max_length=200, blank=True)
    declared_link = models.CharField(max_length=500, blank=True)
    declared_source = models.CharField(max_length=10, blank=True)
    declared_raw = models.JSONField(null=True, blank=True)
    own = models.CharField(max_length=300, blank=True)
    own_source = models.CharField(max_length=10, blank=True)
    inherited = models.JSONField(default=list, blank=True)
    effective = models.CharField(max_length=500, blank=True, db_index=True)
    effective_ids = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)
    obligations = models.JSONField(default=list, blank=True)
    conflicts = models.JSONField(default=list, blank=True)
    conflict = models.BooleanField(default=False, db_index=True)
    threat_group = models.CharField(max_length=16, choices=ThreatGroup.choices, default=ThreatGroup.UNKNOWN)
    is_unknown = models.BooleanField(default=False)
    is_other = models.BooleanField(default=False)
    is_weak = models.BooleanField(default=False, help_text="Own license rests on references only.")
    needs_review = models.BooleanField(default=False, db_index=True)
    risk = models.PositiveIntegerField(default=0, db_index=True, help_text="Orders the review queue.")
    unfit_applications = models.JSONField(
        default=list, blank=True, help_text="Applications whose use is not permitted."
    )
    notes = models.JSONField(default=list, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="The `licenses --json` object.")
    catalog_stamp = models.CharField(max_length=80, blank=True)
    evidence_key = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="Hash of the license evidence (card license fields, license-bearing files, bases, result): "
        "equal keys let a conclusion carry forward to a new revision.",
    )
    files_read = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    SCOPE = SHARED
    objects = LicenseAnalysisQuerySet.as_manager()

    class Meta:
        ordering = ["-risk", "-id"]
        verbose_name_plural = "license analyses"

    def __str__(self) -> str:
        return f"licenses of {self.version_id}: {self.effective or self.state}"

    def get_absolute_url(self) -> str:
        return reverse("licenses:review", args=[self.version_id])

    @property
    def is_active(self) -> bool:
        return self.state in AnalysisState.active()


class LicenseEvidence(models.Model):
    """One piece of observed (or declared/inherited) evidence, with the lines needed to show it."""

    # Deleted only in bulk (querysets move the data generation): no post_delete receiver, so a rescan or a
    # cascade deletes these rows in one statement instead of loading each one (core/apps.py).
    DELETED_IN_BULK = True

    analysis = models.ForeignKey(LicenseAnalysis, on_delete=models.CASCADE, related_name="evidence")
    layer = models.CharField(max_length=10, default="observed")
    path = models.CharField(max_length=1000)
    license_key = models.CharField(max_length=120)
    match = models.CharField(max_length=14, choices=MatchKind.choices)
    score = models.FloatField(default=0.0)
    coverage = models.FloatField(default=0.0)
    scope = models.CharField(max_length=8, default="main")
    start_line = models.PositiveIntegerField(default=0)
    end_line = models.PositiveIntegerField(default=0)
    detail = models.CharField(max_length=500, blank=True)
    snippet = models.TextField(blank=True, help_text="The file's lines around the match (untrusted text).")
    snippet_start = models.PositiveIntegerField(default=1, help_text="Line number of the snippet's first line.")

    SCOPE = SHARED
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["analysis", "path", "id"]

    def __str__(self) -> str:
        return f"{self.path}: {self.license_key} ({self.match})"

    def lines(self) -> list[tuple[int, str, bool]]:
        """(number, text, highlighted) for the evidence page."""
        out = []
        for offset, line in enumerate(self.snippet.splitlines()):
            n = self.snippet_start + offset
            out.append((n, line, self.start_line <= n <= self.end_line))
        return out


class LicenseConclusionQuerySet(RestrictedQuerySet["LicenseConclusion"]):
    def deciding(self) -> LicenseConclusionQuerySet:
        return self.filter(status__in=ConclusionStatus.deciding())


class LicenseConclusion(models.Model):
    """A legal reviewer's conclusion about a version's effective license (append-only history).

    Scope: one application, one organization, or — both empty — the whole installation.
    """

    version = models.ForeignKey("inventory.ModelVersion", on_delete=models.CASCADE, related_name="license_conclusions")
    application = models.ForeignKey(
        "inventory.Application", null=True, blank=True, on_delete=models.CASCADE, related_name="license_conclusions"
    )
    organization = models.ForeignKey(
        "inventory.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="license_conclusions"
    )
    status = models.CharField(max_length=12, choices=ConclusionStatus.choices, default=ConclusionStatus.OPEN)
    license_expression = models.CharField(max_length=500, blank=True)
    detected_effective = models.CharField(max_length=500, blank=True, help_text="Effective license when concluded.")
    comment = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    carried_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="carried_to",
        help_text="A deciding conclusion: the reviewer's conclusion on an earlier revision with the same evidence, "
        "applied automatically. An open conclusion: the carried-forward one it revokes.",
    )

    SCOPE = (
        "organization",
        "application__organization",
        Inherited("organization", root=("organization", "application")),
    )
    objects = LicenseConclusionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("conclude_license", "Can conclude the effective license of a model version")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(application__isnull=True) | models.Q(organization__isnull=True),
                name="conclusion_one_scope",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()}: {self.license_expression or '—'} ({self.scope_label})"

    @property
    def is_carried(self) -> bool:
        return bool(self.carried_from_id) and self.status in ConclusionStatus.deciding()

    @property
    def is_revocation(self) -> bool:
        return bool(self.carried_from_id) and self.status == ConclusionStatus.OPEN

    @property
    def scope_label(self) -> str:
        if self.application_id:
            return f"application {self.application}"
        if self.organization_id:
            return f"organization {self.organization}"
        return "everywhere"


class ObligationStatus(models.Model):
    """One line of an application's obligation checklist for one model version it uses."""

    application = models.ForeignKey(
        "inventory.Application", on_delete=models.CASCADE, related_name="obligation_statuses"
    )
    version = models.ForeignKey("inventory.ModelVersion", on_delete=models.CASCADE, related_name="obligation_statuses")
    obligation = models.ForeignKey(Obligation, on_delete=models.PROTECT, related_name="statuses")
    status = models.CharField(max_length=16, choices=ChecklistStatus.choices, default=ChecklistStatus.OPEN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    SCOPE = ("application__organization",)
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["application", "version", "obligation__term"]
        constraints = [
            models.UniqueConstraint(fields=["application", "version", "obligation"], name="obligationstatus_unique")
        ]

    def __str__(self) -> str:
        return f"{self.application} · {self.obligation}: {self.status}"


class HubCardLicense(models.Model):
    """What the Hub card of a repo that is not imported declares (a base model's license), cached.

    Written by licenses.services.hubcards through the Hub adapter; read when a placeholder base passes
    its license down. `found` is False when the Hub does not know the repo (or the lookup failed: `error`).
    """

    repo_id = models.CharField(max_length=200, unique=True)
    commit = models.CharField(max_length=40, blank=True)
    license = models.JSONField(null=True, blank=True, help_text="The card's `license` value as written.")
    license_name = models.CharField(max_length=200, blank=True)
    license_link = models.CharField(max_length=500, blank=True)
    tags = models.JSONField(default=list, blank=True)
    base_models = models.JSONField(default=list, blank=True)
    found = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    fetched_at = models.DateTimeField()

    objects = TrackedQuerySet.as_manager()

    class Meta:
        ordering = ["repo_id"]

    def __str__(self) -> str:
        return f"{self.repo_id}: {self.license or self.license_name or '—'}"

    def card(self) -> dict[str, object]:
        return {"license": self.license, "license_name": self.license_name, "license_link": self.license_link}
