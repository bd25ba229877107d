"""One write path: an application edited in the browser and through the API ends the same way.

Same service, same audit event shape, same re-evaluation of the versions the application uses
(violations that depend on its use profile open and close), same license use-fit refresh.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.models import AuditEvent
from inventory.models import Application, ApplicationModel
from policies.models import Violation
from tests import factories as f
from tests.policies.conftest import make_policy, make_version

pytestmark = pytest.mark.django_db

PROFILE = {
    "name": "Support bot",
    "slug": "support-bot",
    "description": "",
    "distributes_model": False,
    "monthly_active_users": 0,
    "annual_revenue_band": "lt10m",
    "serves_eu_users": False,
    "trains_on_outputs": False,
}


@pytest.fixture
def used_version(db):
    app = f.ApplicationFactory(name="Support bot", slug="support-bot", commercial_use=False)
    version = make_version(downloads=10_000)
    ApplicationModel.objects.create(application=app, version=version)
    make_policy("commercial use", fact="application.commercial_use", operator="is", value=True)
    return app, version


def _open_for(app: Application) -> list[str]:
    return sorted(Violation.objects.open().filter(application=app).values_list("policy__name", flat=True))


def _web_edit(client, app: Application, commercial: bool) -> None:
    data = {**PROFILE, "organization": app.organization_id, "commercial_use": "on" if commercial else ""}
    data = {k: v for k, v in data.items() if v is not False}
    response = client.post(f"/inventory/applications/{app.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:2000]


def _api_edit(user, app: Application, commercial: bool) -> None:
    api = APIClient()
    api.force_authenticate(user)
    response = api.patch(f"/api/v1/applications/{app.pk}/", {"commercial_use": commercial}, format="json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", ["web", "api"])
def test_editing_the_use_profile_re_evaluates(
    path, used_version, admin_user, client, django_capture_on_commit_callbacks
):
    app, _ = used_version
    assert _open_for(app) == []
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        if path == "web":
            _web_edit(client, app, commercial=True)
        else:
            _api_edit(admin_user, app, commercial=True)
    assert _open_for(app) == ["commercial use"]
    with django_capture_on_commit_callbacks(execute=True):
        if path == "web":
            _web_edit(client, app, commercial=False)
        else:
            _api_edit(admin_user, app, commercial=False)
    assert _open_for(app) == []


def test_web_and_api_edits_write_the_same_audit_event(
    used_version, admin_user, client, django_capture_on_commit_callbacks
):
    app, _ = used_version
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        _web_edit(client, app, commercial=True)
        _api_edit(admin_user, app, commercial=False)
    web, api = AuditEvent.objects.filter(action="application.update").order_by("id")
    assert web.actor == api.actor == admin_user
    assert set(web.before) == set(web.after) == set(api.before) == set(api.after)
    assert web.after["commercial_use"] is True and api.after["commercial_use"] is False
    assert api.before == web.after  # the API's "before" is exactly what the web edit left


def test_api_create_goes_through_the_service(admin_user):
    api = APIClient()
    api.force_authenticate(admin_user)
    org = f.OrganizationFactory()
    response = api.post(
        "/api/v1/applications/",
        {"name": "New app", "slug": "new-app", "organization": org.pk, "commercial_use": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    event = AuditEvent.objects.get(action="application.create")
    assert event.before is None and event.after["commercial_use"] is True and event.after["organization"] == org.pk
    assert response.json()["id"] == int(event.target_id)
