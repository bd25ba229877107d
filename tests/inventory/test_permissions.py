"""Every role × action, including direct POSTs and API calls; deny by default."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from inventory.models import ImportJob
from tests.factories import ApplicationFactory, DatasetFactory, ModelFileFactory

pytestmark = pytest.mark.django_db

ROLES = ["admin_user", "architect", "legal", "security", "manager", "nobody"]
READERS = {"admin_user", "architect", "legal", "security", "manager"}
IMPORTERS = {"admin_user", "architect", "legal", "security"}
APP_EDITORS = {"admin_user", "architect"}
DATASET_FLAGGERS = {"admin_user", "legal", "security"}


@pytest.fixture
def objects():
    f = ModelFileFactory()
    f.version.model.latest_version = f.version
    f.version.model.save()
    return {"version": f.version, "model": f.version.model, "app": ApplicationFactory(), "dataset": DatasetFactory()}


def _pages(o):
    return [
        reverse("inventory:model_list"),
        o["model"].get_absolute_url(),
        o["version"].get_absolute_url(),
        reverse("inventory:importjob_list"),
        reverse("inventory:application_list"),
        o["app"].get_absolute_url(),
        reverse("inventory:organization_list"),
        reverse("inventory:dataset_list"),
        reverse("inventory:dataset_detail", args=[o["dataset"].pk]),
    ]


def test_anonymous_is_sent_to_login(objects):
    client = Client()
    for url in _pages(objects):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    assert client.post(reverse("inventory:import"), {"repo_id": "a/b"}).status_code == 302
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("role", ROLES)
def test_reading_pages(role, request, client_for, objects):
    client = client_for(request.getfixturevalue(role))
    for url in _pages(objects):
        assert client.get(url).status_code == (200 if role in READERS else 403), (role, url)


@pytest.mark.parametrize("role", ROLES)
def test_import_by_direct_post(role, request, client_for):
    client = client_for(request.getfixturevalue(role))
    response = client.post(reverse("inventory:import"), {"repo_id": "a/b", "revision": "main"})
    assert response.status_code == (302 if role in IMPORTERS else 403), role
    assert ImportJob.objects.exists() == (role in IMPORTERS)


@pytest.mark.parametrize("role", ROLES)
def test_editing_applications(role, request, client_for, objects):
    client = client_for(request.getfixturevalue(role))
    app = objects["app"]
    data = {
        "name": "Renamed",
        "slug": app.slug,
        "organization": app.organization.pk,
        "monthly_active_users": 1,
        "annual_revenue_band": "lt1m",
    }
    response = client.post(reverse("inventory:application_edit", args=[app.pk]), data)
    assert response.status_code == (302 if role in APP_EDITORS else 403), role
    app.refresh_from_db()
    assert (app.name == "Renamed") == (role in APP_EDITORS)


@pytest.mark.parametrize("role", ROLES)
def test_flagging_datasets(role, request, client_for, objects):
    client = client_for(request.getfixturevalue(role))
    dataset = objects["dataset"]
    response = client.post(reverse("inventory:dataset_detail", args=[dataset.pk]), {"flags": ["nsfw"]})
    assert response.status_code == (302 if role in DATASET_FLAGGERS else 403), role
    dataset.refresh_from_db()
    assert (dataset.flags == ["nsfw"]) == (role in DATASET_FLAGGERS)


@pytest.mark.parametrize("role", ROLES)
def test_api_with_token(role, request, objects):
    user = request.getfixturevalue(role)
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    listing = client.get("/api/v1/models/")
    assert listing.status_code == (200 if role in READERS else 403), role
    if role in READERS:
        assert listing.json()["count"] == 1
    response = client.post("/api/v1/models/import", {"repo_id": "a/b"}, content_type="application/json")
    assert response.status_code == (202 if role in IMPORTERS else 403), role
    patch = client.patch(
        f"/api/v1/datasets/{objects['dataset'].pk}/", {"flags": ["pii"]}, content_type="application/json"
    )
    assert patch.status_code == (200 if role in DATASET_FLAGGERS else 403), role
    app = client.patch(
        f"/api/v1/applications/{objects['app'].pk}/", {"monthly_active_users": 5}, content_type="application/json"
    )
    assert app.status_code == (200 if role in APP_EDITORS else 403), role


def test_api_refuses_anonymous(objects):
    client = Client()
    assert client.get("/api/v1/models/").status_code in (401, 403)
    assert client.post("/api/v1/models/import", {"repo_id": "a/b"}, content_type="application/json").status_code in (
        401,
        403,
    )
    assert not ImportJob.objects.exists()
