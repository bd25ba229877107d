"""Notifications: email (Django's email backend) and webhooks (HMAC-SHA256-signed JSON, retried with backoff).

Two ways in:

1. `notify(event, target=…, context={…})` — for any app that wants to announce something. It
   queues one `WebhookDelivery` per interested webhook and an email task, both after commit.
2. The feed (`process_feed`, a beat task every minute) derives events from what other apps already
   record, without them calling us: new audit events by id watermark (`waiver.request`,
   `waiver.approve|reject|revoke`, `waiver.expire`, `version.approve|reject|reopen`, `scan.failed`),
   new open violations of a policy with a `fail` action (violation id watermark) and failed scan
   runs (finish-time watermark). Watermarks start at "now" the first time, so history is not replayed.

Each user chooses in their preferences which events they receive by email at once, and whether they
get the daily digest (the default when they have chosen nothing). A user only receives events about
things their role may see.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import models, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from core.choices import Band
from core.models import AuditAction, AuditEvent
from core.permissions import has_perm, in_scope, organization_scope
from core.services import record_event
from governance.models import (
    DeliveryState,
    NotificationCursor,
    NotificationEvent,
    NotificationPreference,
    RiskSnapshot,
    Webhook,
    WebhookDelivery,
)
from inventory.choices import NO_APPLICATION
from inventory.models import ModelVersion
from policies import triage
from policies.models import Violation, Waiver
from policies.services.waivers import mark_reminded, waivers_due_for_reminder
from scanning.models import ScanRun

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Modelgate-Signature"
MAX_ATTEMPTS = 6
BACKOFF_BASE = 30  # seconds: 30, 60, 120, 240, 480 between the six attempts
BACKOFF_CAP = 3600
TIMEOUT = 10
DELIVERY_FAILED = "delivery failed"

# The permission a user needs to receive an event (they must be allowed to see its subject).
EVENT_PERMS: dict[str, str] = {
    NotificationEvent.VIOLATION_FAIL: "policies.view_violation",
    NotificationEvent.WAIVER_REQUEST: "policies.view_waiver",
    NotificationEvent.WAIVER_DECISION: "policies.view_waiver",
    NotificationEvent.WAIVER_EXPIRING: "policies.view_waiver",
    NotificationEvent.VERSION_DECISION: "inventory.view_modelversion",
    NotificationEvent.SCAN_FAILED: "scanning.view_scanrun",
}
DIGEST_PERM = "governance.view_overview"

# Audit actions → events (checked against `grep -rn 'action=' */services.py`).
AUDIT_ACTIONS: dict[str, str] = {
    "waiver.request": NotificationEvent.WAIVER_REQUEST,
    "waiver.approve": NotificationEvent.WAIVER_DECISION,
    "waiver.reject": NotificationEvent.WAIVER_DECISION,
    "waiver.revoke": NotificationEvent.WAIVER_DECISION,
    "waiver.expire": NotificationEvent.WAIVER_EXPIRING,
    "version.approve": NotificationEvent.VERSION_DECISION,
    "version.reject": NotificationEvent.VERSION_DECISION,
    "version.reopen": NotificationEvent.VERSION_DECISION,
    "scan.failed": NotificationEvent.SCAN_FAILED,
    "scan.fail": NotificationEvent.SCAN_FAILED,
}
ALL_EVENTS = list(NotificationEvent.values)


def site_url(path: str = "") -> str:
    return settings.MODELGATE_SITE_URL.rstrip("/") + path


def sign(secret: str, body: bytes) -> str:
    """The value of the X-Modelgate-Signature header: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """For receivers (and tests): constant-time check of a signature header."""
    return hmac.compare_digest(sign(secret, body), header or "")


def new_secret() -> str:
    return secrets.token_hex(32)


# --- preferences ---------------------------------------------------------------------------------


def events_for(user: Any) -> list[str]:
    """Events this user's role lets them receive."""
    return [e for e in ALL_EVENTS if has_perm(user, EVENT_PERMS[e])]


def can_receive(user: Any) -> bool:
    return bool(events_for(user)) or has_perm(user, DIGEST_PERM)


@dataclass
class Preferences:
    email_events: list[str]
    daily_digest: bool


def preferences_of(user: Any) -> Preferences:
    pref = NotificationPreference.objects.filter(user=user).first()
    if pref is None:
        return Preferences(email_events=[], daily_digest=has_perm(user, DIGEST_PERM))
    return Preferences(email_events=list(pref.email_events or []), daily_digest=pref.daily_digest)


