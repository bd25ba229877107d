import pytest
from django.utils import timezone

from core.models import AuditEvent
from policies import services
from policies.facts import EvaluationContext, gather_facts, providers
from scanning.scanners.base import RULES_VERSION
from tests import factories as f
from tests.policies.conftest import make_policy, make_version

pytestmark = pytest.mark.django_db


def facts_of(version, **ctx):
    return gather_facts([version.pk], EvaluationContext(now=timezone.now(), **ctx))[version.pk]


def run(version, state="succeeded", verdict="safe", rules_version=None, findings=()):
    scan = f.ScanRunFactory(
        version=version, state=state, verdict=verdict if state == "succeeded" else "",
        rules_version=rules_version or RULES_VERSION,
    )  # fmt: skip
    for rule, category, evidence in findings:
        f.FindingFactory(scan_run=scan, rule=rule, category=category, evidence=evidence)
    return scan


def test_providers_are_registered():
    names = {p.name for p in providers()}
    assert {"inventory", "scanning", "licenses", "use_fit"} <= names


def test_scan_missing_queued_failed_outdated_succeeded():
    version = make_version()
    assert facts_of(version)["scan.state"] == "missing"
    run(version, state="queued")
    assert facts_of(version)["scan.state"] == "queued"
    version2 = make_version()
    run(version2, state="failed")
    assert facts_of(version2)["scan.state"] == "failed"
    version3 = make_version()
    run(version3, rules_version="1999.1")
    assert facts_of(version3)["scan.state"] == "outdated"
    version4 = make_version()
    run(version4, verdict="malicious", findings=[("pickle.global", "code-execution", "os.system('id')")])
    facts = facts_of(version4)
    assert facts["scan.state"] == "succeeded" and facts["scan.verdict"] == "malicious"
    assert facts["scan.categories"] == ["code-execution"] and facts["scan.rules"] == ["pickle.global"]
    assert facts["scan.evidence"] == ["os.system('id')"] and facts["scan.finding_count"] == 1


def test_rescan_in_progress_keeps_last_verdict():
    version = make_version()
    run(version, verdict="suspicious")
    run(version, state="running")
    facts = facts_of(version)
    assert facts["scan.state"] == "succeeded" and facts["scan.verdict"] == "suspicious"


def test_imported_global_policy_by_evidence_glob():
    version = make_version()
    run(version, verdict="malicious", findings=[("pickle.global", "process", "subprocess.Popen(['sh'])")])
    make_policy("popen", fact="scan.evidence", operator="matches", value="*subprocess.popen*")
    services.evaluate_versions()
    assert version.violations.get().matched["facts"]["scan.evidence"] == ["subprocess.Popen(['sh'])"]


def test_later_finding_reopens_approved_review(security, django_capture_on_commit_callbacks, mailoutbox):
    make_policy("Malicious", fact="scan.verdict", operator="is", value="malicious", actions={"release": "fail"})
    version = make_version(downloads=10_000)
    run(version, verdict="safe")
    services.evaluate_versions(version_ids=[version.pk])
    services.approve_version(user=security, version=version, reason="clean")
    run(version, verdict="malicious", findings=[("pickle.global", "code-execution", "builtins.exec('x')")])
    with django_capture_on_commit_callbacks(execute=True):
        services.evaluate_versions(version_ids=[version.pk])
    version.refresh_from_db()
    assert version.review_status == "in_review"
    assert AuditEvent.objects.filter(action="version.reopen", target_id=str(version.pk)).exists()
    assert mailoutbox == []  # the audit event is the fact; governance.notifications mails its subscribers
    assert services.action_at(version=version, stage="release")[0] == "fail"


def test_license_facts_missing_without_analysis():
    version = make_version()
    facts = facts_of(version)
    assert facts.get("license.state") in (None, "missing")


def test_use_fit_only_in_application_context():
    app = f.ApplicationFactory(commercial_use=True, trains_on_outputs=True)
    version = make_version()
    per_app = gather_facts([version.pk], EvaluationContext(now=timezone.now(), application=app), per_application=True)
    assert per_app[version.pk]["application.commercial_use"] is True
    assert per_app[version.pk]["application.trains_on_outputs"] is True
    assert "application.commercial_use" not in facts_of(version)


def test_card_and_content_facts():
    version = make_version(tags=["not-for-all-audiences"], repo_id="acme/uncensored-7b")
    facts = facts_of(version)
    assert facts["content.not_for_all_audiences"] is True
    assert "uncensored" in facts["content.text"]
    assert 0 <= facts["card.completeness"] <= 100
    assert facts["revision.pinned"] is False
    version.ref = version.commit
    version.save()
    assert facts_of(version)["revision.pinned"] is True
