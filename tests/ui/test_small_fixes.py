"""Smaller everyday fixes: 403 page with navigation, Revoke only on approved waivers, import page
refresh without JavaScript, import help text naming the allowed roots."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.overview import refresh_rollups
from inventory.choices import JobState
from inventory.models import ImportJob
from inventory.templatetags.modelgate import chips
from licenses.engine.observed import observe
from licenses.services import engine_catalog
from policies.choices import WaiverState
from policies.models import Policy, Violation, Waiver
from tests.licenses.repos import mit
from tests.policies.conftest import make_version
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


def test_chips_filter_renders_lists_not_python_reprs():
    assert chips(["llama3.1", "<b>"]) == '<span class="chip">llama3.1</span>, <span class="chip">&lt;b&gt;</span>'
    assert "none" in chips([])
    assert chips(12) == "12" and chips("x" * 100).endswith("…")


def test_violation_evidence_shows_lists_as_chips(client_for, architect, violation):
    Violation.objects.filter(pk=violation.pk).update(
        matched={"constraints": ["c1"], "facts": {"model.tags": ["llama3.1", "text-generation"]}}
    )
    for url in (reverse("policies:violation_detail", args=[violation.pk]), reverse("policies:violation_list")):
        body = client_for(architect).get(url).content.decode()
        assert "[&#x27;llama3.1" not in body and "['llama3.1" not in body
        assert '<span class="chip">llama3.1</span>' in body


def test_empty_filters_read_any(client_for, architect):
    body = client_for(architect).get(reverse("policies:policy_list")).content.decode()
    assert ">Unknown</option>" not in body and "---------" not in body
    assert '<option value="" selected>Any</option>' in body


@pytest.mark.parametrize("htmx", [True, False])
def test_impact_preview_lists_the_matching_versions(client_for, architect, htmx):
    Policy.objects.all().delete()
    versions = [make_version(downloads=1) for _ in range(22)]
    make_version(downloads=10_000)
    extra = HX if htmx else {}
    response = client_for(architect).post(
        reverse("policies:policy_preview"), {**_policy_post(), "preview_stage": "release"}, **extra
    )
    body = response.content.decode()
    assert "22 versions match" in body and "(first 20)" in body
    links = [reverse("policies:version_review", args=[v.pk]) for v in versions]
    listed = body.split("Versions that match", 1)[1].split("</details>", 1)[0]
    assert sum(f'href="{link}"' in listed for link in links) == 20


@pytest.mark.parametrize("htmx", [False, True])
def test_mean_time_to_resolve_is_a_dash_when_nothing_was_resolved(client_for, admin_user, violation, htmx):
    extra = HX if htmx else {}
    refresh_rollups()  # the overview reads the worker's rollup (never computed inside a request)
    body = client_for(admin_user).get(reverse("governance:overview"), **extra).content.decode()
    mttr = body.split("Mean time to resolve", 1)[1].split("</svg>", 1)[0]
    assert "0 h" not in mttr and "—" in mttr


def test_license_evidence_detail_speaks_plainly():
    # A modified MIT text (one sentence dropped) is matched by similarity, and says so in plain words.
    body = mit().replace("The above copyright notice and this permission notice shall be included", "")
    found = [e for e in observe(engine_catalog(), {"LICENSE": body}) if e.path == "LICENSE"]
    assert found and all("shingle" not in e.detail for e in found)
    assert any("similarity" in e.detail and "to the catalog text" in e.detail for e in found)
