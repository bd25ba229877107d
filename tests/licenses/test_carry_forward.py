"""A concluded revision's conclusion carries forward to a new revision with unchanged license evidence;
any change of evidence sends the new revision to the legal queue; a carried conclusion is revocable."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from core.models import AuditAction, AuditEvent
from inventory.models import ModelVersion
from licenses import services
from licenses.choices import ConclusionStatus
from licenses.models import LicenseAnalysis, LicenseConclusion
from tests.licenses.repos import make_version, text

pytestmark = pytest.mark.django_db

NC_FILES = {"LICENSE": text("cc-by-nc-4.0")}
NC_CARD = {"license": "cc-by-nc-4.0"}


def _revision(tmp_path: Path, name: str, *, card=None, files=None, body="# Model\n\nA model.\n") -> ModelVersion:
    """One more revision of lab/research-7b (its own folder and commit)."""
    version = make_version(tmp_path / name, "lab/research-7b", card=card or NC_CARD, files=files or NC_FILES, body=body)
    ModelVersion.objects.filter(pk=version.pk).update(commit=(name.encode().hex() * 40)[:40])
    version.refresh_from_db()
    services.analyse_version(version_id=version.pk)
    return version


@pytest.fixture
def concluded(tmp_path, legal):
    first = _revision(tmp_path, "rev1")
    assert LicenseAnalysis.objects.get(version=first).needs_review  # non-commercial: queued
    services.conclude_license(
        actor=legal, version=first, status=ConclusionStatus.CONFIRMED, comment="NC is fine for research."
    )
    return first


def test_unchanged_evidence_carries_the_conclusion(tmp_path, concluded, legal):
    second = _revision(tmp_path, "rev2")
    analysis = LicenseAnalysis.objects.get(version=second)
    assert analysis.evidence_key == LicenseAnalysis.objects.get(version=concluded).evidence_key
    assert not analysis.needs_review  # not sent to the legal queue
    assert not services.review_queue(legal).filter(version=second).exists()
    carried = services.current_conclusion(second.pk)
    assert carried is not None and carried.is_carried
    assert carried.status == ConclusionStatus.CONFIRMED
    assert carried.carried_from.version_id == concluded.pk
    assert carried.carried_from.created_by == legal
    event = AuditEvent.objects.get(action=AuditAction.LICENSE_CARRY_FORWARD, target_id=str(second.pk))
    assert event.after["from_version"] == concluded.pk and event.after["concluded_by"] == legal.username
    facts = services.license_facts([second.pk])[second.pk]
    assert facts["concluded"] and facts["review_status"] == ConclusionStatus.CONFIRMED


@pytest.mark.parametrize(
    "change",
    [
        {"files": {"LICENSE": text("cc-by-nc-4.0") + "\nAdditional term: no use in Antarctica.\n"}},
        {"files": {**NC_FILES, "NOTICE": "Copyright 2024 Lab.\n"}},
        {"card": {**NC_CARD, "license_link": "https://example.com/terms"}},
        {"body": "# Model\n\nA model.\n\nLicense: see the new terms.\n"},
    ],
    ids=["license-text-edited", "file-added", "card-license-link", "readme-changed"],
)
def test_changed_evidence_goes_to_the_queue(tmp_path, concluded, legal, change):
    second = _revision(tmp_path, "rev2", **change)
    analysis = LicenseAnalysis.objects.get(version=second)
    assert analysis.evidence_key != LicenseAnalysis.objects.get(version=concluded).evidence_key
    assert services.current_conclusion(second.pk) is None
    assert analysis.needs_review
    assert services.review_queue(legal).filter(version=second).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.LICENSE_CARRY_FORWARD).exists()


def test_an_open_conclusion_does_not_carry(tmp_path, legal):
    first = _revision(tmp_path, "rev1")
    services.conclude_license(actor=legal, version=first, status=ConclusionStatus.ACKNOWLEDGED, comment="Seen.")
    second = _revision(tmp_path, "rev2")
    assert services.current_conclusion(second.pk) is None
    assert LicenseAnalysis.objects.get(version=second).needs_review


def test_revoke_puts_it_back_in_the_queue(tmp_path, concluded, legal):
    second = _revision(tmp_path, "rev2")
    with pytest.raises(services.CarryForwardError):
        services.revoke_carried_conclusion(actor=legal, version=second, reason="  ")
    services.revoke_carried_conclusion(actor=legal, version=second, reason="The NC terms changed upstream.")
    assert LicenseAnalysis.objects.get(version=second).needs_review
    assert services.review_queue(legal).filter(version=second).exists()
    assert not services.license_facts([second.pk])[second.pk]["concluded"]
    event = AuditEvent.objects.get(action=AuditAction.LICENSE_CARRY_REVOKE, target_id=str(second.pk))
    assert event.reason == "The NC terms changed upstream." and event.actor == legal
    # Re-analysing does not carry it forward again: the revocation stands until a reviewer concludes.
    services.analyse_version(version_id=second.pk)
    assert LicenseAnalysis.objects.get(version=second).needs_review
    assert LicenseConclusion.objects.filter(version=second).count() == 2
    with pytest.raises(services.CarryForwardError):
        services.revoke_carried_conclusion(actor=legal, version=second, reason="again")


def test_revoke_needs_the_permission(tmp_path, concluded, manager):
    from django.core.exceptions import PermissionDenied

    second = _revision(tmp_path, "rev2")
    with pytest.raises(PermissionDenied):
        services.revoke_carried_conclusion(actor=manager, version=second, reason="no")
    assert services.current_conclusion(second.pk).is_carried


def test_review_page_shows_and_revokes(tmp_path, concluded, legal, client_for):
    second = _revision(tmp_path, "rev2")
    client = client_for(legal)
    url = reverse("licenses:review", args=[second.pk])
    html = client.get(url).content.decode()
    assert "Carried forward" in html and concluded.short_commit in html
    assert f"concluded by {legal.username} on" in html
    revoke = reverse("licenses:carry_revoke", args=[second.pk])
    bad = client.post(revoke, {"reason": ""})
    assert bad.status_code == 422 and "Say why" in bad.content.decode()
    bad_htmx = client.post(revoke, {"reason": ""}, headers={"HX-Request": "true"})
    assert bad_htmx.status_code == 422 and 'role="alert"' in bad_htmx.content.decode()
    assert services.current_conclusion(second.pk).is_carried  # nothing changed
    ok = client.post(revoke, {"reason": "Upstream changed."})
    assert ok.status_code == 302
    html = client.get(url).content.decode()
    assert "was revoked by" in html and "Carried forward</strong>" not in html
