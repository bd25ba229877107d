"""Scanning: one `ScanRun` per scan of a version, its per-file results and its `Finding`s.

Background work is a row (STYLE.md §8): `services.request_scan` creates a queued run, the Celery
task advances it (progress in files and bytes), the version page polls it while it is active.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Case, IntegerField, Q, Value, When
from django.urls import reverse

from core.permissions import SHARED, RestrictedQuerySet
from inventory.models import ModelFile, ModelVersion
from scanning.choices import FindingCategory, FindingSeverity, ScanState, ScanTrigger, ScanVerdict


class ScanRunQuerySet(RestrictedQuerySet["ScanRun"]):
    def active(self) -> ScanRunQuerySet:
        return self.filter(state__in=ScanState.active())

    def finished(self) -> ScanRunQuerySet:
        return self.filter(state__in=(ScanState.SUCCEEDED, ScanState.FAILED))

    def latest_first(self) -> ScanRunQuerySet:
        return self.order_by("-created_at", "-id")


class ScanRun(models.Model):
    """One scan of every file of a version, by one scanner and rules version."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="scan_runs")
    state = models.CharField(max_length=10, choices=ScanState.choices, default=ScanState.QUEUED, db_index=True)
    verdict = models.CharField(
        max_length=12,
        choices=ScanVerdict.choices,
        blank=True,
        db_index=True,
        help_text="Worst verdict over the files; blank until the run succeeds.",
    )
    trigger = models.CharField(max_length=14, choices=ScanTrigger.choices, default=ScanTrigger.IMPORT)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Progress (written after every file).
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    bytes_total = models.PositiveBigIntegerField(default=0)
    bytes_done = models.PositiveBigIntegerField(default=0)
    bytes_read = models.PositiveBigIntegerField(default=0, help_text="Bytes the scanners actually read.")
    bytes_transferred = models.PositiveBigIntegerField(default=0, help_text="Bytes fetched from the Hub (remote).")
    current_path = models.CharField(max_length=1000, blank=True, help_text="File being scanned now.")
    finding_count = models.PositiveIntegerField(default=0)
    # Timings and provenance.
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.DurationField(null=True, blank=True)
    scanner_version = models.CharField(max_length=40, blank=True)
    rules_version = models.CharField(max_length=40, blank=True, db_index=True)
    remote = models.BooleanField(default=False, help_text="Read from the Hub with range requests.")
    error = models.TextField(blank=True)
    error_kind = models.CharField(max_length=60, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=120, blank=True, help_text="The worker attempt that holds the run.")
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="Renewed while the owner works; a stale one is taken over."
    )

    SCOPE = SHARED
    objects = ScanRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("run_scan", "Can request scans of model versions")]
        indexes = [
            models.Index(fields=["version", "-id"], name="scanrun_version_latest"),
            models.Index(fields=["version", "state", "-id"], name="scanrun_version_state"),
        ]
        constraints = [
            # Invariant: at most one queued/running run per version (request_scan refuses a second one).
            models.UniqueConstraint(
                fields=["version"], condition=Q(state__in=["queued", "running"]), name="scanrun_one_active_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"scan #{self.pk} of {self.version_id} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("scanning:scanrun_detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.state in ScanState.active()

    @property
    def percent(self) -> int:
        """Progress in bytes (files when sizes are unknown), 0 to 100."""
        if self.state == ScanState.SUCCEEDED:
            return 100
        if self.bytes_total:
            return min(100, int(100 * self.bytes_done / self.bytes_total))
        if self.files_total:
            return min(100, int(100 * self.files_done / self.files_total))
        return 0

    @property
    def transfer_ratio(self) -> float | None:
        """Share of the repo's bytes fetched over HTTP by a remote scan."""
        if not self.remote or not self.bytes_total:
            return None
        return self.bytes_transferred / self.bytes_total

    @property
    def elapsed(self) -> timedelta | None:
        return self.duration


class FindingQuerySet(RestrictedQuerySet["Finding"]):
    def by_severity(self) -> FindingQuerySet:
        rank = Case(
            *[When(severity=s, then=Value(FindingSeverity.rank(s))) for s in FindingSeverity.values],
            default=Value(0),
            output_field=IntegerField(),
        )
        return self.annotate(severity_rank=rank).order_by("-severity_rank", "path", "id")


class Finding(models.Model):
    """One thing a scanner reported about one file (or a member inside it)."""

    # Deleted only in bulk (querysets move the data generation): no post_delete receiver, so a rescan or a
    # cascade deletes these rows in one statement instead of loading each one (core/apps.py).
    DELETED_IN_BULK = True

    scan_run = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="findings")
    file = models.ForeignKey(ModelFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="findings")
    path = models.CharField(max_length=1000, help_text="Repo path of the file.")
    rule = models.CharField(max_length=100, db_index=True)
    category = models.CharField(max_length=20, choices=FindingCategory.choices, db_index=True)
    severity = models.CharField(max_length=10, choices=FindingSeverity.choices, db_index=True)
    verdict = models.CharField(max_length=12, choices=ScanVerdict.choices)
    message = models.TextField()
    evidence = models.TextField(blank=True, help_text="Reconstructed call as pseudo-Python, offending header, …")
    member = models.CharField(max_length=1000, blank=True, help_text="Archive member or nested path.")
    offset = models.PositiveBigIntegerField(null=True, blank=True, help_text="Byte offset within the member or file.")

    SCOPE = SHARED
    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["scan_run", "path", "id"]
        indexes = [models.Index(fields=["scan_run", "path"], name="finding_run_path")]

    def __str__(self) -> str:
        return f"{self.rule} in {self.path}"

    @property
    def severity_badge(self) -> str:
        return FindingSeverity.badge(self.severity)

    def as_contract(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "category": self.category,
            "severity": self.severity,
            "message": self.message,
            "evidence": self.evidence,
        }


class ScanFileResult(models.Model):
    """The outcome for one file of a run: detected format, verdict, identity, cost."""

    # Deleted only in bulk (querysets move the data generation): no post_delete receiver, so a rescan or a
    # cascade deletes these rows in one statement instead of loading each one (core/apps.py).
    DELETED_IN_BULK = True

    scan_run = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="file_results")
    file = models.ForeignKey(ModelFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="scan_results")
    path = models.CharField(max_length=1000)
    format = models.CharField(max_length=40, blank=True, help_text="Detected by content.")
    verdict = models.CharField(max_length=12, choices=ScanVerdict.choices)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    bytes_read = models.PositiveBigIntegerField(default=0)
    bytes_transferred = models.PositiveBigIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    finding_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    SCOPE = SHARED
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["scan_run", "path"]
        constraints = [models.UniqueConstraint(fields=["scan_run", "path"], name="scanfileresult_unique_path")]

    def __str__(self) -> str:
        return f"{self.path}: {self.verdict}"
