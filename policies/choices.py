"""Choices of the policies app: stages, actions, bands, categories, operators, states."""

from __future__ import annotations

from django.db import models


class Stage(models.TextChoices):
    """Sonatype Lifecycle's stages, in pipeline order."""

    PROXY = "proxy", "Proxy"
    DEVELOP = "develop", "Develop"
    SOURCE = "source", "Source"
    BUILD = "build", "Build"
    STAGE_RELEASE = "stage-release", "Stage release"
    RELEASE = "release", "Release"
    OPERATE = "operate", "Operate"

    @classmethod
    def field_name(cls, stage: str) -> str:
        """Policy field holding the action of `stage` (`action_stage_release` for "stage-release")."""
        return "action_" + cls(stage).value.replace("-", "_")


class Action(models.TextChoices):
    NONE = "none", "None"
    WARN = "warn", "Warn"
    FAIL = "fail", "Fail"

    @classmethod
    def strength(cls, action: str) -> int:
        return {cls.NONE: 0, cls.WARN: 1, cls.FAIL: 2}[cls(action)]

    @classmethod
    def strongest(cls, actions: list[str] | set[str] | tuple[str, ...]) -> str:
        best = cls.NONE.value
        for action in actions:
            if cls.strength(action) > cls.strength(best):
                best = action
        return best


class ScopeKind(models.TextChoices):
    ROOT = "root", "Root (everything)"
    ORGANIZATION = "organization", "Organization"
    APPLICATION = "application", "Application"


class Match(models.TextChoices):
    ANY = "any", "Any condition"
    ALL = "all", "All conditions"


class Operator(models.TextChoices):
    IS = "is", "is"
    IS_NOT = "is_not", "is not"
    IN = "in", "is in"
    NOT_IN = "not_in", "is not in"
    MATCHES = "matches", "matches (glob)"
    MATCHES_REGEX = "matches_regex", "matches (regex)"
    CONTAINS_ANY = "contains_any", "contains any of"
    CONTAINS_ALL = "contains_all", "contains all of"
    CONTAINS_NONE = "contains_none", "contains none of"
    GT = "gt", ">"
    GTE = "gte", "≥"
    LT = "lt", "<"
    LTE = "lte", "≤"
    OLDER_THAN = "older_than", "older than (days)"
    WITHIN = "within", "within (days)"
    EXISTS = "exists", "exists"
    MISSING = "missing", "is missing"


class ViolationState(models.TextChoices):
    OPEN = "open", "Open"
    WAIVED = "waived", "Waived"
    RESOLVED = "resolved", "Resolved"


class WaiverScope(models.TextChoices):
    VERSION = "version", "This revision"
    MODEL = "model", "All revisions of this model"
    ALL = "all", "All models"


class WaiverState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class Decision(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


WAIVER_EXPIRY_PRESETS: list[int] = [7, 30, 90, 180, 365]


class DismissReason(models.TextChoices):
    """Why a triage row is dismissed. "Accepted risk" is listed so it can be refused with the reason:
    accepting a risk is a waiver (an expiry and a second person's approval), not a dismissal."""

    FALSE_POSITIVE = "false_positive", "False positive"
    NOT_APPLICABLE = "not_applicable", "Not applicable to our use"
    DUPLICATE = "duplicate", "Duplicate"
    ACCEPTED_RISK = "accepted_risk", "Accepted risk (use a waiver instead)"
