"""Vocabulary shared by every layer: the threat bands and the policy categories (one rule each)."""

from __future__ import annotations

from django.db import models


class Band(models.TextChoices):
    """Sonatype's bands of a threat level: 8–10 critical, 4–7 severe, 2–3 moderate, 1 low, 0 none."""

    CRITICAL = "critical", "Critical 8–10"
    SEVERE = "severe", "Severe 4–7"
    MODERATE = "moderate", "Moderate 2–3"
    LOW = "low", "Low 1"
    NONE = "none", "None 0"

    @classmethod
    def of(cls, threat_level: int | None) -> Band:
        """The band of a threat level (None, as for a violation without a policy, is none)."""
        level = threat_level or 0
        if level >= 8:
            return cls.CRITICAL
        if level >= 4:
            return cls.SEVERE
        if level >= 2:
            return cls.MODERATE
        if level == 1:
            return cls.LOW
        return cls.NONE

    @classmethod
    def levels(cls, band: str) -> tuple[int, int]:
        """Inclusive threat-level range of a band."""
        return {
            cls.CRITICAL: (8, 10),
            cls.SEVERE: (4, 7),
            cls.MODERATE: (2, 3),
            cls.LOW: (1, 1),
            cls.NONE: (0, 0),
        }[cls(band)]

    @classmethod
    def max_waiver_days(cls, band: str) -> int:
        """Longest waiver allowed for a policy of this band."""
        return {cls.CRITICAL: 30, cls.SEVERE: 90}.get(cls(band), 365)


class Category(models.TextChoices):
    """Derived from the facts a policy looks at: security > legal > quality > other."""

    SECURITY = "security", "Security"
    LEGAL = "legal", "Legal"
    QUALITY = "quality", "Quality"
    OTHER = "other", "Other"
