from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from core.services import record_event
from governance import notifications
from governance.models import DeliveryState, NotificationPreference, Webhook, WebhookDelivery
from policies.models import Waiver
from policies.services.approvals import reopen_review
from tests import factories as f
from tests.governance.conftest import make_policy, make_waiver


class _Receiver(BaseHTTPRequestHandler):
    statuses: list[int] = []
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    settings.MODELGATE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # internal receivers only through the allowlist
    _Receiver.statuses, _Receiver.received = [], []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Receiver, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(notifications, "BACKOFF_BASE", 0)


def test_webhook_is_signed_and_retried_after_500(db, receiver, no_backoff, django_capture_on_commit_callbacks):
    handler, url = receiver
    handler.statuses = [500, 503]
    hook = Webhook.objects.create(name="CI", url=url, secret="s3cret", events=["waiver.request"])
    Webhook.objects.create(name="Other", url=url, secret="x", events=["scan.failed"])
    with django_capture_on_commit_callbacks(execute=True):
        ids = notifications.notify("waiver.request", target=hook, context={"title": "Waiver requested", "n": 1})
    assert len(ids) == 1
    delivery = WebhookDelivery.objects.get(pk=ids[0])
    assert delivery.state == DeliveryState.SUCCEEDED
    assert delivery.attempts == 3 and delivery.response_status == 200
    assert len(handler.received) == 3
    headers, body = handler.received[-1]
    assert notifications.verify("s3cret", body, headers["X-Modelgate-Signature"])
    assert not notifications.verify("wrong", body, headers["X-Modelgate-Signature"])
    assert headers["X-Modelgate-Signature"].startswith("sha256=")
    payload = json.loads(body)
    assert payload["event"] == "waiver.request" and payload["data"]["n"] == 1
    assert payload["target"]["type"] == "governance.webhook"


def test_webhook_gives_up_after_max_attempts_and_on_4xx(db, receiver, no_backoff, django_capture_on_commit_callbacks):
    handler, url = receiver
    handler.statuses = [500] * 10
    Webhook.objects.create(name="Down", url=url, secret="s")
    with django_capture_on_commit_callbacks(execute=True):
        (pk,) = notifications.notify("scan.failed", context={})
    delivery = WebhookDelivery.objects.get(pk=pk)
    assert delivery.state == DeliveryState.FAILED and delivery.attempts == notifications.MAX_ATTEMPTS
    handler.statuses = [410]
    with django_capture_on_commit_callbacks(execute=True):
        (pk,) = notifications.notify("scan.failed", context={})
    assert WebhookDelivery.objects.get(pk=pk).attempts == 1


def test_backoff_is_exponential_and_capped():
    assert [notifications.backoff(n) for n in (1, 2, 3)] == [30, 60, 120]
    assert notifications.backoff(20) == notifications.BACKOFF_CAP


def test_email_goes_to_subscribers_their_role_allows(db, manager, legal, nobody, django_capture_on_commit_callbacks):
    notifications.set_preferences(user=legal, email_events=["waiver.request", "bogus"], daily_digest=False)
    notifications.set_preferences(user=manager, email_events=[], daily_digest=True)
    NotificationPreference.objects.create(user=nobody, email_events=["waiver.request"])
    assert NotificationPreference.objects.get(user=legal).email_events == ["waiver.request"]
    waiver = make_waiver(make_policy("P", 5), f.ModelVersionFactory(), state="pending")
    with django_capture_on_commit_callbacks(execute=True):
        notifications.notify("waiver.request", target=waiver, context={"title": "Waiver requested"})
    assert [m.to for m in mail.outbox] == [[legal.email]]
    assert "Waiver requested" in mail.outbox[0].subject
    assert "/policies/waivers/" in mail.outbox[0].body


def test_feed_maps_audit_events_and_new_failing_violations(db, legal, django_capture_on_commit_callbacks):
    from django.db import transaction

    notifications.set_preferences(user=legal, email_events=["version.decision", "violation.fail"], daily_digest=False)
    assert notifications.process_feed() == {"audit": 0, "violations": 0, "scans": 0}  # watermarks start now
    version = f.ModelVersionFactory()
    with transaction.atomic():
        record_event(actor=legal, action="version.approve", target=version, reason="fine")
        record_event(actor=legal, action="policy.update", target=version)
    policy = make_policy("Pickle", 9)
    warn_only = make_policy("Old", 2, action_release="warn")
    f.ViolationFactory(policy=policy, version=version)
    f.ViolationFactory(policy=warn_only, version=version)
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications.process_feed() == {"audit": 1, "violations": 1, "scans": 0}
    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects[0].startswith("[Modelgate] New violation of a failing policy")
    assert subjects[1].startswith("[Modelgate] Version approved")
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications.process_feed() == {"audit": 0, "violations": 0, "scans": 0}  # idempotent


def test_daily_digest_content(db, world, manager, legal):
    from governance.overview import take_snapshot

    notifications.set_preferences(user=legal, email_events=[], daily_digest=False)
    take_snapshot(day=__import__("datetime").date(2000, 1, 1))
    assert notifications.send_digest() == 1  # the manager (default on); legal opted out
    (message,) = mail.outbox
    assert message.to == [manager.email]
    assert "Daily digest" in message.subject
    assert "Total risk: 48 (+0 since the last snapshot)" in message.body  # per problem, as the overview
    assert "New violations in the last 24 hours: 13" in message.body
    assert "Waivers expiring within 7 days:" in message.body and "expires" in message.body
    assert "/overview/" in message.body


