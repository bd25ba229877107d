"""Gate answers reused while nothing changed (core/pagecache.py): per token, refreshed by every write,
never kept past a waiver's expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core import pagecache
from identity.services import create_token, revoke_token
from inventory.models import ApplicationModel
from policies import services
from policies.api.views import _gate_ttl
from policies.models import Violation
from tests import factories as f
from tests.policies.conftest import make_policy, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def gate_world(admin_user):
    policy = make_policy()  # fails every stage: downloads < 100
    version = make_version(downloads=1)
    app = f.ApplicationFactory()
    ApplicationModel.objects.create(application=app, version=version)
    services.evaluate_versions()
    token, secret = create_token(
        user=admin_user, name="ci", capability="gate", expires_on=timezone.now().date() + timedelta(days=5),
        application=app,
    )  # fmt: skip
    body = {"repo_id": version.model.repo_id, "revision": version.commit, "stage": "build", "application": app.slug}
    return {"policy": policy, "version": version, "app": app, "token": token, "secret": secret, "body": body}


def ask(world, secret: str | None = None):  # type: ignore[no-untyped-def]
    return Client().post(
        "/api/v1/gate", world["body"], content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret or world['secret']}",
    )  # fmt: skip


def test_the_same_question_is_answered_from_the_cache_until_a_waiver_changes_the_answer(gate_world, security):
    first = ask(gate_world)
    assert first.status_code == 200 and first.json()["action"] == "fail" and first[pagecache.HEADER] == "miss"
    again = ask(gate_world)
    assert again[pagecache.HEADER] == "hit" and again.json() == first.json()
    v = Violation.objects.filter(policy=gate_world["policy"], application=gate_world["app"]).get()
    reason = f.WaiverReasonFactory()
    w = services.request_waiver(
        user=security, policy=v.policy, scope="version", version=v.version,
        expires_on=timezone.now().date() + timedelta(days=2), reason=reason, source_violation=v,
    )  # fmt: skip
    assert ask(gate_world)[pagecache.HEADER] == "miss"  # a request is a write: recomputed, still failing
    approver = f.UserFactory(role="security reviewer", username="approver")
    services.decide_waiver(user=approver, waiver=w, approve=True)
    after = ask(gate_world)
    assert after[pagecache.HEADER] == "miss" and after.json()["action"] != "fail"


def test_a_revoked_token_is_refused_though_its_answer_is_cached(gate_world, admin_user):
    assert ask(gate_world).status_code == 200
    assert ask(gate_world)[pagecache.HEADER] == "hit"
    revoke_token(user=admin_user, token=gate_world["token"])
    assert ask(gate_world).status_code in (401, 403)


def test_another_token_does_not_get_this_tokens_answer(gate_world, admin_user):
    ask(gate_world)
    _other, secret = create_token(
        user=admin_user, name="other", capability="gate", expires_on=timezone.now().date() + timedelta(days=5),
        application=gate_world["app"],
    )  # fmt: skip
    assert ask(gate_world, secret)[pagecache.HEADER] == "miss"


def test_an_answer_is_never_kept_past_the_next_waiver_expiry(gate_world, security):
    assert _gate_ttl(None) == 30  # MODELGATE_GATE_CACHE_SECONDS
    v = Violation.objects.filter(policy=gate_world["policy"]).first()
    f.WaiverFactory(
        policy=v.policy, version=v.version, state="approved", expires_at=timezone.now() + timedelta(seconds=5)
    )
    assert 0 < _gate_ttl(None) <= 5
