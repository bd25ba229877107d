"""Smaller everyday fixes: 403 page with navigation, Revoke only on approved waivers, import page
refresh without JavaScript, import help text naming the allowed roots."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inventory.choices import JobState
from inventory.models import ImportJob
from policies.choices import WaiverState
from policies.models import Policy, Waiver
from tests.policies.test_permissions import _policy_post
from tests.ui.conftest import HX

pytestmark = pytest.mark.django_db


def test_403_page_keeps_navigation_and_says_why(client_for, manager):
    response = client_for(manager).get(reverse("policies:policy_create"))
    assert response.status_code == 403
    body = response.content.decode()
    assert "Your role does not allow this" in body
    assert 'class="mainnav"' in body and "Log out" in body


def test_revoke_is_offered_only_for_approved_waivers(client_for, architect, admin_user, violation):
    url = reverse("policies:waiver_request", args=[violation.pk])
    reason = Waiver._meta.get_field("reason").related_model.objects.first()
    client_for(architect).post(url, {"scope": "version", "owner": "root", "preset": "7", "reason": reason.pk}, **HX)
    waiver = Waiver.objects.get()
    assert waiver.state == WaiverState.PENDING
    admin = client_for(admin_user)
    pending = admin.get(reverse("policies:waiver_detail", args=[waiver.pk])).content.decode()
    assert 'value="approve"' in pending and 'value="revoke"' not in pending
    Waiver.objects.filter(pk=waiver.pk).update(state=WaiverState.APPROVED)
    approved = admin.get(reverse("policies:waiver_detail", args=[waiver.pk])).content.decode()
    assert 'value="revoke"' in approved


@pytest.mark.parametrize(("state", "refreshes"), [(JobState.RUNNING, True), (JobState.SUCCEEDED, False)])
def test_import_status_refreshes_without_js_only_while_active(client_for, admin_user, state, refreshes):
    job = ImportJob.objects.create(repo_id="org/model", state=state)
    body = client_for(admin_user).get(job.get_absolute_url()).content.decode()
    assert ('<noscript><meta http-equiv="refresh"' in body) is refreshes


def test_import_help_text_names_the_allowed_roots(client_for, admin_user, settings, tmp_path):
    settings.MODELGATE_LOCAL_IMPORT_ROOTS = [str(tmp_path / "imports")]
    body = client_for(admin_user).get(reverse("inventory:import")).content.decode()
    assert "any folder on the server" not in body
    assert f"under the import roots: {tmp_path / 'imports'}" in body
    settings.MODELGATE_LOCAL_IMPORT_ROOTS = []
    body = client_for(admin_user).get(reverse("inventory:import")).content.decode()
    assert "Local folders are disabled" in body


def test_violation_detail_links_policy_shows_remediation_and_why_not_waivable(
    client_for, architect, manager, violation
):
    policy = violation.policy
    url = reverse("policies:violation_detail", args=[violation.pk])
    waive = reverse("policies:waiver_request", args=[violation.pk])
    body = client_for(architect).get(url).content.decode()
    assert reverse("policies:policy_detail", args=[policy.pk]) in body
    assert f'href="{waive}"' in body and 'id="cannot-waive"' not in body
    assert "gives no remediation" in body
    policy.remediation = "Pick a widely used model."
    policy.non_waivable = True
    policy.save()
    body = client_for(architect).get(url).content.decode()
    assert "Pick a widely used model." in body
    assert "non-waivable" in body and f'href="{waive}"' not in body
    policy.non_waivable = False
    policy.save()
    assert "does not allow requesting waivers" in client_for(manager).get(url).content.decode()


def test_policy_form_edits_remediation(client_for, architect):
    c = client_for(architect)
    response = c.post(reverse("policies:policy_create"), {**_policy_post(), "remediation": "Use a pinned commit."})
    assert response.status_code == 302, response.content[:300]
    policy = Policy.objects.get(name="New one")
    assert policy.remediation == "Use a pinned commit."
    assert "Use a pinned commit." in c.get(reverse("policies:policy_edit", args=[policy.pk])).content.decode()
