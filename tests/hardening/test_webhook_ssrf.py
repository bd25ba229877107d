"""Issue 11, item 2: webhooks are not an SSRF or port-scanning tool.

The receivers are real HTTP servers on 127.0.0.1 started by the test; they are reachable only when
the test lists them in MODELGATE_WEBHOOK_ALLOWED_HOSTS.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from rest_framework.test import APIClient

from core.models import AuditEvent
from governance import notifications
from governance.models import DeliveryState, Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db

NON_PUBLIC_URLS = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",  # CGNAT
    "http://0.0.0.0:22/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[::ffff:169.254.169.254]/hook",
    "http://[fc00::1]/hook",  # unique local
    "http://[fd00:ec2::254]/hook",  # AWS IMDS over IPv6
    "http://[fe80::1]/hook",
    "http://2130706433/hook",  # 127.0.0.1 in decimal
    "http://0177.0.0.1/hook",  # octal
    "http://0x7f000001/hook",  # hex
    "http://0x7f.1/hook",
    "http://127.1/hook",
    "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        server = self.server
        server.hits.append((self.path, dict(self.headers)))  # type: ignore[attr-defined]
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, location = server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    server.hits = []  # type: ignore[attr-defined]
    server.answer = (200, "")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _deliver(hook: Webhook, captured) -> WebhookDelivery:
    with captured(execute=True):
        (pk,) = notifications.notify("scan.failed", context={"title": "x"}) if hook.active else ()
    return WebhookDelivery.objects.get(pk=pk)


@pytest.mark.parametrize("url", NON_PUBLIC_URLS)
def test_api_refuses_non_public_webhook_urls(admin_user, url):
    response = _api(admin_user).post("/api/v1/webhooks/", {"name": "x", "url": url}, format="json")
    assert response.status_code == 400, (url, response.content)
    # Refused by the address check, or already by Django's URL validator (e.g. decimal host spellings).
    assert any(m in str(response.json()["url"]) for m in ("public addresses", "Enter a valid URL"))
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/", "http://[::ffff:127.0.0.1]/", "http://[fd00::1]/"])
def test_page_refuses_non_public_webhook_urls(client_for, admin_user, url):
    response = client_for(admin_user).post("/notifications/webhooks/", {"name": "x", "url": url, "active": "on"})
    assert response.status_code == 400
    assert b"public addresses" in response.content
    assert not Webhook.objects.exists()


def test_api_refuses_changing_a_webhook_to_a_private_address(admin_user):
    hook = notifications.create_webhook(user=admin_user, name="Public", url="https://93.184.215.14/hook")
    response = _api(admin_user).patch(f"/api/v1/webhooks/{hook.pk}/", {"url": "http://10.1.2.3/"}, format="json")
    assert response.status_code == 400
    hook.refresh_from_db()
    assert hook.url == "https://93.184.215.14/hook"


def test_delivery_to_a_private_address_is_refused_without_connecting(
    local_server, django_capture_on_commit_callbacks, caplog
):
    """A row that got past validation (older row, DNS changed since) is still never sent to 127.0.0.1."""
    port = local_server.server_address[1]
    for url in (f"http://127.0.0.1:{port}/hook", f"http://2130706433:{port}/hook", f"http://[::ffff:7f00:1]:{port}/"):
        Webhook.objects.all().delete()
        hook = Webhook.objects.create(name="Old", url=url, secret="s")
        with caplog.at_level(logging.WARNING, logger="governance.notifications"):
            delivery = _deliver(hook, django_capture_on_commit_callbacks)
        assert delivery.state == DeliveryState.FAILED and delivery.attempts == 1  # refused: no retries
        assert delivery.error == "delivery failed" and delivery.response_status is None
        assert "non-public address" in caplog.text  # the detail is for operators, in the log
    assert local_server.hits == []  # type: ignore[attr-defined]


def test_no_open_or_closed_port_oracle(admin_user, local_server, django_capture_on_commit_callbacks, settings):
    """Even for an allowlisted internal host, users see the same text for a closed port and a refusal."""
    settings.MODELGATE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    closed = Webhook.objects.create(name="Closed", url=f"http://127.0.0.1:{_closed_port()}/", secret="s")
    closed_delivery = _deliver(closed, django_capture_on_commit_callbacks)
    closed.delete()
    settings.MODELGATE_WEBHOOK_ALLOWED_HOSTS = []
    refused = Webhook.objects.create(name="Refused", url=f"http://127.0.0.1:{local_server.server_address[1]}/")
    refused_delivery = _deliver(refused, django_capture_on_commit_callbacks)
    assert closed_delivery.error == refused_delivery.error == "delivery failed"
    listed = _api(admin_user).get("/api/v1/webhook-deliveries/").json()["results"]
    assert {d["error"] for d in listed} == {"delivery failed"}
    assert "Errno" not in client_text(admin_user)


def client_text(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.get("/notifications/webhooks/").content.decode()


def test_allowlisted_receiver_gets_the_delivery_at_the_pinned_address(
    local_server, django_capture_on_commit_callbacks, settings, monkeypatch
):
    """The host is resolved once and the connection goes to that checked address (no second lookup)."""
    settings.MODELGATE_WEBHOOK_ALLOWED_HOSTS = ["receiver.internal"]
    port = local_server.server_address[1]
    lookups: list[str] = []
    real = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        if host == "receiver.internal":
            lookups.append(host)
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    hook = Webhook.objects.create(name="Internal", url=f"http://receiver.internal:{port}/in?x=1", secret="s")
    delivery = _deliver(hook, django_capture_on_commit_callbacks)
    assert delivery.state == DeliveryState.SUCCEEDED, delivery.error
    assert lookups == ["receiver.internal"]
    ((path, headers),) = local_server.hits  # type: ignore[attr-defined]
    assert path == "/in?x=1" and headers["Host"] == f"receiver.internal:{port}"


def test_dns_rebinding_to_a_private_address_is_refused(
    local_server, django_capture_on_commit_callbacks, settings, monkeypatch
):
    """Public when the webhook was created, 127.0.0.1 when it is delivered: refused, nothing connects."""
    port = local_server.server_address[1]
    answers = iter(["93.184.215.14", "127.0.0.1"])
    real = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        return real(next(answers), *args, **kwargs) if host == "rebind.example" else real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    hook = notifications.create_webhook(user=None, name="Rebind", url=f"http://rebind.example:{port}/")
    delivery = _deliver(hook, django_capture_on_commit_callbacks)
    assert delivery.state == DeliveryState.FAILED and delivery.error == "delivery failed"
    assert local_server.hits == []  # type: ignore[attr-defined]


def test_redirects_are_not_followed(local_server, django_capture_on_commit_callbacks, settings):
    settings.MODELGATE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    port = local_server.server_address[1]
    local_server.answer = (302, f"http://127.0.0.1:{port}/followed")  # type: ignore[attr-defined]
    hook = Webhook.objects.create(name="Redirect", url=f"http://127.0.0.1:{port}/first", secret="s")
    delivery = _deliver(hook, django_capture_on_commit_callbacks)
    assert [p for p, _h in local_server.hits] == ["/first"]  # type: ignore[attr-defined]
    assert delivery.state == DeliveryState.FAILED and delivery.response_status == 302


def test_webhook_changes_are_audited(admin_user, django_capture_on_commit_callbacks, client_for):
    api = _api(admin_user)
    created = api.post("/api/v1/webhooks/", {"name": "SIEM", "url": "https://93.184.215.14/h"}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert (
        api.patch(f"/api/v1/webhooks/{pk}/", {"name": "SIEM 2", "secret": "x" * 20}, format="json").status_code == 200
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert api.post(f"/api/v1/webhooks/{pk}/ping/").status_code == 202
    assert api.delete(f"/api/v1/webhooks/{pk}/").status_code == 204
    page = client_for(admin_user)
    assert page.post("/notifications/webhooks/", {"name": "UI", "url": "https://93.184.215.14/u"}).status_code == 201
    ui_hook = Webhook.objects.get(name="UI")
    assert page.post("/notifications/webhooks/", {"delete": ui_hook.pk}).status_code == 302
    events = list(AuditEvent.objects.filter(action__startswith="webhook.").order_by("id"))
    assert [e.action for e in events] == [
        "webhook.create",
        "webhook.update",
        "webhook.ping",
        "webhook.delete",
        "webhook.create",
        "webhook.delete",
    ]
    assert all(e.actor == admin_user for e in events)
    update = events[1]
    assert update.before["name"] == "SIEM" and update.after == {
        **update.before,
        "name": "SIEM 2",
        "secret_changed": True,
    }
    assert "x" * 20 not in str([e.before for e in events] + [e.after for e in events])
