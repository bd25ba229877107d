"""Inventory pages: full page and htmx partial, constant query counts, sanitized cards."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inventory.choices import JobState
from inventory.models import ImportJob
from tests.factories import (
    ApplicationFactory,
    BaseModelLinkFactory,
    DatasetFactory,
    ModelFactory,
    ModelFileFactory,
    ModelVersionFactory,
)
from tests.hubserver.repos import tiny_bert_repo

pytestmark = pytest.mark.django_db


def _models(n: int) -> None:
    for _ in range(n):
        model = ModelFactory(tags=["nlp"])
        version = ModelVersionFactory(model=model)
        model.latest_version = version
        model.save()
        ModelFileFactory(version=version)


def test_model_list_full_page_and_partial(client_for, admin_user):
    _models(3)
    client = client_for(admin_user)
    full = client.get(reverse("inventory:model_list"))
    assert full.status_code == 200
    assert b"<html" in full.content and b"acme/model-" in full.content
    partial = client.get(reverse("inventory:model_list"), {"q": "model"}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert b"<html" not in partial.content and b'id="results"' in partial.content


def test_model_list_query_count_does_not_grow(client_for, admin_user, django_assert_max_num_queries, settings):
    settings.MODELGATE_PAGE_CACHE = False  # the rows' cost, not the per-generation permission cache's saving
    client = client_for(admin_user)
    _models(2)
    client.get(reverse("inventory:model_list"))  # warm caches (content types, sessions)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        client.get(reverse("inventory:model_list"))
    _models(25)
    with CaptureQueriesContext(connection) as large:
        client.get(reverse("inventory:model_list"))
    assert len(large.captured_queries) == len(small.captured_queries)


def test_model_list_filters(client_for, admin_user):
    app = ApplicationFactory()
    used = ModelVersionFactory(model=ModelFactory(repo_id="org/used-model"))
    used.model.latest_version = used
    used.model.save()
    used.usages.create(application=app)
    other = ModelVersionFactory(model=ModelFactory(repo_id="org/unused-model"))
    other.model.latest_version = other
    other.model.save()
    client = client_for(admin_user)
    body = client.get(reverse("inventory:model_list"), {"application": app.pk}).content.decode()
    assert "org/used-model" in body and "org/unused-model" not in body
    body = client.get(reverse("inventory:model_list"), {"organization": app.organization.pk}).content.decode()
    assert "org/used-model" in body and "org/unused-model" not in body
    body = client.get(reverse("inventory:model_list"), {"q": "unused"}).content.decode()
    assert "org/unused-model" in body and "org/used-model" not in body


def test_model_card_markdown_is_sanitized(client_for, admin_user):
    model = ModelFactory(
        card_markdown=(
            "# Title\n\n<script>alert(1)</script>\n\n[click](javascript:alert(2))\n\n"
            "<img src=x onerror=alert(3)>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
        )
    )
    version = ModelVersionFactory(model=model)
    model.latest_version = version
    model.save()
    body = client_for(admin_user).get(model.get_absolute_url()).content.decode()
    assert "<h1>Title</h1>" in body and "<table>" in body
    card = body.split('class="markdown"', 1)[1]
    assert "<script" not in card and 'href="javascript:' not in card and "<img" not in card
    assert "&lt;script&gt;" in card  # shown as text, never run


def test_model_page_shows_lineage_both_ways_and_datasets(client_for, admin_user):
    base = ModelFactory(repo_id="meta/base")
    child = ModelVersionFactory(model=ModelFactory(repo_id="acme/child"))
    child.model.latest_version = child
    child.model.save()
    BaseModelLinkFactory(version=child, base=base, relation="adapter")
    child.datasets.add(DatasetFactory(repo_id="acme/data", flags=["nsfw"]))
    client = client_for(admin_user)
    up = client.get(child.model.get_absolute_url()).content.decode()
    assert "meta/base" in up and "Adapter" in up and "acme/data" in up and "nsfw" in up
    down = client.get(base.get_absolute_url()).content.decode()
    assert "acme/child" in down


def test_version_page_lists_files(client_for, admin_user):
    f = ModelFileFactory(path="model.safetensors", size=2048)
    body = client_for(admin_user).get(f.version.get_absolute_url()).content.decode()
    assert "model.safetensors" in body and f.sha256 in body and f.version.commit in body


def test_import_form_htmx_shows_live_status(client_for, admin_user, hub_env, django_capture_on_commit_callbacks):
    tiny_bert_repo("views/tiny").add_to(hub_env)
    client = client_for(admin_user)
    assert client.get(reverse("inventory:import")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("inventory:import"), {"repo_id": "views/tiny", "revision": "main"}, HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200 and b"<html" not in response.content
    job = ImportJob.objects.get()
    assert response["HX-Push-Url"] == job.get_absolute_url()
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    status = client.get(job.get_absolute_url(), {"fragment": "status"}, HTTP_HX_REQUEST="true")
    assert b"views/tiny@" in status.content and b"every 1s" not in status.content  # done: polling stops


def test_import_form_without_js_redirects_to_the_job(client_for, admin_user, django_capture_on_commit_callbacks):
    client = client_for(admin_user)
    response = client.post(reverse("inventory:import"), {"repo_id": "x/y", "revision": "main"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    page = client.get(job.get_absolute_url()).content.decode()
    assert "every 1s" in page  # queued: the status partial polls


def test_import_form_rejects_empty_input(client_for, admin_user):
    response = client_for(admin_user).post(reverse("inventory:import"), {"repo_id": "", "local_path": ""})
    assert response.status_code == 422 and b"Give a repository id" in response.content
    assert not ImportJob.objects.exists()


def test_failed_job_page_shows_reason_and_retry(client_for, admin_user):
    job = ImportJob.objects.create(
        repo_id="a/b", state=JobState.FAILED, error="Repository a/b not found", error_kind="RepoNotFound"
    )
    body = client_for(admin_user).get(job.get_absolute_url()).content.decode()
    assert "Repository a/b not found" in body and "Retry" in body


def test_application_and_organization_pages(client_for, architect):
    app = ApplicationFactory(monthly_active_users=1234567)
    client = client_for(architect)
    assert b"1,234,567" in client.get(app.get_absolute_url()).content
    assert app.organization.name.encode() in client.get(reverse("inventory:organization_list")).content
    response = client.post(
        reverse("inventory:application_edit", args=[app.pk]),
        {
            "name": app.name,
            "slug": app.slug,
            "organization": app.organization.pk,
            "description": "",
            "commercial_use": "on",
            "monthly_active_users": 10,
            "annual_revenue_band": "lt1m",
        },
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.monthly_active_users == 10 and not app.serves_eu_users
    from core.models import AuditEvent

    event = AuditEvent.objects.get(action="application.update")
    assert event.before["monthly_active_users"] == 1234567 and event.after["monthly_active_users"] == 10


def test_dataset_flags_are_audited(client_for, security):
    dataset = DatasetFactory()
    response = client_for(security).post(
        reverse("inventory:dataset_detail", args=[dataset.pk]), {"flags": ["nsfw", "pii"], "notes": "found faces"}
    )
    assert response.status_code == 302
    dataset.refresh_from_db()
    assert dataset.flags == ["nsfw", "pii"]
    from core.models import AuditEvent

    assert AuditEvent.objects.filter(action="dataset.flag", target_id=str(dataset.pk)).exists()


def test_web_and_api_imports_only_read_allowed_folders(client_for, admin_user, settings, tmp_path):
    allowed = tmp_path / "imports"
    (allowed / "model").mkdir(parents=True)
    settings.MODELGATE_LOCAL_IMPORT_ROOTS = [str(allowed)]
    client = client_for(admin_user)
    for outside in ("/etc", str(allowed / ".." / "elsewhere")):
        form = client.post(reverse("inventory:import"), {"local_path": outside})
        assert form.status_code == 422 and b"outside the allowed import roots" in form.content
        api = client.post("/api/v1/models/import", {"local_path": outside}, content_type="application/json")
        assert api.status_code == 400 and "local_path" in api.json()
    assert not ImportJob.objects.exists()
    ok = client.post("/api/v1/models/import", {"local_path": str(allowed / "model")}, content_type="application/json")
    assert ok.status_code == 202 and ImportJob.objects.count() == 1
