"""Diff between two revisions of a model: files by sha256, findings by rule + file, licenses and
obligations, violations per policy; a plain GET form (no JavaScript), clear errors for bad revisions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inventory import diff
from inventory.models import ModelVersion
from licenses.choices import ThreatGroup
from policies.models import Policy
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_default_pack(db):
    Policy.objects.all().delete()


@pytest.fixture
def revisions():
    model = f.ModelFactory(repo_id="acme/chat")
    old = f.ModelVersionFactory(model=model, commit="a" * 40)
    new = f.ModelVersionFactory(model=model, commit="b" * 40)
    ModelVersion.objects.filter(pk=old.pk).update(imported_at=timezone.now() - timedelta(days=3))
    old.refresh_from_db()
    # files: same, changed, removed, added
    f.ModelFileFactory(version=old, path="config.json", sha256="1" * 64)
    f.ModelFileFactory(version=new, path="config.json", sha256="1" * 64)
    f.ModelFileFactory(version=old, path="model.safetensors", sha256="2" * 64)
    f.ModelFileFactory(version=new, path="model.safetensors", sha256="3" * 64)
    f.ModelFileFactory(version=old, path="old.bin", sha256="4" * 64)
    f.ModelFileFactory(version=new, path="pytorch_model.bin", sha256="5" * 64)
    # findings: one kept, one gone, one new
    old_run = f.ScanRunFactory(version=old)
    new_run = f.ScanRunFactory(version=new)
    f.FindingFactory(scan_run=old_run, rule="pickle.global.denied", path="kept.bin")
    f.FindingFactory(scan_run=new_run, rule="pickle.global.denied", path="kept.bin")
    f.FindingFactory(scan_run=old_run, rule="pickle.global.denied", path="old.bin")
    f.FindingFactory(scan_run=new_run, rule="pickle.reduce.exec", path="pytorch_model.bin")
    # licenses
    f.LicenseAnalysisFactory(version=old, declared="apache-2.0")
    f.LicenseAnalysisFactory(
        version=new,
        declared="cc-by-nc-4.0",
        threat_group=ThreatGroup.NON_COMMERCIAL,
        obligations=["non-commercial"],
    )
    # violations: one resolved, one new, one still open
    gone = f.PolicyFactory(name="Old problem", conditions=[], threat_level=3)
    fresh = f.PolicyFactory(name="New problem", conditions=[], threat_level=9)
    both = f.PolicyFactory(name="Lasting problem", conditions=[], threat_level=5)
    f.ViolationFactory(policy=gone, version=old)
    f.ViolationFactory(policy=fresh, version=new)
    f.ViolationFactory(policy=fresh, version=new, application=f.ApplicationFactory())
    f.ViolationFactory(policy=both, version=old)
    f.ViolationFactory(policy=both, version=new)
    return model, old, new


def _section(sections, key):
    return next(s for s in sections if s.key == key)


def test_files_by_sha256(revisions, security):
    _, old, new = revisions
    files = _section(diff.version_diff(security, old, new), "files")
    assert {(r.label, r.change) for r in files.rows} == {
        ("model.safetensors", "changed"),
        ("old.bin", "removed"),
        ("pytorch_model.bin", "added"),
    }
    assert files.unchanged == 1


def test_findings_new_and_gone_by_rule_and_file(revisions, security):
    _, old, new = revisions
    findings = _section(diff.version_diff(security, old, new), "findings")
    assert {(r.label, r.change) for r in findings.rows} == {
        ("pickle.reduce.exec · pytorch_model.bin", "new"),
        ("pickle.global.denied · old.bin", "gone"),
    }
    assert findings.unchanged == 1


def test_licenses_and_obligations(revisions, security):
    _, old, new = revisions
    lic = _section(diff.version_diff(security, old, new), "licenses")
    changes = {r.label: (r.change, r.before, r.after) for r in lic.rows}
    assert changes["Declared"] == ("changed", "apache-2.0", "cc-by-nc-4.0")
    assert changes["Effective (after conclusions)"][0] == "changed"
    assert changes["Obligation non-commercial"][0] == "added"


def test_violations_per_policy(revisions, security):
    _, old, new = revisions
    rows = {r.label: r for r in _section(diff.version_diff(security, old, new), "violations").rows}
    assert rows["New problem (threat 9)"].change == "new"
    assert rows["New problem (threat 9)"].after == "2 contexts"
    assert rows["Old problem (threat 3)"].change == "resolved"
    assert rows["Lasting problem (threat 5)"].change == "still open"


def test_page_renders_every_section(revisions, client_for, security):
    model, _old, _new = revisions
    url = reverse("inventory:model_diff", args=[model.pk])
    response = client_for(security).get(url, {"from": "aaaaaaa", "to": "bbbbbbb"})
    html = response.content.decode()
    assert response.status_code == 200
    for key in ("files", "findings", "licenses", "violations"):
        assert f'id="diff-{key}"' in html
    assert "pytorch_model.bin" in html and "New problem" in html
    assert '<select name="from"' in html and '<form class="filters diff-form" method="get"' in html


def test_defaults_compare_the_latest_with_its_previous(revisions, client_for, security):
    model, old, _new = revisions
    html = client_for(security).get(reverse("inventory:model_diff", args=[model.pk])).content.decode()
    assert f'From <a class="sha" href="{old.get_absolute_url()}">{old.short_commit}</a>' in html


@pytest.mark.parametrize(
    "params, message",
    [
        ({"from": "cccccccc", "to": "bbbbbbb"}, "has no imported revision cccccccc"),
        ({"from": "zz", "to": "bbbbbbb"}, "at least 4 hex digits"),
        ({"from": "bbbbbbb", "to": "bbbbbbb"}, "Pick two different revisions."),
    ],
)
def test_bad_revisions_are_clear_errors(revisions, client_for, security, params, message):
    model, _, _ = revisions
    response = client_for(security).get(reverse("inventory:model_diff", args=[model.pk]), params)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and 'role="alert"' in html


def test_version_page_links_compare_with_previous(revisions, client_for, security):
    _model, old, new = revisions
    c = client_for(security)
    html = c.get(reverse("inventory:version_detail", args=[new.pk])).content.decode()
    assert f"?from={old.short_commit}&amp;to={new.short_commit}" in html
    first = c.get(reverse("inventory:version_detail", args=[old.pk])).content.decode()
    assert 'id="compare-previous"' not in first


def test_sections_follow_permissions(revisions, nobody, client_for):
    model, old, new = revisions
    assert diff.version_diff(nobody, old, new) == []
    assert client_for(nobody).get(reverse("inventory:model_diff", args=[model.pk])).status_code == 403
