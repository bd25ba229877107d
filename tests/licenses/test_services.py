from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from core.models import AuditEvent
from inventory import pipeline
from inventory.models import ApplicationModel, ModelVersion
from licenses import services
from licenses.models import License, LicenseAnalysis, LicenseConclusion, ObligationStatus
from licenses.services import analysis
from tests.factories import ApplicationFactory, OrganizationFactory
from tests.licenses.repos import mit, text

pytestmark = pytest.mark.django_db


def test_analysis_row_evidence_and_denormalised_expression(llama2_version):
    a = LicenseAnalysis.objects.get(version=llama2_version)
    assert a.state == "done" and a.effective == "llama2" and a.conflict
    assert a.threat_group == "ai-restricted" and a.needs_review and a.risk > 0
    ev = a.evidence.get(path="LICENSE")
    assert (ev.license_key, ev.match, ev.score) == ("llama2", "exact", 1.0)
    lines = ev.lines()
    assert lines[0][0] == 1 and any(hl for _, _, hl in lines)
    assert "LLAMA 2 COMMUNITY LICENSE" in ev.snippet
    assert a.evidence.get(path="USE_POLICY.md").match == "policy"
    assert ModelVersion.objects.get(pk=llama2_version.pk).license_expression == "llama2"
    assert a.summary["effective"] == "llama2"


def test_pipeline_step_registered_and_runs(repo):
    assert "licenses" in [s.name for s in pipeline.steps()]
    v = repo("acme/piped", card={"license": "mit"}, files={"LICENSE": mit()})
    outcome = pipeline.run_all(v.pk, only={"licenses"})
    assert outcome == {"licenses": "ok"}
    assert LicenseAnalysis.objects.get(version=v).effective == "mit"
    assert pipeline.summaries(v)["licenses"]["effective"] == "mit"


def test_transitive_lineage_through_imported_bases(repo):
    base = repo("meta-llama/Llama-2-7b-hf", card={"license": "llama2"}, files={"LICENSE.txt": text("llama2")})
    child = repo("acme/child", card={"license": "apache-2.0"}, bases=[(base.model, "finetune")])
    grandchild = repo("acme/grandchild", card={"license": "mit"}, bases=[(child.model, "quantized")])
    a = services.analyse_version(version_id=grandchild.pk)
    assert a.effective == "mit AND apache-2.0 AND llama2"
    assert {i["from"] for i in a.inherited} == {"acme/child"}
    assert LicenseAnalysis.objects.get(version=base).effective == "llama2"
    assert LicenseAnalysis.objects.get(version=child).effective == "apache-2.0 AND llama2"


def test_placeholder_base_then_import_reanalyses_derivative(repo, django_capture_on_commit_callbacks):
    derived = repo("acme/derived", card={"license": "apache-2.0"}, bases=[("someone/base-x", "finetune")])
    a = services.analyse_version(version_id=derived.pk)
    assert a.effective == "apache-2.0 AND unknown" and a.inherited[0]["weak"]
    base = repo("someone/base-x", card={"license": "cc-by-nc-4.0"}, files={"LICENSE": text("cc-by-nc-4.0")})
    with django_capture_on_commit_callbacks(execute=True):
        services.analyse_version(version_id=base.pk)
    a.refresh_from_db()
    assert a.effective == "apache-2.0 AND cc-by-nc-4.0"
    assert a.conflict


def test_hub_files_are_read_through_the_adapter(db, monkeypatch):
    from inventory import hub
    from tests.factories import ModelFileFactory, ModelVersionFactory

    v = ModelVersionFactory(model__repo_id="acme/hubbed", card_data={"license": "mit"})
    ModelFileFactory(version=v, path="LICENSE", size=1100, is_lfs=False, format="")
    ModelFileFactory(version=v, path="model.safetensors", size=10**9, is_lfs=True)
    ModelFileFactory(version=v, path="NOTICE", size=10, is_lfs=False, format="")
    calls = []

    class FakeClient:
        def __init__(self, *a, **k):
            pass

        def read_text(self, repo_id, commit, path, *, max_bytes):
            calls.append(path)
            if path == "NOTICE":
                raise hub.EntryNotFound("gone", repo_id, commit)
            return mit()

    monkeypatch.setattr(analysis, "HubClient", FakeClient)
    a = services.analyse_version(version_id=v.pk)
    assert sorted(calls) == ["LICENSE", "NOTICE"]
    assert a.effective == "mit" and any("NOTICE" in n for n in a.notes)


