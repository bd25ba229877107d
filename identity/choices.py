"""Choices of the identity app."""

from __future__ import annotations

from django.db import models


class Capability(models.TextChoices):
    GATE = "gate", "Gate only (POST /api/v1/gate)"
    READ = "read", "Read only (safe API methods)"


class TokenState(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"
