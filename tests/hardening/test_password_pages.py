"""Issue 11, item 4: password change and reset pages (Django's views, the app's templates, mail via EMAIL_BACKEND)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OLD, NEW = "correct-horse-battery", "a-brand-new-passphrase-42"


def test_the_user_menu_links_to_password_change(client_for, manager):
    page = client_for(manager).get("/inventory/").content.decode()
    assert 'href="/accounts/password/"' in page
    login = Client().get("/accounts/login/").content.decode()
    assert 'href="/accounts/password/reset/"' in login


def test_password_change(client_for, manager):
    client = client_for(manager)
    form = client.get("/accounts/password/")
    assert form.status_code == 200 and b"Change your password" in form.content
    assert b'class="topbar"' in form.content  # the app's layout, not the admin's
    wrong = client.post("/accounts/password/", {"old_password": "nope", "new_password1": NEW, "new_password2": NEW})
    assert wrong.status_code == 200 and b"entered incorrectly" in wrong.content
    done = client.post("/accounts/password/", {"old_password": OLD, "new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done["Location"] == "/accounts/password/done/"
    assert b"Password changed" in client.get("/accounts/password/done/").content
    manager.refresh_from_db()
    assert manager.check_password(NEW)


def test_password_change_needs_a_login():
    response = Client().get("/accounts/password/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_password_reset_by_email_end_to_end():
    user = UserFactory(username="forgetful", email="forgetful@example.com")
    client = Client()
    assert client.get("/accounts/password/reset/").status_code == 200
    sent = client.post("/accounts/password/reset/", {"email": "forgetful@example.com"})
    assert sent.status_code == 302 and sent["Location"] == "/accounts/password/reset/sent/"
    assert b"Check your email" in client.get(sent["Location"]).content
    (message,) = mail.outbox
    assert message.to == ["forgetful@example.com"] and "Reset your password" in message.subject
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/[^\s]+/)", message.body).group(1)
    form = client.get(link, follow=True)
    assert b"Choose a new password" in form.content
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done["Location"] == "/accounts/password/reset/complete/"
    user.refresh_from_db()
    assert user.check_password(NEW)
    again = client.get(link, follow=True)  # a link works once
    assert b"Link no longer valid" in again.content


def test_reset_for_an_unknown_address_sends_nothing_and_says_the_same():
    response = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    assert mail.outbox == []