def test_preferences_page(client_for, manager, nobody):
    client = client_for(manager)
    page = client.get("/notifications/")
    assert page.status_code == 200 and "Daily digest" in page.content.decode()
    response = client.post("/notifications/", {"email_events": ["waiver.expiring"], "daily_digest": ""})
    assert response.status_code == 302
    pref = NotificationPreference.objects.get(user=manager)
    assert pref.email_events == ["waiver.expiring"] and pref.daily_digest is False
    assert client_for(nobody).get("/notifications/").status_code == 403
    assert client_for(nobody).post("/notifications/", {"daily_digest": "on"}).status_code == 403


def test_webhook_page_for_administrators(client_for, admin_user, manager):
    client = client_for(admin_user)
    assert client.get("/notifications/webhooks/").status_code == 200
    created = client.post(
        "/notifications/webhooks/",
        {"name": "SIEM", "url": "https://siem.example/hook", "events": ["scan.failed"], "active": "on"},
    )
    assert created.status_code == 201
    hook = Webhook.objects.get()
    assert hook.secret in created.content.decode() and hook.events == ["scan.failed"]
    assert client.post("/notifications/webhooks/", {"name": "x", "url": "ftp://x"}).status_code == 400
    assert client_for(manager).get("/notifications/webhooks/").status_code == 403
    assert client_for(manager).post("/notifications/webhooks/", {"delete": hook.pk}).status_code == 403
    assert client.post("/notifications/webhooks/", {"delete": hook.pk}).status_code == 302
    assert not Webhook.objects.exists()


def _by_recipient(messages) -> dict[str, int]:
    return dict(Counter(address for m in messages for address in m.to))


def test_expiring_waiver_one_reminder_mail_per_recipient_per_day(
    db, settings, legal, security, manager, nobody, django_capture_on_commit_callbacks
):
    settings.MODELGATE_WAIVER_REMINDER_DAYS = [7, 1]
    for user in (legal, security, nobody):  # nobody's role may not see waivers: never mailed
        NotificationPreference.objects.create(user=user, email_events=["waiver.expiring"])
    waiver = make_waiver(make_policy("Pickle", 5), f.ModelVersionFactory())
    Waiver.objects.filter(pk=waiver.pk).update(expires_at=datetime(2030, 1, 7, 23, 59, 59, tzinfo=UTC))
    notifications.process_feed()  # the feed's watermarks start here

    def run_day(day: int, *times: tuple[int, int]) -> dict[str, int]:
        mail.outbox.clear()
        for hour, minute in times or ((6, 30),):
            with django_capture_on_commit_callbacks(execute=True):
                notifications.notify_expiring_waivers(now=datetime(2030, 1, day, hour, minute, tzinfo=UTC))
                notifications.process_feed()
        return _by_recipient(mail.outbox)

    once = {legal.email: 1, security.email: 1}
    assert run_day(1, (6, 30), (6, 31), (18, 0)) == once  # 7 days ahead: one mail each however often beat runs
    assert "expires in 6 days" in mail.outbox[0].subject
    for day in range(2, 7):
        assert run_day(day) == {}, day  # nothing new until the next threshold
    assert run_day(7, (6, 30), (12, 0)) == once  # the last day
    assert "expires today" in mail.outbox[0].subject
    waiver.refresh_from_db()
    assert waiver.reminded_at == datetime(2030, 1, 7, 6, 30, tzinfo=UTC)


def test_missed_reminders_are_caught_up_once(db, settings, legal, django_capture_on_commit_callbacks):
    settings.MODELGATE_WAIVER_REMINDER_DAYS = [7, 1]
    NotificationPreference.objects.create(user=legal, email_events=["waiver.expiring"])
    waiver = make_waiver(make_policy("Pickle", 5), f.ModelVersionFactory())
    Waiver.objects.filter(pk=waiver.pk).update(expires_at=datetime(2030, 1, 7, 23, 59, 59, tzinfo=UTC))
    # beat did not run for a week: both thresholds passed, one reminder
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications.notify_expiring_waivers(now=datetime(2030, 1, 7, 9, 0, tzinfo=UTC)) == 1
        assert notifications.notify_expiring_waivers(now=datetime(2030, 1, 7, 10, 0, tzinfo=UTC)) == 0
    assert _by_recipient(mail.outbox) == {legal.email: 1}


def test_reopened_review_one_mail_per_subscribed_recipient(
    db, legal, security, architect, manager, django_capture_on_commit_callbacks
):
    for user in (legal, architect):
        NotificationPreference.objects.create(user=user, email_events=["version.decision"])
    # security reviews too but chose nothing; the manager neither: no mail for them
    version = f.ModelVersionFactory(review_status="approved")
    notifications.process_feed()  # the feed's watermarks start here
    reason = "New violation on an approved version"
    with django_capture_on_commit_callbacks(execute=True):
        reopen_review(version_id=version.pk, reason=reason)
    assert mail.outbox == []  # the policies side only records the fact
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications.process_feed()["audit"] == 1
        assert notifications.process_feed()["audit"] == 0
    assert _by_recipient(mail.outbox) == {legal.email: 1, architect.email: 1}
    assert all(m.subject.startswith("[Modelgate] Review reopened") and reason in m.body for m in mail.outbox)
