from django.db import models


class ThreatGroup(models.TextChoices):
    PERMISSIVE = "permissive", "Permissive"
    WEAK_COPYLEFT = "weak-copyleft", "Weak copyleft"
    COPYLEFT = "copyleft", "Copyleft"
    AI_RESTRICTED = "ai-restricted", "AI-restricted"
    NON_COMMERCIAL = "non-commercial", "Non-commercial"
    PROPRIETARY = "proprietary", "Proprietary"
    UNKNOWN = "unknown", "Unknown"


class AnalysisState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"

    @classmethod
    def active(cls) -> tuple[str, str]:
        return (cls.QUEUED, cls.RUNNING)


class MatchKind(models.TextChoices):
    EXACT = "exact", "Exact text"
    MODIFIED = "modified", "Modified text"
    HEADER = "header", "Text with header"
    PARTIAL = "partial", "Partial text"
    REFERENCE = "reference", "Reference"
    POLICY = "policy", "Usage policy"
    GATED_PROMPT = "gated-prompt", "Gated prompt"


class Layer(models.TextChoices):
    DECLARED = "declared", "Declared"
    OBSERVED = "observed", "Observed"
    INHERITED = "inherited", "Inherited"


class ConclusionStatus(models.TextChoices):
    """Sonatype's license-status vocabulary."""

    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    SELECTED = "selected", "Selected"
    OVERRIDDEN = "overridden", "Overridden"
    CONFIRMED = "confirmed", "Confirmed"

    @classmethod
    def deciding(cls) -> tuple[str, str, str]:
        """Statuses whose license expression replaces the detected effective license."""
        return (cls.SELECTED, cls.OVERRIDDEN, cls.CONFIRMED)


class ChecklistStatus(models.TextChoices):
    OPEN = "open", "Open"
    FULFILLED = "fulfilled", "Fulfilled"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