def test_license_facts_bulk_constant_queries(llama2_version, nc_version, mit_version, django_assert_max_num_queries):
    services.engine_catalog()
    ids = [llama2_version.pk, nc_version.pk, mit_version.pk, 999999]
    with django_assert_max_num_queries(7):
        facts = services.license_facts(ids)
    f = facts[llama2_version.pk]
    assert f["effective"] == "llama2" and f["declared"] == "apache-2.0" and f["conflict"]
    assert f["observed_ids"] == ["llama2"] and f["observed_text_ids"] == ["llama2"]
    assert f["threat_group"] == "ai-restricted" and "user-threshold:700M" in f["obligations"]
    assert facts[nc_version.pk]["threat_groups"] == ["non-commercial"]
    assert facts[999999]["state"] == "missing" and facts[999999]["unknown"]
    with django_assert_max_num_queries(7):
        services.license_facts([mit_version.pk])


def test_use_fit_and_scoped_conclusions(nc_version, app_commercial, legal, org):
    ok, reasons = services.use_fit(nc_version, app_commercial)
    assert not ok and any("non-commercial" in r for r in reasons)
    research = ApplicationFactory(organization=org, commercial_use=False)
    assert services.use_fit(nc_version, research)[0]
    # An application-scoped override (e.g. a commercial licence was bought) wins for that application only.
    services.conclude_license(
        actor=legal,
        version=nc_version,
        status="overridden",
        license_expression="apache-2.0",
        comment="Commercial licence signed 2025-01",
        application=app_commercial,
    )
    assert services.use_fit(nc_version, app_commercial) == (True, [])
    other_app = ApplicationFactory(organization=org, commercial_use=True)
    assert not services.use_fit(nc_version, other_app)[0]
    # Organization scope covers the org's applications; installation-wide changes the facts.
    services.conclude_license(
        actor=legal,
        version=nc_version,
        status="overridden",
        license_expression="mit",
        comment="Org-wide agreement",
        organization=org,
    )
    assert services.use_fit(nc_version, other_app)[0]
    assert services.license_facts([nc_version.pk])[nc_version.pk]["effective"] == "cc-by-nc-4.0"


def test_conclusion_rules_and_audit(llama2_version, legal, architect):
    with pytest.raises(PermissionDenied):
        services.conclude_license(actor=architect, version=llama2_version, status="confirmed", comment="x")
    with pytest.raises(services.ConclusionError):
        services.conclude_license(actor=legal, version=llama2_version, status="confirmed", comment=" ")
    with pytest.raises(services.ConclusionError, match="overridden"):
        services.conclude_license(
            actor=legal, version=llama2_version, status="selected", license_expression="gpl-3.0", comment="pick"
        )
    with pytest.raises(services.ConclusionError, match="Not in the catalog"):
        services.conclude_license(
            actor=legal, version=llama2_version, status="overridden", license_expression="acme-eula", comment="pick"
        )
    c = services.conclude_license(
        actor=legal,
        version=llama2_version,
        status="confirmed",
        comment="The shipped Llama 2 text governs; card is wrong.",
    )
    assert c.license_expression == "llama2" and c.detected_effective == "llama2"
    event = AuditEvent.objects.get(action="license.conclude")
    assert event.after["status"] == "confirmed" and event.actor == legal
    facts = services.license_facts([llama2_version.pk])[llama2_version.pk]
    assert facts["review_status"] == "confirmed" and facts["concluded"]
    services.conclude_license(
        actor=legal,
        version=llama2_version,
        status="overridden",
        license_expression="mit",
        comment="Relicensed by Meta to us",
    )
    assert services.license_summary(llama2_version)["effective"] == "mit"
    assert "user-threshold:700M" not in services.license_summary(llama2_version)["obligations"]
    assert not LicenseAnalysis.objects.get(version=llama2_version).needs_review
    services.conclude_license(
        actor=legal,
        version=llama2_version,
        status="selected",
        license_expression="apache-2.0",
        comment="declared option",
    )
    assert LicenseConclusion.objects.filter(version=llama2_version).count() == 3


