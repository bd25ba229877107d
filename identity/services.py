"""Use cases of CI tokens: create (the secret is returned once), revoke, authenticate."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core import generation
from core.models import AuditAction
from core.permissions import require
from core.services import record_event
from identity.choices import Capability
from identity.models import CIPrincipal, CIToken
from inventory.models import Application, Organization

TOKEN_PREFIX = "mg_"  # noqa: S105 - the public marker of a token, not a secret
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per token per minute


def max_token_days() -> int:
    return int(getattr(settings, "MODELGATE_CI_TOKEN_MAX_DAYS", 365))


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def split_token(raw: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed `mg_<prefix>_<secret>`, else None."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(prefix) != 8 or not prefix.isalnum() or len(secret) < 32:
        return None
    return prefix, secret


def _snapshot(token: CIToken) -> dict[str, Any]:
    return {
        "name": token.name,
        "prefix": token.prefix,
        "capability": token.capability,
        "application": token.application_id,
        "organization": token.organization_id,
        "expires_at": token.expires_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def create_token(
    *,
    user: Any,
    name: str,
    capability: str,
    expires_on: date,
    application: Application | None = None,
    organization: Organization | None = None,
) -> tuple[CIToken, str]:
    """A new token and its secret. The secret is not stored: show it once and forget it.

    The token expires at the end of `expires_on` (UTC), at most MODELGATE_CI_TOKEN_MAX_DAYS ahead.
    """
    require(user, "identity.add_citoken")
    if (application is None) == (organization is None):
        raise ValidationError("A token is scoped to exactly one application or one organization.")
    if capability not in Capability.values:
        raise ValidationError({"capability": f"One of {', '.join(Capability.values)}."})
    scope_model = Application if application is not None else Organization
    scope = application or organization
    assert scope is not None
    if not scope_model.objects.restrict(user).filter(pk=scope.pk).exists():
        raise ValidationError("You cannot see that application or organization.")
    # A membership role acts only inside its organizations: the token's scope must lie there.
    require(user, "identity.add_citoken", scope)
    if capability == Capability.GATE:
        require(user, "policies.use_gate", scope)  # a token never holds more than its creator
    today = timezone.now().astimezone(UTC).date()
    if expires_on < today:
        raise ValidationError({"expires_on": "The expiry date is in the past."})
    if expires_on > today + timedelta(days=max_token_days()):
        raise ValidationError({"expires_on": f"A token lives at most {max_token_days()} days."})
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the token after what uses it."})

    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = CIToken.objects.create(
            name=name[:100],
            prefix=prefix,
            secret_hash=hash_token(raw),
            capability=capability,
            application=application,
            organization=organization,
            created_by=user,
            expires_at=datetime.combine(expires_on, time.max, tzinfo=UTC),
        )
        record_event(actor=user, action=AuditAction.CITOKEN_CREATE, target=token, after=_snapshot(token))
    return token, raw


def revoke_token(*, user: Any, token: CIToken, reason: str = "") -> CIToken:
    require(user, "identity.revoke_citoken", token)
    with transaction.atomic():
        token = CIToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            raise ValidationError("This token is already revoked.")
        before = _snapshot(token)
        token.revoked_at = timezone.now()
        token.revoked_by = user
        token.save(update_fields=["revoked_at", "revoked_by"])
        record_event(
            actor=user,
            action=AuditAction.CITOKEN_REVOKE,
            target=token,
            reason=reason,
            before=before,
            after=_snapshot(token),
        )
    return token


def authenticate_token(*, raw: str) -> CIPrincipal | None:
    """The principal of a valid token (active, unexpired, creator still active), else None.

    The lookup is by the visible prefix; the secret is compared by hash in constant time.
    """
    parts = split_token(raw)
    if parts is None:
        return None
    token, perms = _token_for(parts[0])
    if token is None or not hmac.compare_digest(token.secret_hash, hash_token(raw)):
        return None
    now = timezone.now()
    if token.revoked_at is not None or token.expires_at <= now:
        return None
    if token.created_by is None or not token.created_by.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        CIToken.objects.untracked().filter(pk=token.pk).update(last_used_at=now)  # bookkeeping
        token.last_used_at = now
    principal = CIPrincipal.for_token(token)
    for attr, value in perms.items():
        setattr(principal, attr, value)
    return principal


# Tokens as loaded for the current data generation, with their creator's permissions: a pipeline calling
# the gate every few seconds does not re-read them. Creating or revoking a token, or changing its creator,
# moves the generation (core/generation.py); expiry and the secret are checked on every call.
_TOKEN_MEMO_SIZE = 512
_token_memo: OrderedDict[tuple[str, int], tuple[CIToken | None, dict[str, Any]]] = OrderedDict()
_token_memo_lock = threading.Lock()
_PERM_ATTRS = ("_perm_cache", "_user_perm_cache", "_group_perm_cache", "_membership_scope_cache")


def _token_for(prefix: str) -> tuple[CIToken | None, dict[str, Any]]:
    key = (prefix, generation.current())
    with _token_memo_lock:
        found = _token_memo.get(key)
    if found is not None:
        return found
    token = CIToken.objects.select_related("created_by", "application", "organization").filter(prefix=prefix).first()
    perms: dict[str, Any] = {}
    if token is not None and token.created_by is not None and token.created_by.is_active:
        probe = CIPrincipal.for_token(token)
        probe.get_all_permissions()  # the creator's role and memberships, computed once
        perms = {a: getattr(probe, a) for a in _PERM_ATTRS if hasattr(probe, a)}
    with _token_memo_lock:
        _token_memo[key] = (token, perms)
        while len(_token_memo) > _TOKEN_MEMO_SIZE:
            _token_memo.popitem(last=False)
    return token, perms


def gate_application(*, user: Any, application: Application | None) -> Application | None:
    """The application the gate answers for. Unchanged for people; for a token, inside its scope.

    An application token answers for its application when none is named; an organization token must
    name one of its applications. Anything else is refused (PermissionDenied).
    """
    token: CIToken | None = getattr(user, "ci_token", None)
    if token is None:
        return application
    if application is None:
        if token.application is not None:
            return token.application
        raise PermissionDenied("An organization token must name the application (one of its organization's).")
    if not token.covers_application(application):
        raise PermissionDenied("This token is not valid for that application.")
    return application
