"""Choices of the scanning app. Values match the scanner contract (scanning/scanners/base.py, DESIGN.md)."""

from __future__ import annotations

from django.db import models

from inventory.choices import JobState

# A scan run has the same lifecycle as an import job: one set of states (and one OpenAPI enum).
ScanState = JobState


class ScanVerdict(models.TextChoices):
    """Ordered by `rank`: a run's verdict is the maximum over its files (as `Verdict` in the scanners)."""

    SAFE = "safe", "Safe"
    SUSPICIOUS = "suspicious", "Suspicious"
    UNSCANNABLE = "unscannable", "Unscannable"
    MALICIOUS = "malicious", "Malicious"

    @classmethod
    def rank(cls, value: str) -> int:
        order: dict[str, int] = {"safe": 0, "suspicious": 1, "unscannable": 2, "malicious": 3}
        return order.get(value, -1)

    @classmethod
    def worst(cls, values: list[str]) -> str:
        return max(values, key=cls.rank, default=cls.SAFE)


class ScanTrigger(models.TextChoices):
    IMPORT = "import", "After import"
    MANUAL = "manual", "Requested"
    RULES_CHANGED = "rules-changed", "Rules changed"


class FindingCategory(models.TextChoices):
    CODE_EXECUTION = "code-execution", "Code execution"
    PROCESS = "process", "Process"
    NETWORK = "network", "Network"
    FILESYSTEM = "filesystem", "Filesystem"
    OBFUSCATION = "obfuscation", "Obfuscation"
    FORMAT_ABUSE = "format-abuse", "Format abuse"
    REMOTE_CODE = "remote-code", "Remote code"
    UNSCANNABLE = "unscannable", "Unscannable"


class FindingSeverity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    INFO = "info", "Info"

    @classmethod
    def rank(cls, value: str) -> int:
        order: dict[str, int] = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
        return order.get(value, 0)

    @classmethod
    def badge(cls, value: str) -> str:
        """The CSS badge of a severity (the stylesheet speaks in policy bands)."""
        badges: dict[str, str] = {"critical": "critical", "high": "severe", "medium": "moderate", "low": "low"}
        return badges.get(value, "info")
