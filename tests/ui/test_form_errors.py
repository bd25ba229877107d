"""One error convention for every form: 422, the form again with its errors in place, announced, focused.

Each form is posted invalid twice: as htmx (the fragment that htmx swaps, see the htmx-config meta)
and as a plain form (JavaScript off: the whole page).
"""

from __future__ import annotations

import json
import re

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from core.htmx import focus_first_error
from inventory.forms import ImportForm
from tests.factories import ModelVersionFactory
from tests.policies.test_permissions import _policy_post
from tests.ui.conftest import HX

pytestmark = pytest.mark.django_db


def _assert_form_errors(response, *, htmx: bool, field: str) -> str:
    assert response.status_code == 422, response.content[:500]
    body = response.content.decode()
    assert ("<html" in body) is (not htmx)
    assert 'role="alert"' in body
    # The invalid field is marked, described by its error list, and focused first.
    tag = re.search(rf"<(?:input|select|textarea)[^>]*name=\"{field}\"[^>]*>", body)
    assert tag, f"no field {field}"
    assert 'aria-invalid="true"' in tag.group(0) and "autofocus" in tag.group(0)
    described = re.search(r'aria-describedby="([^"]+)"', tag.group(0))
    assert described and f"id_{field}_error" in described.group(1).split()
    assert f'id="id_{field}_error"' in body
    assert body.count("autofocus") == 1
    return body


def test_htmx_config_swaps_422_only():
    html = render_to_string("base.html", {})
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html)
    assert meta
    handling = json.loads(meta.group(1))["responseHandling"]
    assert {"code": "422", "swap": True} in handling
    assert handling.index({"code": "422", "swap": True}) < next(
        i for i, h in enumerate(handling) if h["code"] == "[45].."
    )


def test_focus_first_error_follows_field_order(admin_user):
    form = ImportForm({"repo_id": "", "local_path": ""}, user=admin_user)
    assert not form.is_valid()
    name = focus_first_error(form)
    assert name is not None and form.fields[name].widget.attrs["autofocus"] is True
    assert all("autofocus" not in f.widget.attrs for n, f in form.fields.items() if n != name)


@pytest.mark.parametrize("htmx", [True, False])
def test_import_form(client_for, admin_user, htmx):
    extra = HX if htmx else {}
    response = client_for(admin_user).post(reverse("inventory:import"), {"repo_id": "", "local_path": ""}, **extra)
    body = _assert_form_errors(response, htmx=htmx, field="repo_id")
    assert "Give a repository id" in body


@pytest.mark.parametrize("htmx", [True, False])
def test_waiver_request_form(client_for, architect, violation, htmx):
    extra = HX if htmx else {}
    url = reverse("policies:waiver_request", args=[violation.pk])
    response = client_for(architect).post(url, {"scope": "version", "owner": "root", "preset": "7"}, **extra)
    body = _assert_form_errors(response, htmx=htmx, field="reason")
    if htmx:  # the inline form replaces its own triage row
        assert body.lstrip().startswith(f'<tr id="violation-{violation.pk}"')
        assert 'hx-target="closest tr"' in body
    else:  # the page form is a plain form: no htmx target that does not exist on the page
        assert "closest tr" not in body


def test_waiver_page_from_violation_detail_is_a_plain_form(client_for, architect, violation):
    c = client_for(architect)
    detail = c.get(reverse("policies:violation_detail", args=[violation.pk])).content.decode()
    url = reverse("policies:waiver_request", args=[violation.pk])
    assert f'href="{url}"' in detail
    page = c.get(url).content.decode()
    assert "<html" in page and "closest tr" not in page and "hx-post" not in page.split("<main", 1)[1]


@pytest.mark.parametrize("htmx", [True, False])
def test_license_conclusion_form(client_for, admin_user, htmx):
    version = ModelVersionFactory()
    extra = HX if htmx else {}
    url = reverse("licenses:conclude", args=[version.pk])
    response = client_for(admin_user).post(url, {"status": "confirmed", "comment": ""}, **extra)
    body = _assert_form_errors(response, htmx=htmx, field="comment")
    if htmx:
        assert body.lstrip().startswith('<section id="conclusions"')


@pytest.mark.parametrize("htmx", [True, False])
def test_policy_save_form(client_for, architect, htmx):
    extra = HX if htmx else {}
    response = client_for(architect).post(reverse("policies:policy_create"), {**_policy_post(), "name": ""}, **extra)
    _assert_form_errors(response, htmx=False, field="name")  # the policy form is a whole-page form


@pytest.mark.parametrize("htmx", [True, False])
def test_version_decide_form(client_for, admin_user, violation, htmx):
    extra = HX if htmx else {}
    url = reverse("policies:version_decide", args=[violation.version_id])
    response = client_for(admin_user).post(url, {"decision": "reject", "reason": ""}, **extra)
    _assert_form_errors(response, htmx=False, field="reason")
