"""Inventory: who consumes models (organizations, applications) and what they consume.

A `Model` is a repository (Hub or local); a `ModelVersion` is one pinned commit of it with its
files, lineage and datasets. Everything downstream (scans, licenses, policies) hangs off versions.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.text import slugify

from core.generation import TrackedQuerySet
from core.permissions import SHARED, OwnedBy, RestrictedQuerySet
from inventory.choices import DatasetFlag, JobState, Relation, RevenueBand, ReviewStatus, Source

commit_validator = RegexValidator(r"^[0-9a-f]{40}$", "A commit is 40 lowercase hex characters.")
sha256_validator = RegexValidator(r"^[0-9a-f]{64}$", "A sha256 is 64 lowercase hex characters.")


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class NamedModel(TimestampedModel):
    """A name shown to people and a slug for URLs and the CLI, derived from the name when left empty."""

    name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=150, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self._derive_slug()
        super().save(*args, **kwargs)

    def full_clean(self, *args: Any, **kwargs: Any) -> None:
        self._derive_slug()
        super().full_clean(*args, **kwargs)

    def _derive_slug(self) -> None:
        if not self.slug:
            self.slug = slugify(self.name)[:150]


class OrganizationQuerySet(RestrictedQuerySet["Organization"]):
    pass


class Organization(NamedModel):
    """A team or business unit; organizations form a tree under the root."""

    # What people edit (web form, API, the save service): one list.
    EDITABLE_FIELDS = ("name", "slug", "parent", "description")

    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")

    SCOPE = ("pk",)
    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def get_absolute_url(self) -> str:
        return reverse("inventory:organization_detail", args=[self.pk])

    def ancestors(self) -> list[Organization]:
        """From the root down to the parent (bounded against accidental cycles)."""
        chain: list[Organization] = []
        node = self.parent
        while node is not None and len(chain) < 64:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))

    def descendant_ids(self) -> set[int]:
        """This organization and every organization below it."""
        ids = {self.pk}
        frontier = [self.pk]
        while frontier:
            frontier = list(Organization.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
            frontier = [i for i in frontier if i not in ids]
            ids.update(frontier)
        return ids


class ApplicationQuerySet(RestrictedQuerySet["Application"]):
    pass


class Application(NamedModel):
    """A product that consumes models, with the use profile that license obligations are judged against."""

    # What people edit (web form, API, the save service): one list.
    EDITABLE_FIELDS = (
        "name",
        "slug",
        "organization",
        "description",
        "commercial_use",
        "distributes_model",
        "monthly_active_users",
        "annual_revenue_band",
        "serves_eu_users",
        "trains_on_outputs",
    )

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="applications")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Use profile
    commercial_use = models.BooleanField(default=True, help_text="Used in a commercial product or service.")
    distributes_model = models.BooleanField(default=False, help_text="Ships the model weights to third parties.")
    monthly_active_users = models.PositiveBigIntegerField(default=0, help_text="Expected monthly active users.")
    annual_revenue_band = models.CharField(max_length=8, choices=RevenueBand.choices, default=RevenueBand.UNDER_10M)
    serves_eu_users = models.BooleanField(default=False, help_text="Has users domiciled in the EU.")
    trains_on_outputs = models.BooleanField(default=False, help_text="Uses model outputs to train other models.")

    SCOPE = ("organization",)
    objects = ApplicationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def get_absolute_url(self) -> str:
        return reverse("inventory:application_detail", args=[self.pk])

    def use_profile(self) -> dict[str, Any]:
        return {
            "commercial_use": self.commercial_use,
            "distributes_model": self.distributes_model,
            "monthly_active_users": self.monthly_active_users,
            "annual_revenue_band": self.annual_revenue_band,
            "serves_eu_users": self.serves_eu_users,
            "trains_on_outputs": self.trains_on_outputs,
        }


class ModelQuerySet(RestrictedQuerySet["Model"]):
    def real(self) -> ModelQuerySet:
        return self.filter(is_placeholder=False)


class Model(TimestampedModel):
    """A model repository. Placeholders stand for bases or relatives not imported yet."""

    source = models.CharField(max_length=8, choices=Source.choices, default=Source.HUB)
    repo_id = models.CharField(max_length=200, help_text="namespace/name on the Hub, or a local name.")
    author = models.CharField(max_length=100, blank=True)
    tags = models.JSONField(default=list, blank=True)
    pipeline_tag = models.CharField(max_length=80, blank=True)
    library_name = models.CharField(max_length=80, blank=True)
    gated = models.CharField(max_length=10, blank=True, help_text="'', 'auto' or 'manual' as on the Hub.")
    private = models.BooleanField(default=False)
    downloads = models.PositiveBigIntegerField(default=0)
    likes = models.PositiveBigIntegerField(default=0)
    hub_created_at = models.DateTimeField(null=True, blank=True)
    hub_last_modified = models.DateTimeField(null=True, blank=True)
    card_data = models.JSONField(default=dict, blank=True)
    card_markdown = models.TextField(blank=True)
    is_placeholder = models.BooleanField(default=False, db_index=True)
    latest_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    SCOPE = SHARED
    objects = ModelQuerySet.as_manager()

    class Meta:
        ordering = ["repo_id"]
        constraints = [models.UniqueConstraint(fields=["source", "repo_id"], name="model_unique_source_repo")]
        permissions = [("import_model", "Can import models and versions")]

    def __str__(self) -> str:
        return self.repo_id

    def get_absolute_url(self) -> str:
        return reverse("inventory:model_detail", args=[self.pk])

    @property
    def hub_url(self) -> str:
        if self.source != Source.HUB:
            return ""
        return f"{settings.HF_ENDPOINT.rstrip('/')}/{self.repo_id}"

    @property
    def name(self) -> str:
        return self.repo_id.rsplit("/", 1)[-1]


class ModelVersionQuerySet(RestrictedQuerySet["ModelVersion"]):
    def latest_per_model(self) -> ModelVersionQuerySet:
        return self.order_by("model_id", "-imported_at")


class ModelVersion(models.Model):
    """One pinned commit of a model, with the card as it was at that commit."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="versions")
    commit = models.CharField(max_length=40, validators=[commit_validator])
    ref = models.CharField(max_length=200, blank=True, help_text="The revision asked for (branch, tag, sha).")
    imported_at = models.DateTimeField(auto_now_add=True, db_index=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_status = models.CharField(
        max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.PENDING, db_index=True
    )
    card_data = models.JSONField(default=dict, blank=True)
    card_markdown = models.TextField(blank=True)
    card_error = models.CharField(max_length=300, blank=True, help_text="Why the card metadata could not be read.")
    local_path = models.CharField(max_length=1000, blank=True, help_text="Folder a local import was read from.")
    total_size = models.PositiveBigIntegerField(default=0)
    # Denormalised for lists and filters; written by the licenses and scanning apps.
    license_expression = models.CharField(max_length=300, blank=True, db_index=True)
    scan_verdict = models.CharField(max_length=12, blank=True, db_index=True)
    datasets: models.ManyToManyField[Dataset, Any] = models.ManyToManyField(
        "Dataset", blank=True, related_name="versions"
    )

    SCOPE = SHARED
    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-imported_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["model", "commit"], name="version_unique_commit")]

    def __str__(self) -> str:
        return f"{self.model.repo_id}@{self.short_commit}"

    def get_absolute_url(self) -> str:
        return reverse("inventory:version_detail", args=[self.pk])

    @property
    def short_commit(self) -> str:
        return self.commit[:10]


