"""Approving a version whose legal review is open needs an explicit confirmation, recorded in the audit
reason — from the page (with or without htmx) and from the API."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from core.models import AuditEvent
from inventory.choices import ReviewStatus
from licenses.choices import ThreatGroup
from policies import services
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_review():
    """A version with no violations whose license waits in the legal queue."""
    analysis = f.LicenseAnalysisFactory(
        declared="other", threat_group=ThreatGroup.UNKNOWN, is_other=True, needs_review=True
    )
    return analysis.version


def test_service_refuses_without_confirmation(security, open_review):
    assert services.legal_review_open(version=open_review)
    with pytest.raises(ValidationError) as exc:
        services.approve_version(user=security, version=open_review, reason="scanned, clean")
    assert "despite_open_legal_review" in exc.value.message_dict
    open_review.refresh_from_db()
    assert open_review.review_status == ReviewStatus.PENDING
    assert not AuditEvent.objects.filter(action="version.approve").exists()


def test_service_approves_with_confirmation_in_the_audit_reason(security, open_review):
    services.approve_version(
        user=security, version=open_review, reason="scanned, clean", despite_open_legal_review=True
    )
    open_review.refresh_from_db()
    assert open_review.review_status == ReviewStatus.APPROVED
    event = AuditEvent.objects.get(action="version.approve")
    assert event.reason == "scanned, clean [approve despite open legal review]"
    assert event.after["despite_open_legal_review"] is True


def test_no_warning_when_the_legal_review_is_settled(security):
    version = f.LicenseAnalysisFactory(needs_review=False).version
    assert not services.legal_review_open(version=version)
    services.approve_version(user=security, version=version, reason="ok")
    assert AuditEvent.objects.get(action="version.approve").reason == "ok"


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_page_warns_then_approves_with_the_checkbox(client_for, security, open_review, htmx):
    c = client_for(security)
    page = c.get(reverse("policies:version_review", args=[open_review.pk])).content.decode()
    assert 'id="legal-open-warning"' in page and "Approve despite open legal review" in page
    url = reverse("policies:version_decide", args=[open_review.pk])
    headers = {"HX-Request": "true"} if htmx else {}
    refused = c.post(url, {"decision": "approve", "reason": "clean scan"}, headers=headers)
    body = refused.content.decode()
    assert refused.status_code == 422
    assert "The legal review of this version is open" in body and 'role="alert"' in body
    assert 'aria-invalid="true"' in body  # the checkbox carries the error
    open_review.refresh_from_db()
    assert open_review.review_status == ReviewStatus.PENDING
    ok = c.post(url, {"decision": "approve", "reason": "clean scan", "despite_open_legal_review": "on"})
    assert ok.status_code == 302
    open_review.refresh_from_db()
    assert open_review.review_status == ReviewStatus.APPROVED
    assert "approve despite open legal review" in AuditEvent.objects.get(action="version.approve").reason


def test_page_without_open_review_has_no_warning(client_for, security):
    version = f.LicenseAnalysisFactory(needs_review=False).version
    page = client_for(security).get(reverse("policies:version_review", args=[version.pk])).content.decode()
    assert 'id="legal-open-warning"' not in page


def test_api_needs_the_flag(client_for, security, open_review):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(security)
    url = "/api/v1/approvals/"
    refused = api.post(url, {"version": open_review.pk, "decision": "approved", "reason": "ok"}, format="json")
    assert refused.status_code == 400 and "legal review" in refused.content.decode()
    ok = api.post(
        url,
        {"version": open_review.pk, "decision": "approved", "reason": "ok", "despite_open_legal_review": True},
        format="json",
    )
    assert ok.status_code == 201