@transaction.atomic
def set_preferences(*, user: Any, email_events: list[str], daily_digest: bool) -> NotificationPreference:
    """Store a user's own choices; events their role cannot receive are dropped."""
    allowed = set(events_for(user))
    chosen = [e for e in ALL_EVENTS if e in set(email_events) and e in allowed]
    pref, _ = NotificationPreference.objects.update_or_create(
        user=user, defaults={"email_events": chosen, "daily_digest": daily_digest and has_perm(user, DIGEST_PERM)}
    )
    return pref


def subscribers(event: str, target: models.Model | None = None) -> list[Any]:
    """Active users with an email address who chose `event` and may see its subject (`target`: inside
    their organizations when they hold the permission through memberships)."""
    perm = EVENT_PERMS.get(event)
    out = []
    for pref in NotificationPreference.objects.select_related("user").filter(user__is_active=True):
        user = pref.user
        wanted = user.email and event in (pref.email_events or [])
        if wanted and perm and has_perm(user, perm) and _may_see(user, perm, target):
            out.append(user)
    return out


def _may_see(user: Any, perm: str, target: models.Model | None) -> bool:
    if target is None:  # gone, or never said: only a global role (fail closed for memberships)
        return organization_scope(user, perm) is None
    return in_scope(user, perm, target)


def _target_object(payload: dict[str, Any]) -> models.Model | None:
    target = payload.get("target") or {}
    try:
        model = django_apps.get_model(str(target.get("type", "")))
    except (LookupError, ValueError):
        return None
    return cast(models.Model | None, model._default_manager.filter(pk=target.get("id")).first())


# --- notify ---------------------------------------------------------------------------------------


def _target(target: models.Model | None) -> dict[str, Any] | None:
    if target is None:
        return None
    meta = target._meta
    url = ""
    get_url = getattr(target, "get_absolute_url", None)
    if callable(get_url):
        try:
            url = site_url(get_url())
        except Exception:
            url = ""
    return {"type": f"{meta.app_label}.{meta.model_name}", "id": target.pk, "repr": str(target)[:300], "url": url}


def build_payload(event: str, *, target: models.Model | None, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "event": event,
        "title": str(context.get("title") or (NotificationEvent(event).label if event in ALL_EVENTS else event)),
        "occurred_at": timezone.now().isoformat(),
        "target": _target(target),
        "data": json.loads(json.dumps(context, default=str)),
    }


def notify(event: str, *, target: models.Model | None = None, context: dict[str, Any] | None = None) -> list[int]:
    """Announce `event`: webhook deliveries (one row per interested webhook) and emails to subscribers.

    Safe to call inside a transaction: the work is enqueued on commit. Returns the delivery ids.
    """
    from governance import tasks

    payload = build_payload(event, target=target, context=context or {})
    hooks = [w for w in Webhook.objects.filter(active=True) if w.wants(event)]
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(webhook=w, event=event, payload=payload) for w in hooks]
    )
    for d in deliveries:
        tasks.deliver_webhook.delay_on_commit(d.pk)
    if event in EVENT_PERMS:
        tasks.send_event_email.delay_on_commit(payload)
    return [d.pk for d in deliveries]


def email_event(payload: dict[str, Any]) -> int:
    """Send one event to its subscribers (one message each). Returns the number sent."""
    users = subscribers(payload["event"], _target_object(payload))
    if not users:
        return 0
    target = payload.get("target") or {}
    lines = [payload["title"], ""]
    if target:
        lines.append(f"{target.get('repr', '')}")
    for key, value in (payload.get("data") or {}).items():
        if key != "title" and value not in (None, "", [], {}):
            lines.append(f"{key.replace('_', ' ').capitalize()}: {value}")
    if target.get("url"):
        lines += ["", target["url"]]
    lines += ["", f"Change what you receive: {site_url('/notifications/')}"]
    subject = f"[Modelgate] {payload['title']}" + (f": {target.get('repr')}" if target else "")
    messages = [EmailMessage(subject=subject[:200], body="\n".join(lines), to=[u.email]) for u in users]
    return get_connection().send_messages(messages) or 0


# --- webhook delivery ----------------------------------------------------------------------------


def backoff(attempts: int) -> int:
    """Seconds to wait after `attempts` failed attempts (exponential, capped)."""
    return int(min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1)))