class ModelFileQuerySet(RestrictedQuerySet["ModelFile"]):
    pass


class ModelFile(models.Model):
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1000)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True, validators=[sha256_validator])
    blob_id = models.CharField(max_length=64, blank=True, help_text="Git blob id (sha1) on the Hub.")
    is_lfs = models.BooleanField(default=False)
    format = models.CharField(max_length=40, blank=True, help_text="Detected by content when scanned; guessed before.")

    SCOPE = SHARED
    objects = ModelFileQuerySet.as_manager()

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["version", "path"], name="file_unique_path")]

    def __str__(self) -> str:
        return self.path


class BaseModelLinkQuerySet(TrackedQuerySet["BaseModelLink"]):
    pass


class BaseModelLink(models.Model):
    """Lineage: this version was derived from `base` by `relation`."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="base_links")
    base = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="derived_links")
    relation = models.CharField(max_length=10, choices=Relation.choices, default=Relation.UNKNOWN)

    objects = BaseModelLinkQuerySet.as_manager()

    class Meta:
        ordering = ["base__repo_id"]
        constraints = [models.UniqueConstraint(fields=["version", "base"], name="lineage_unique_base")]

    def __str__(self) -> str:
        return f"{self.version} ← {self.relation} ← {self.base}"


class DatasetQuerySet(RestrictedQuerySet["Dataset"]):
    pass


class Dataset(TimestampedModel):
    """A training dataset named by a card; flags are set by reviewers (or imported)."""

    repo_id = models.CharField(max_length=200, unique=True)
    flags = models.JSONField(default=list, blank=True, help_text=f"Any of: {', '.join(DatasetFlag.values)}")
    license = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True)

    SCOPE = SHARED
    objects = DatasetQuerySet.as_manager()

    class Meta:
        ordering = ["repo_id"]

    def __str__(self) -> str:
        return self.repo_id

    def get_absolute_url(self) -> str:
        return reverse("inventory:dataset_detail", args=[self.pk])


class ApplicationModel(models.Model):
    """An application uses a model version."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="usages")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="usages")
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.CharField(max_length=300, blank=True)

    SCOPE = ("application__organization",)
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["application__name"]
        constraints = [models.UniqueConstraint(fields=["application", "version"], name="usage_unique")]

    def __str__(self) -> str:
        return f"{self.application} uses {self.version}"


