""" "My work": each role lands on its own queues; each section's count equals the rows its link shows."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from core import roles
from governance import work
from identity.models import Membership
from inventory.choices import JobState, ReviewStatus
from inventory.models import ApplicationModel, ImportJob, Model, ModelVersion
from licenses.choices import ConclusionStatus, ThreatGroup
from licenses.services import conclude_license
from policies.choices import WaiverState
from tests import factories as f

pytestmark = pytest.mark.django_db


def _count(html: str, key: str) -> int:
    match = re.search(rf'id="work-{key}-title">[^<]*<span class="badge[^"]*" data-count="(\d+)"', html)
    assert match, f"section {key} not on the page"
    return int(match.group(1))


def _latest(version):
    Model.objects.filter(pk=version.model_id).update(latest_version=version)
    return version


def test_login_redirects_to_my_work(client, make_user):
    user = make_user(roles.LEGAL_REVIEWER, username="lr", password="pw-123456789")
    user.set_password("pw-123456789")
    user.save()
    response = client.post(reverse("login"), {"username": "lr", "password": "pw-123456789"})
    assert response.status_code == 302
    assert response["Location"] == "/work/"


def test_home_sends_reviewers_to_work_and_managers_to_overview(client_for, legal, manager):
    assert client_for(legal).get("/")["Location"] == reverse("governance:work")
    assert client_for(manager).get("/")["Location"] == reverse("governance:overview")
    # A manager has no queue: /work/ passes them on to the overview, and the nav has no "My work".
    response = client_for(manager).get(reverse("governance:work"))
    assert response["Location"] == reverse("governance:overview")
    page = client_for(manager).get(reverse("governance:overview")).content.decode()
    assert "My work" not in page


def test_nav_puts_my_work_first(client_for, security):
    html = client_for(security).get(reverse("governance:work")).content.decode()
    nav = re.search(r'<nav class="mainnav"[^>]*>(.*?)</nav>', html, re.S).group(1)
    labels = re.findall(r">([^<]+)</a>", nav)
    assert labels[:2] == ["My work", "Overview"]


def test_sections_follow_permissions(client_for, legal, security, architect):
    legal_html = client_for(legal).get(reverse("governance:work")).content.decode()
    assert 'id="work-legal"' in legal_html and 'id="work-waivers"' in legal_html
    security_html = client_for(security).get(reverse("governance:work")).content.decode()
    assert 'id="work-legal"' not in security_html
    assert 'id="work-approvals"' in security_html and 'id="work-waivers"' in security_html
    architect_html = client_for(architect).get(reverse("governance:work")).content.decode()
    assert 'id="work-waivers"' not in architect_html and 'id="work-imports"' in architect_html


def test_empty_states_say_what_to_do(client_for, architect):
    html = client_for(architect).get(reverse("governance:work")).content.decode()
    assert "You have not imported anything yet." in html
    assert f'href="{reverse("inventory:import")}">Import a model</a>' in html


def test_legal_queue_section_counts_the_queue(client_for, legal):
    waiting = f.LicenseAnalysisFactory(declared="other", threat_group=ThreatGroup.UNKNOWN, needs_review=True, risk=40)
    f.LicenseAnalysisFactory(needs_review=False)  # settled: not waiting
    client = client_for(legal)
    html = client.get(reverse("governance:work")).content.decode()
    assert _count(html, "legal") == 1
    assert waiting.version.model.repo_id in html
    queue = client.get(reverse("licenses:queue")).content.decode()
    assert queue.count(reverse("licenses:review", args=[waiting.version_id])) >= 1


def test_waivers_section_only_kinds_i_decide_and_not_mine(client_for, legal, security):
    legal_policy = f.PolicyFactory(conditions=[], category="legal")
    security_policy = f.PolicyFactory(conditions=[], category="security")
    to_me = f.WaiverFactory(policy=legal_policy, state=WaiverState.PENDING, requested_by=security)
    f.WaiverFactory(policy=legal_policy, state=WaiverState.PENDING, requested_by=legal)  # my own request
    f.WaiverFactory(policy=security_policy, state=WaiverState.PENDING, requested_by=security)  # not my kind
    f.WaiverFactory(policy=legal_policy, state=WaiverState.APPROVED, requested_by=security)  # decided
    assert list(work.waivers_to_decide(legal)) == [to_me]
    client = client_for(legal)
    html = client.get(reverse("governance:work")).content.decode()
    assert _count(html, "waivers") == 1
    listing = client.get(reverse("policies:waiver_list") + "?tab=to_decide").content.decode()
    assert listing.count(reverse("policies:waiver_detail", args=[to_me.pk])) >= 1
    assert len(set(re.findall(r"/policies/waivers/(\d+)/\"", listing))) == 1


def test_violations_on_my_models_until_triage_exists(client_for, architect, make_user):
    mine = f.ModelVersionFactory(imported_by=architect)
    org = f.OrganizationFactory()
    app = f.ApplicationFactory(organization=org)
    used = f.ModelVersionFactory()
    ApplicationModel.objects.create(application=app, version=used)
    Membership.objects.create(organization=org, user=architect, role=roles.ARCHITECT)
    other = f.ModelVersionFactory()
    policy = f.PolicyFactory(conditions=[], threat_level=8)
    f.ViolationFactory(policy=policy, version=mine)
    f.ViolationFactory(policy=policy, version=used)
    f.ViolationFactory(policy=policy, version=used, application=app)  # same version × policy: one row
    f.ViolationFactory(policy=policy, version=other)  # neither mine nor my organizations'
    count, rows = work.assigned_violation_rows(architect)
    if work.triage_model() is None:
        assert count == 2
        assert {v.version_id for v in rows} == {mine.pk, used.pk}
    html = client_for(architect).get(reverse("governance:work")).content.decode()
    assert _count(html, "violations") == count


def test_imports_i_started_with_state_and_filtered_list(client_for, architect, legal):
    mine = ImportJob.objects.create(repo_id="acme/mine", requested_by=architect, state=JobState.FAILED, error="boom")
    ImportJob.objects.create(repo_id="acme/theirs", requested_by=legal)
    client = client_for(architect)
    html = client.get(reverse("governance:work")).content.decode()
    assert _count(html, "imports") == 1
    assert "acme/mine@main" in html and "Failed" in html and "acme/theirs" not in html
    listing = client.get(reverse("inventory:importjob_list") + "?mine=true").content.decode()
    assert mine.target in listing and "acme/theirs" not in listing


def test_versions_awaiting_approval_count_matches_model_list(client_for, security):
    pending = _latest(f.ModelVersionFactory())
    _latest(f.ModelVersionFactory(review_status=ReviewStatus.IN_REVIEW))
    _latest(f.ModelVersionFactory(review_status=ReviewStatus.APPROVED))
    old = f.ModelVersionFactory(model=pending.model)  # not the current revision of its model
    assert old.review_status == ReviewStatus.PENDING
    client = client_for(security)
    html = client.get(reverse("governance:work")).content.decode()
    assert _count(html, "approvals") == 2
    listing = client.get(reverse("inventory:model_list") + "?status=awaiting").content.decode()
    shown = set(re.findall(r'href="/inventory/models/(\d+)/"', listing))
    assert len(shown) == 2


def test_first_rows_and_link_to_all(client_for, legal):
    for _ in range(work.FIRST_ROWS + 2):
        f.LicenseAnalysisFactory(declared="other", threat_group=ThreatGroup.UNKNOWN, needs_review=True)
    html = client_for(legal).get(reverse("governance:work")).content.decode()
    assert _count(html, "legal") == work.FIRST_ROWS + 2
    assert f"All {work.FIRST_ROWS + 2} →" in html
    section = html.split('id="work-legal"')[1].split("</section>")[0]
    assert section.count("<li>") == work.FIRST_ROWS


def test_concluded_versions_leave_the_legal_section(legal):
    analysis = f.LicenseAnalysisFactory(declared="other", threat_group=ThreatGroup.UNKNOWN, needs_review=True)
    assert work.legal_queue(legal).count() == 1
    conclude_license(actor=legal, version=analysis.version, status=ConclusionStatus.CONFIRMED, comment="Read it.")
    assert work.legal_queue(legal).count() == 0


def test_no_role_gets_the_no_role_page(client_for, nobody):
    response = client_for(nobody).get(reverse("governance:work"))
    assert response.status_code == 403 and "No role assigned" in response.content.decode()


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("governance:work"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def _fill(n: int, admin, legal) -> None:
    policy = f.PolicyFactory(conditions=[], category="legal")
    for i in range(n):
        analysis = f.LicenseAnalysisFactory(declared="other", threat_group=ThreatGroup.UNKNOWN, needs_review=True)
        _latest(analysis.version)
        ModelVersion.objects.filter(pk=analysis.version_id).update(imported_by=admin)
        f.ViolationFactory(policy=policy, version=analysis.version)
        if work.triage_model() is not None:  # with triage items, "assigned to me" is the item's assignee
            work.triage_model().objects.create(version=analysis.version, policy=policy, assignee=admin)
        f.WaiverFactory(policy=policy, version=analysis.version, state=WaiverState.PENDING, requested_by=legal)
        ImportJob.objects.create(repo_id=f"acme/job-{i}", requested_by=admin)


def test_query_count_does_not_grow_with_rows(client_for, admin_user, legal, django_assert_max_num_queries):
    client = client_for(admin_user)
    _fill(2, admin_user, legal)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(reverse("governance:work")).status_code == 200
    _fill(12, admin_user, legal)
    with django_assert_max_num_queries(len(small.captured_queries)):
        html = client.get(reverse("governance:work")).content.decode()
    assert _count(html, "legal") == 14 and _count(html, "imports") == 14 and _count(html, "waivers") == 14
    assert _count(html, "violations") == 14 and _count(html, "approvals") == 14
