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


class MembershipSource(models.TextChoices):
    """Who holds a membership: an administrator in the app, or a directory that re-syncs it at login."""

    MANUAL = "manual", "Granted in Modelgate"
    OIDC = "oidc", "From the identity provider's groups (re-synced at each login)"
    LDAP = "ldap", "From LDAP groups (re-synced at each login)"