class ImportJobQuerySet(RestrictedQuerySet["ImportJob"]):
    def active(self) -> ImportJobQuerySet:
        return self.filter(state__in=JobState.active())


class ImportJob(models.Model):
    """One import request: the row the task advances and the page polls."""

    source = models.CharField(max_length=8, choices=Source.choices, default=Source.HUB)
    repo_id = models.CharField(max_length=200, blank=True)
    revision = models.CharField(max_length=200, default="main")
    local_path = models.CharField(max_length=1000, blank=True)
    confined = models.BooleanField(
        default=True,
        help_text="Read only below MODELGATE_LOCAL_IMPORT_ROOTS, checked when the worker reads (off for the CLI).",
    )
    application = models.ForeignKey(Application, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED, db_index=True)
    step = models.CharField(max_length=200, blank=True, help_text="What the job is doing now.")
    error = models.TextField(blank=True)
    error_kind = models.CharField(max_length=40, blank=True)
    attempts = models.PositiveIntegerField(default=0, validators=[MinValueValidator(0)])
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_version = models.BooleanField(default=False, help_text="False when the commit was already imported.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    SCOPE = ("application__organization", OwnedBy("requested_by"))
    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.target} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("inventory:importjob_detail", args=[self.pk])

    @property
    def target(self) -> str:
        if self.source == Source.LOCAL:
            return self.repo_id or self.local_path
        return f"{self.repo_id}@{self.revision}"

    @property
    def is_active(self) -> bool:
        return self.state in JobState.active()


class Watch(TimestampedModel):
    """Import new commits of `model` on `ref` periodically."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="watches")
    ref = models.CharField(max_length=200, default="main")
    application = models.ForeignKey(Application, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    enabled = models.BooleanField(default=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_commit = models.CharField(max_length=40, blank=True)
    last_error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    SCOPE = ("application__organization", OwnedBy("created_by"))
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["model__repo_id", "ref"]
        constraints = [models.UniqueConstraint(fields=["model", "ref"], name="watch_unique_ref")]

    def __str__(self) -> str:
        return f"watch {self.model}@{self.ref}"