def test_checklist_and_attribution(llama2_version, mit_version, app_commercial, legal, manager):
    ApplicationModel.objects.create(application=app_commercial, version=llama2_version)
    ApplicationModel.objects.create(application=app_commercial, version=mit_version)
    rows = services.obligation_checklist(app_commercial)
    terms = {(r.version.pk, r.term) for r in rows}
    assert (llama2_version.pk, "attribution-notice") in terms and (mit_version.pk, "license-copy") in terms
    with pytest.raises(PermissionDenied):
        services.set_obligation_status(
            actor=manager,
            application=app_commercial,
            version=llama2_version,
            term="attribution-notice",
            status="fulfilled",
        )
    services.set_obligation_status(
        actor=legal,
        application=app_commercial,
        version=llama2_version,
        term="attribution-notice",
        status="fulfilled",
        owner=legal,
        note="NOTICE shipped",
    )
    row = ObligationStatus.objects.get()
    assert row.status == "fulfilled" and row.owner == legal
    assert AuditEvent.objects.filter(action="license.obligation_status").exists()
    rows = services.obligation_checklist(app_commercial)
    assert next(r for r in rows if r.term == "attribution-notice").status == "fulfilled"
    # The NOTICE lists what is shipped: approved versions only.
    ModelVersion.objects.filter(pk__in=[llama2_version.pk, mit_version.pk]).update(review_status="approved")
    entries = services.attribution_report(app_commercial)
    assert [e.effective for e in entries] == ["llama2", "mit"]
    notice = services.notice_text(app_commercial, entries)
    assert "Llama 2 is licensed under the LLAMA 2 Community License" in notice
    assert "LLAMA 2 COMMUNITY LICENSE AGREEMENT" in notice and "Permission is hereby granted" in notice


def test_catalog_edit_is_audited_and_reanalyses(mit_version, legal, manager, django_capture_on_commit_callbacks):
    lic = License.objects.get(key="mit")
    with pytest.raises(PermissionDenied):
        services.save_license(actor=manager, data={"threat_group": "proprietary"}, license=lic)
    with django_capture_on_commit_callbacks(execute=True):
        services.save_license(actor=legal, data={"threat_group": "proprietary"}, license=lic, reason="test")
    a = LicenseAnalysis.objects.get(version=mit_version)
    assert a.threat_group == "proprietary" and a.needs_review
    event = AuditEvent.objects.get(action="license.update")
    assert event.before["threat_group"] == "permissive" and event.after["threat_group"] == "proprietary"
    with django_capture_on_commit_callbacks(execute=True):
        services.save_license_obligation(actor=legal, license=lic, term="non-commercial", clause="x", quote="y")
    a.refresh_from_db()
    assert "non-commercial" in a.obligations


def test_new_license_text_is_detected_after_adding_it(repo, legal, django_capture_on_commit_callbacks):
    v = repo(
        "acme/custom",
        card={"license": "other", "license_name": "acme-terms"},
        files={"LICENSE": "ACME MODEL TERMS\n\n" + "You may use the Acme model for internal evaluation only. " * 30},
    )
    assert services.analyse_version(version_id=v.pk).effective == "other"
    with django_capture_on_commit_callbacks(execute=True):
        services.save_license(
            actor=legal,
            data={
                "key": "acme-terms",
                "name": "Acme Model Terms",
                "threat_group": "proprietary",
                "text": "ACME MODEL TERMS\n\n" + "You may use the Acme model for internal evaluation only. " * 30,
            },
        )
    a = LicenseAnalysis.objects.get(version=v)
    assert a.effective == "acme-terms"


def test_queue_orders_riskiest_first(llama2_version, nc_version, mit_version, analysed, legal):
    unknown = analysed("someone/mystery")
    queue = list(services.review_queue(legal))
    assert [a.version_id for a in queue][:1] == [unknown.pk]
    assert mit_version.pk not in [a.version_id for a in queue]
    assert {llama2_version.pk, nc_version.pk} <= {a.version_id for a in queue}


