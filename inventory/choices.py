from django.db import models

# How every page, export and notification names the context of a violation with no application: the
# installation-wide inventory. It is not an organization and is never listed as one.
NO_APPLICATION = "No application (inventory)"


class Source(models.TextChoices):
    HUB = "hub", "Hugging Face Hub"
    LOCAL = "local", "Local folder"


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Relation(models.TextChoices):
    FINETUNE = "finetune", "Fine-tune"
    ADAPTER = "adapter", "Adapter"
    QUANTIZED = "quantized", "Quantized"
    MERGE = "merge", "Merge"
    UNKNOWN = "unknown", "Unknown"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"

    @classmethod
    def active(cls) -> tuple[str, str]:
        return (cls.QUEUED, cls.RUNNING)


class RevenueBand(models.TextChoices):
    UNDER_1M = "lt1m", "Under $1M"
    UNDER_10M = "lt10m", "$1M–$10M"
    UNDER_100M = "lt100m", "$10M–$100M"
    UNDER_1B = "lt1b", "$100M–$1B"
    OVER_1B = "gte1b", "$1B or more"

    @classmethod
    def upper_bound(cls, band: str) -> float:
        """Highest annual revenue (USD) the band allows; used against revenue thresholds."""
        return {
            cls.UNDER_1M: 1e6,
            cls.UNDER_10M: 1e7,
            cls.UNDER_100M: 1e8,
            cls.UNDER_1B: 1e9,
            cls.OVER_1B: float("inf"),
        }[cls(band)]


class DatasetFlag(models.TextChoices):
    NSFW = "nsfw", "NSFW content"
    BIAS = "bias", "Known bias"
    PII = "pii", "Personal data (PII)"
    LICENSE = "license", "License issue"
    DENYLISTED = "denylisted", "Denylisted"