class WebhookRefused(ValueError):
    """The URL may not be delivered to: bad scheme or port, or a host that resolves to a non-public address."""


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(ip: IPAddress) -> bool:
    """Globally reachable unicast only: no loopback, private, link-local (cloud metadata), CGNAT,
    unique-local, unspecified, multicast or reserved address, also when embedded in an IPv6 address
    (IPv4-mapped, 6to4, Teredo, NAT64)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(e is not None and not is_public_address(e) for e in embedded):
            return False
        if ip.ipv4_mapped is not None or ip.is_site_local:
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback)


def _allowlist() -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    """MODELGATE_WEBHOOK_ALLOWED_HOSTS: host names (exact) and addresses or networks (CIDR) of internal receivers."""
    hosts: set[str] = set()
    networks = []
    for entry in settings.MODELGATE_WEBHOOK_ALLOWED_HOSTS:
        entry = str(entry).strip().lower().strip("[]")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.rstrip("."))
    return hosts, networks


@dataclass(frozen=True)
class Target:
    """A webhook URL after the check: where to connect (the pinned addresses) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def resolve_webhook_url(url: str) -> Target:
    """Check `url` and resolve its host once; every address must be public unless the allowlist names it.

    The caller connects to these addresses only (no second lookup, so no DNS rebinding between the
    check and the connection). Raises WebhookRefused (or OSError when the host does not resolve).
    """
    parts = urllib.parse.urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookRefused("only http(s) webhook URLs are allowed")
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookRefused("invalid port") from exc
    if not host:
        raise WebhookRefused("no host")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    if not addresses:
        raise WebhookRefused(f"{host} does not resolve")
    hosts, networks = _allowlist()
    host_allowed = host in hosts
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if not (host_allowed or is_public_address(ip) or any(ip in n for n in networks)):
            raise WebhookRefused(f"{host} resolves to the non-public address {ip}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))


def check_webhook_url(url: str) -> None:
    """For forms, serializers and services: refuse a URL whose host resolves to non-public addresses.

    A host that does not resolve (yet) is accepted here; delivery resolves and checks again.
    """
    try:
        resolve_webhook_url(url)
    except WebhookRefused as exc:
        log.info("webhook URL %r refused: %s", url, exc)
        raise ValidationError(
            "Refused: webhooks may only go to http(s) URLs whose host resolves to public addresses "
            "(internal receivers must be listed in MODELGATE_WEBHOOK_ALLOWED_HOSTS)."
        ) from exc
    except OSError:
        return


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address resolved and checked beforehand (the Host header keeps the name)."""

    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def _open_socket(self) -> socket.socket:
        return socket.create_connection((self._address, self.port), self.timeout)

    def connect(self) -> None:
        self.sock = self._open_socket()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    def connect(self) -> None:
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self._open_socket(), server_hostname=self.host)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST once to the checked, pinned address; redirects are not followed (a 3xx is the answer)."""
    target = resolve_webhook_url(url)
    last_error: OSError | None = None
    for address in target.addresses:
        cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
        connection = cls(target, address, TIMEOUT)
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            return int(connection.getresponse().status)
        except OSError as exc:
            last_error = exc
        finally:
            connection.close()
    raise last_error or OSError("no address to connect to")


def attempt_delivery(delivery_id: int) -> int | None:
    """POST one delivery once. Returns the seconds to wait before the next attempt, or None when done."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().select_related("webhook").get(pk=delivery_id)
        if delivery.state in (DeliveryState.SUCCEEDED, DeliveryState.FAILED):
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = timezone.now()
        delivery.save(update_fields=["attempts", "last_attempt_at"])
    hook = delivery.webhook
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Modelgate-Webhook/1",
        "X-Modelgate-Event": delivery.event,
        "X-Modelgate-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: sign(hook.secret, body),
    }
    status, refused = None, False
    try:
        status = _post(hook.url, body, headers)
    except WebhookRefused as exc:
        refused = True
        log.warning("webhook delivery %s to %r refused: %s", delivery.pk, hook.url, exc)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        log.warning("webhook delivery %s to %r failed: %s: %s", delivery.pk, hook.url, type(exc).__name__, exc)
    delivery.response_status = status
    if status is not None and 200 <= status < 300:
        delivery.state, delivery.error, delivery.delivered_at = DeliveryState.SUCCEEDED, "", timezone.now()
        wait = None
    else:
        # Users see a generic text (no open/closed-port oracle); the detail is in the log above.
        delivery.error = DELIVERY_FAILED if status is None else f"{DELIVERY_FAILED} (HTTP {status})"
        permanent = refused or (status is not None and 300 <= status < 500 and status not in (408, 429))
        if permanent or delivery.attempts >= MAX_ATTEMPTS:
            delivery.state, wait = DeliveryState.FAILED, None
        else:
            delivery.state, wait = DeliveryState.RETRYING, backoff(delivery.attempts)
    delivery.save(update_fields=["state", "error", "delivered_at", "response_status"])
    return wait


def _webhook_snapshot(hook: Webhook) -> dict[str, Any]:
    return {"name": hook.name, "url": hook.url, "events": list(hook.events or []), "active": hook.active}


@transaction.atomic
def create_webhook(
    *, user: Any, name: str, url: str, events: list[str] | None = None, active: bool = True, secret: str = ""
) -> Webhook:
    """Add a webhook (its URL checked against non-public addresses); audited. The secret is generated when empty."""
    check_webhook_url(url)
    hook = Webhook.objects.create(
        name=name,
        url=url,
        events=list(events or []),
        active=active,
        secret=secret or new_secret(),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    record_event(actor=user, action=AuditAction.WEBHOOK_CREATE, target=hook, after=_webhook_snapshot(hook))
    return hook


@transaction.atomic
def update_webhook(*, user: Any, webhook: Webhook, data: dict[str, Any]) -> Webhook:
    """Change name, url, events, active or secret; audited (the secret only as "changed")."""
    if "url" in data:
        check_webhook_url(data["url"])
    before = _webhook_snapshot(webhook)
    for field in ("name", "url", "events", "active", "secret"):
        if field in data:
            setattr(webhook, field, list(data[field]) if field == "events" else data[field])
    webhook.save()
    after = _webhook_snapshot(webhook)
    if "secret" in data:
        after["secret_changed"] = True
    record_event(actor=user, action=AuditAction.WEBHOOK_UPDATE, target=webhook, before=before, after=after)
    return webhook


@transaction.atomic
def delete_webhook(*, user: Any, webhook: Webhook) -> None:
    record_event(actor=user, action=AuditAction.WEBHOOK_DELETE, target=webhook, before=_webhook_snapshot(webhook))
    webhook.delete()


@transaction.atomic
def ping_webhook(*, webhook: Webhook, user: Any) -> WebhookDelivery:
    """Queue a `ping` to a webhook (from its page or the API); audited."""
    from governance import tasks

    payload = build_payload("ping", target=webhook, context={"title": "Ping", "by": str(user)})
    delivery = WebhookDelivery.objects.create(webhook=webhook, event="ping", payload=payload)
    record_event(actor=user, action=AuditAction.WEBHOOK_PING, target=webhook, after={"delivery": delivery.pk})
    tasks.deliver_webhook.delay_on_commit(delivery.pk)
    return delivery


# --- the feed: events derived from what other apps record ---------------------------------------


def _cursor(name: str, initial: int) -> NotificationCursor:
    cursor, _ = NotificationCursor.objects.select_for_update().get_or_create(name=name, defaults={"position": initial})
    return cursor


def _audit_events() -> int:
    start = AuditEvent.objects.aggregate(m=Max("id"))["m"] or 0
    sent = 0
    with transaction.atomic():
        cursor = _cursor("audit", start)
        events = list(
            AuditEvent.objects.filter(id__gt=cursor.position, action__in=list(AUDIT_ACTIONS))
            .select_related("target_type")
            .order_by("id")[:500]
        )
        top = AuditEvent.objects.filter(id__gt=cursor.position).order_by("id").values_list("id", flat=True)[:500]
        last = max([cursor.position, *top, *[e.id for e in events]])
        for e in events:
            target = e.target if e.target_type_id else None
            context = {"title": _title(e.action), "action": e.action, "actor": e.actor_repr, "reason": e.reason,
                       "audit_event": e.id}  # fmt: skip
            if isinstance(e.after, dict):
                context.update({k: e.after[k] for k in ("state", "expires_at", "scope") if k in e.after})
            notify(AUDIT_ACTIONS[e.action], target=target, context=context)
            sent += 1
        cursor.position = last
        cursor.save(update_fields=["position", "updated_at"])
    return sent


_TITLES = {
    "waiver.request": "Waiver requested",
    "waiver.approve": "Waiver approved",
    "waiver.reject": "Waiver rejected",
    "waiver.revoke": "Waiver revoked",
    "waiver.expire": "Waiver expired",
    "version.approve": "Version approved",
    "version.reject": "Version rejected",
    "version.reopen": "Review reopened",
    "scan.failed": "Scan failed",
    "scan.fail": "Scan failed",
}


def _title(action: str) -> str:
    return _TITLES.get(action, action)


_FAIL_ANY = (
    Q(policy__action_proxy="fail")
    | Q(policy__action_develop="fail")
    | Q(policy__action_source="fail")
    | Q(policy__action_build="fail")
    | Q(policy__action_stage_release="fail")
    | Q(policy__action_release="fail")
    | Q(policy__action_operate="fail")
)


def _violations() -> int:

    start = Violation.objects.aggregate(m=Max("id"))["m"] or 0
    sent = 0
    with transaction.atomic():
        cursor = _cursor("violation", start)
        batch = list(
            Violation.objects.filter(id__gt=cursor.position).order_by("id").values_list("id", flat=True)[:2000]
        )
        if not batch:
            return 0
        rows = (
            Violation.objects.filter(id__in=batch, state="open")
            .filter(_FAIL_ANY)
            .select_related("policy", "version__model", "application")
            .order_by("id")
        )
        for v in rows:
            stages = [s for s, a in v.policy.actions().items() if a == "fail"]
            notify(
                NotificationEvent.VIOLATION_FAIL,
                target=v,
                context={"title": "New violation of a failing policy", "policy": v.policy.name,
                         "threat_level": v.policy.threat_level, "category": v.policy.category,
                         "model_version": str(v.version), "application": str(v.application or NO_APPLICATION),
                         "fails_at": stages},
            )  # fmt: skip
            sent += 1
        cursor.position = batch[-1]
        cursor.save(update_fields=["position", "updated_at"])
    return sent


def _scan_failures() -> int:

    def micros(value: datetime) -> int:
        return int(value.timestamp() * 1_000_000)

    sent = 0
    with transaction.atomic():
        cursor = _cursor("scanrun", micros(timezone.now()))
        since = datetime.fromtimestamp(cursor.position / 1_000_000, tz=UTC)
        runs = list(
            ScanRun.objects.filter(state="failed", finished_at__gt=since)
            .select_related("version__model")
            .order_by("finished_at", "id")[:200]
        )
        for run in runs:
            notify(
                NotificationEvent.SCAN_FAILED,
                target=run,
                context={"title": "Scan failed", "model_version": str(run.version), "error": run.error[:500],
                         "error_kind": run.error_kind},
            )  # fmt: skip
            sent += 1
        if runs and runs[-1].finished_at:
            cursor.position = micros(runs[-1].finished_at)
            cursor.save(update_fields=["position", "updated_at"])
    return sent


def process_feed() -> dict[str, int]:
    """One pass over the audit log, new violations and failed scans (idempotent: watermarks)."""
    return {"audit": _audit_events(), "violations": _violations(), "scans": _scan_failures()}


def notify_expiring_waivers(*, now: datetime | None = None) -> int:
    """Remind subscribers of waivers nearing expiry: the one reminder path (daily beat task).

    Which waivers are due, and that one was reminded, are facts of the policies app
    (`waivers_due_for_reminder`, `mark_reminded`: one reminder per threshold of
    `MODELGATE_WAIVER_REMINDER_DAYS`, at most one a day); the mail, its recipients (preferences and
    roles) and the webhooks are ours. Returns the number of waivers announced.
    """
    now = now or timezone.now()
    sent = 0
    for waiver in waivers_due_for_reminder(now=now):
        with transaction.atomic():
            if not mark_reminded(waiver=waiver, now=now):
                continue  # another run reminded it first
            left = (waiver.expires_at.astimezone(UTC).date() - now.astimezone(UTC).date()).days
            when = "today" if left <= 0 else f"in {left} day{'s' if left != 1 else ''}"
            notify(
                NotificationEvent.WAIVER_EXPIRING,
                target=waiver,
                context={"title": f"Waiver expires {when}", "policy": waiver.policy.name,
                         "expires_at": waiver.expires_at.isoformat(), "for": waiver.target_label,
                         "owner": waiver.owner_label},
            )  # fmt: skip
        sent += 1
    return sent


# --- the daily digest ----------------------------------------------------------------------------


def digest_figures(*, now: datetime | None = None) -> dict[str, Any]:
    """Org-wide figures of the last 24 hours (unrestricted; only sent to users with the overview permission)."""

    now = now or timezone.now()
    since = now - timedelta(days=1)
    open_qs = Violation.objects.filter(state="open")
    # Per problem (version × policy), like the overview and its snapshots: a pair counts once.
    total = sum(c["threat_level"] * c["count"] for c in triage.pair_counts(open_qs) if c["state"] == "open")
    yesterday = RiskSnapshot.objects.filter(day__lt=now.date()).order_by("-day").values_list("total_risk", flat=True)
    previous = yesterday.first()
    new_by_band: dict[str, int] = {}
    for level, n in (
        Violation.objects.filter(first_seen_at__gte=since)
        .values_list("policy__threat_level")
        .annotate(n=Count("id"))
        .order_by()
    ):
        band = Band.of(level).value
        new_by_band[band] = new_by_band.get(band, 0) + n
    resolved = Violation.objects.filter(state="resolved", resolved_at__gte=since).count()
    expiring = list(
        Waiver.objects.in_force(now)
        .filter(expires_at__lte=now + timedelta(days=7))
        .select_related("policy")
        .order_by("expires_at")[:10]
    )
    scan_failures = ScanRun.objects.filter(state="failed", finished_at__gte=since).count()
    return {
        "total_risk": total,
        "previous_risk": previous,
        "new_violations": sum(new_by_band.values()),
        "new_by_band": new_by_band,
        "resolved": resolved,
        "pending_waivers": Waiver.objects.pending().count(),
        "expiring_waivers": expiring,
        "awaiting_review": ModelVersion.objects.filter(review_status__in=["pending", "in_review"]).count(),
        "scan_failures": scan_failures,
    }


def digest_text(figures: dict[str, Any]) -> str:
    delta = ""
    if figures["previous_risk"] is not None:
        diff = figures["total_risk"] - figures["previous_risk"]
        delta = f" ({'+' if diff >= 0 else ''}{diff} since the last snapshot)"
    bands = ", ".join(f"{n} {b}" for b, n in sorted(figures["new_by_band"].items())) or "none"
    lines = [
        "Modelgate daily digest",
        "",
        f"Total risk: {figures['total_risk']}{delta}",
        f"New violations in the last 24 hours: {figures['new_violations']} ({bands})",
        f"Violations resolved in the last 24 hours: {figures['resolved']}",
        f"Waiver requests waiting for a decision: {figures['pending_waivers']}",
        f"Versions awaiting review: {figures['awaiting_review']}",
        f"Scans failed in the last 24 hours: {figures['scan_failures']}",
        "",
        "Waivers expiring within 7 days:",
    ]
    lines += [
        f"  - {w.policy} for {w.target_label}, expires {w.expires_at:%Y-%m-%d}" for w in figures["expiring_waivers"]
    ]
    if not figures["expiring_waivers"]:
        lines.append("  (none)")
    lines += ["", f"Overview: {site_url('/overview/')}", f"Change what you receive: {site_url('/notifications/')}"]
    return "\n".join(lines)


def digest_recipients() -> list[Any]:
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    prefs = dict(NotificationPreference.objects.values_list("user_id", "daily_digest"))
    # Installation-wide figures: only to global roles (a membership role reads its own overview).
    return [
        u
        for u in users
        if prefs.get(u.pk, True) and has_perm(u, DIGEST_PERM) and organization_scope(u, DIGEST_PERM) is None
    ]


def send_digest(*, now: datetime | None = None) -> int:
    recipients = digest_recipients()
    if not recipients:
        return 0
    body = digest_text(digest_figures(now=now))
    day = (now or timezone.now()).date()
    messages = [EmailMessage(subject=f"[Modelgate] Daily digest {day:%Y-%m-%d}", body=body, to=[u.email])
                for u in recipients]  # fmt: skip
    return get_connection().send_messages(messages) or 0


def stalled_delivery_ids(*, limit: int = 500) -> list[int]:
    """Deliveries whose scheduled retry was lost (worker restart): older than the longest backoff."""
    cutoff = timezone.now() - timedelta(seconds=BACKOFF_CAP + 300)
    return list(
        WebhookDelivery.objects.filter(state__in=[DeliveryState.PENDING, DeliveryState.RETRYING])
        .filter(created_at__lt=cutoff)
        .exclude(last_attempt_at__gte=cutoff)
        .values_list("pk", flat=True)[:limit]
    )
