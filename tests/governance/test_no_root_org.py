"""The inventory-wide context (violations without an application) is never shown as an organization:
every page, export and filter calls it NO_APPLICATION ("No application (inventory)")."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from inventory.choices import NO_APPLICATION
from tests.governance.conftest import build_world


@pytest.fixture
def world(db):
    return build_world()


def test_overview_breakdown_names_the_inventory(world, client_for, manager):
    html = client_for(manager).get(reverse("governance:overview")).content.decode()
    assert NO_APPLICATION in html
    assert "root context" not in html.lower()


def test_violation_csv_labels_the_inventory(world, client_for, manager):
    body = b"".join(client_for(manager).get(reverse("governance:violation_export")).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    no_app = [r for r in rows if not r["organization"]]
    assert no_app and {r["application"] for r in no_app} == {NO_APPLICATION}
    assert "root" not in {r["organization"].lower() for r in rows}


def test_version_review_labels_the_inventory(world, client_for, security):
    version = world["versions"][0]
    html = client_for(security).get(reverse("policies:version_review", args=[version.pk])).content.decode()
    assert NO_APPLICATION in html and "root context" not in html.lower()
    assert '<span class="muted">root</span>' not in html