def test_failed_analysis_is_recorded(repo, monkeypatch):
    v = repo("acme/boom", card={"license": "mit"})
    monkeypatch.setattr(services.analysis, "read_version_files", lambda version: (_ for _ in ()).throw(OSError("disk")))
    with pytest.raises(OSError):
        services.analyse_version(version_id=v.pk)
    a = LicenseAnalysis.objects.get(version=v)
    assert a.state == "failed" and "disk" in a.error
    assert services.license_facts([v.pk])[v.pk]["state"] == "failed"
    _ = OrganizationFactory


def test_unfit_application_puts_a_permissive_version_in_the_queue(mit_version, org, legal):
    from licenses.models import LicenseAnalysis

    big = ApplicationFactory(organization=org, name="Huge app", commercial_use=True)
    ApplicationModel.objects.create(application=big, version=mit_version)
    services.refresh_use_fit([mit_version.pk])
    assert not LicenseAnalysis.objects.get(version=mit_version).needs_review
    services.save_license_obligation(
        actor=legal, license=License.objects.get(key="mit"), term="user-threshold:1M", clause="test", quote="test"
    )
    big.monthly_active_users = 5_000_000
    big.save()
    a = services.analyse_version(version_id=mit_version.pk)
    assert a.needs_review and a.unfit_applications and "Huge app" in a.unfit_applications[0]
    services.conclude_license(
        actor=legal,
        version=mit_version,
        status="overridden",
        license_expression="apache-2.0",
        comment="enterprise terms",
        application=big,
    )
    a.refresh_from_db()
    assert a.unfit_applications == [] and not a.needs_review


def test_readme_file_is_read_when_the_card_text_was_not_stored(repo):
    v = repo("acme/no-card-text", files={})
    ModelVersion.objects.filter(pk=v.pk).update(card_markdown="")
    readme_path = f"{v.local_path}/README.md"
    with open(readme_path, "w") as fh:
        fh.write("# Model\n\n![License](https://img.shields.io/badge/License-Apache_2.0-blue.svg)\n")
    a = services.analyse_version(version_id=v.pk)
    assert a.effective == "apache-2.0" and a.is_weak
    assert a.evidence.get().path == "README.md"


def test_an_apache_text_with_a_non_commercial_rider_is_unfit_for_a_commercial_application(analysed, app_commercial):
    rider = "\n\nADDITIONAL TERMS. The weights may be used for non-commercial purposes only.\n"
    version = analysed("acme/rider-enc", card={"license": "apache-2.0"}, files={"LICENSE": text("apache-2.0") + rider})
    analysis = version.license_analysis
    assert analysis.effective == "apache-2.0 AND LicenseRef-apache-2.0-rider"
    assert "non-commercial" in analysis.obligations and analysis.threat_group == "non-commercial"
    assert analysis.evidence.filter(license_key="LicenseRef-apache-2.0-rider", match="modified").exists()
    ok, reasons = services.use_fit(version, app_commercial)
    assert not ok and any("non-commercial" in r for r in reasons)
    ApplicationModel.objects.create(application=app_commercial, version=version)
    services.refresh_use_fit([version.pk])
    analysis.refresh_from_db()
    assert analysis.unfit_applications and analysis.needs_review


def test_facts_leave_third_party_notice_texts_out_and_keep_a_riders_group(analysed):
    version = analysed(
        "Qwen/Qwen-7B-Chat",
        card={"license": "other", "license_name": "tongyi-qianwen"},
        files={"LICENSE": text("tongyi-qianwen"), "NOTICE": "Bundled: tiktoken\n\n" + mit("OpenAI", "2022")},
    )
    facts = services.license_facts([version.pk])[version.pk]
    assert facts["observed_text_ids"] == ["tongyi-qianwen"] and "mit" not in facts["observed_ids"]
    assert facts["effective"] == "tongyi-qianwen" and not facts["conflict"]
    rider = "\n\nThe weights may be used for research purposes only.\n"
    nc = analysed("acme/rider-2", card={"license": "mit"}, files={"LICENSE": mit() + rider})
    facts = services.license_facts([nc.pk])[nc.pk]
    assert facts["effective"] == "mit AND LicenseRef-mit-rider"
    assert facts["threat_group"] == "non-commercial" and "research-only" in facts["obligations"]
