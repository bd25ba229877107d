import pytest
from django.utils import timezone

from core.models import AuditEvent
from inventory.choices import ReviewStatus
from policies import services
from policies.facts import EvaluationContext, gather_facts
from policies.models import Policy, Violation
from tests import factories as f
from tests.policies.conftest import make_policy, make_version

pytestmark = pytest.mark.django_db


def test_violation_created_with_matched_facts_and_idempotent():
    policy = make_policy()
    version = make_version(downloads=10)
    make_version(downloads=5000)
    first = services.evaluate_versions()
    assert first.created == 1
    v = Violation.objects.get()
    assert (v.policy, v.version, v.state) == (policy, version, "open")
    assert v.matched == {"constraints": ["c1"], "facts": {"model.downloads": 10}}
    again = services.evaluate_versions()
    assert (again.created, again.resolved, again.updated, again.reopened) == (0, 0, 0, 0)


def test_factory_policy_evaluates_like_an_authored_one():
    authored = make_policy("Authored", operator="gt", value=1000)
    built = f.PolicyFactory(name="Built", conditions=[{"fact": "model.downloads", "operator": "gt", "value": 1000}])
    assert (built.category, authored.category) == ("quality", "quality")
    assert Policy.objects.get(pk=built.pk).category == "quality"
    popular = make_version(downloads=5000)
    make_version(downloads=10)
    services.evaluate_versions()
    assert sorted(Violation.objects.values_list("policy__name", "version_id")) == [
        ("Authored", popular.pk),
        ("Built", popular.pk),
    ]
    assert Violation.objects.get(policy=built).matched == Violation.objects.get(policy=authored).matched


def test_violation_resolves_and_reopens_as_facts_change():
    make_policy()
    version = make_version(downloads=10)
    services.evaluate_versions()
    version.model.downloads = 1000
    version.model.save()
    assert services.evaluate_versions(version_ids=[version.pk]).resolved == 1
    assert Violation.objects.get().state == "resolved"
    version.model.downloads = 1
    version.model.save()
    assert services.evaluate_versions(version_ids=[version.pk]).reopened == 1
    v = Violation.objects.get()
    assert v.state == "open" and v.matched["facts"] == {"model.downloads": 1}


def test_disabled_policy_resolves_its_violations():
    policy = make_policy()
    make_version(downloads=10)
    services.evaluate_versions()
    Policy.objects.filter(pk=policy.pk).update(enabled=False)
    assert services.evaluate_versions().resolved == 1


def test_scope_inheritance_org_tree_and_application_context():
    parent = f.OrganizationFactory()
    child = f.OrganizationFactory(parent=parent)
    app = f.ApplicationFactory(organization=child)
    other_app = f.ApplicationFactory()
    version = make_version(downloads=10)
    f.inventory_models = None
    from inventory.models import ApplicationModel

    ApplicationModel.objects.create(application=app, version=version)
    ApplicationModel.objects.create(application=other_app, version=version)
    make_policy("root policy")
    org_policy = make_policy("org policy", organization=parent)
    app_policy = make_policy("app policy", application=other_app)
    services.evaluate_versions()
    keys = set(Violation.objects.values_list("policy__name", "application_id"))
    assert keys == {
        ("root policy", None),
        ("root policy", app.pk),
        ("root policy", other_app.pk),
        ("org policy", app.pk),
        ("app policy", other_app.pk),
    }
    assert org_policy.scope_kind == "organization" and app_policy.scope_kind == "application"


def test_application_facts_only_in_application_context():
    app = f.ApplicationFactory(commercial_use=True)
    version = make_version()
    from inventory.models import ApplicationModel

    ApplicationModel.objects.create(application=app, version=version)
    make_policy("commercial", fact="application.commercial_use", operator="is", value=True)
    services.evaluate_versions()
    assert list(Violation.objects.values_list("application_id", flat=True)) == [app.pk]


def test_scan_missing_fails_closed_with_default_pack(default_pack):
    version = make_version(downloads=10_000)
    services.evaluate_versions(version_ids=[version.pk])
    names = set(Violation.objects.filter(version=version).values_list("policy__name", flat=True))
    assert "Scan missing, failed or outdated" in names
    action, _ = services.action_at(version=version, stage="release")
    assert action == "fail"
    v = Violation.objects.get(version=version, policy__name="Scan missing, failed or outdated")
    assert v.matched["facts"] == {"scan.state": "missing"}


def test_default_pack_loaded_and_audited(default_pack):
    assert len(default_pack) >= 20
    malicious = Policy.objects.get(name="Malicious file")
    assert malicious.non_waivable and malicious.threat_level == 10 and malicious.category == "security"
    assert Policy.objects.get(name="License conflict").category == "legal"
    assert Policy.objects.get(name="Card incomplete").category == "quality"
    assert AuditEvent.objects.filter(action="policy.create", reason="default policy pack").count() >= len(default_pack)


def test_action_at_stage_is_strongest_of_open_unwaived():
    version = make_version(downloads=10)
    make_policy("warn", threat_level=2, actions={"build": "warn"})
    make_policy("fail", threat_level=9, fact="model.likes", operator="lt", value=5, actions={"release": "fail"})
    services.evaluate_versions()
    assert services.action_at(version=version, stage="build")[0] == "warn"
    assert services.action_at(version=version, stage="release")[0] == "fail"
    assert services.action_at(version=version, stage="proxy")[0] == "none"


def test_new_violation_on_approved_version_reopens_review(admin_user, django_capture_on_commit_callbacks, mailoutbox):
    version = make_version(downloads=10)
    services.approve_version(user=admin_user, version=version, reason="fine")
    make_policy(actions={"release": "warn"})
    with django_capture_on_commit_callbacks(execute=True):
        result = services.evaluate_versions()
    assert result.reviews_reopened == [version.pk]
    version.refresh_from_db()
    assert version.review_status == ReviewStatus.IN_REVIEW
    assert AuditEvent.objects.filter(action="version.reopen", actor__isnull=True).exists()
    assert mailoutbox == []  # the audit event is the fact; governance.notifications mails its subscribers


def test_dataset_flag_is_a_fact():
    version = make_version()
    ds = f.DatasetFactory(flags=["nsfw"])
    version.datasets.add(ds)
    make_policy("nsfw", fact="datasets.flags", operator="contains_any", value=["nsfw"])
    services.evaluate_versions()
    assert Violation.objects.get().matched["facts"]["datasets.flags"] == ["nsfw"]


def test_lineage_facts():
    foundation = f.ModelFactory(repo_id="meta-llama/Llama-3.1-8B")
    mid = make_version()
    f.BaseModelLinkFactory(version=mid, base=foundation, relation="finetune")
    leaf = make_version()
    f.BaseModelLinkFactory(version=leaf, base=mid.model, relation="quantized")
    facts = gather_facts([leaf.pk], EvaluationContext(now=timezone.now()))[leaf.pk]
    assert facts["lineage.depth"] == 2
    assert facts["lineage.foundations"] == ["meta-llama/Llama-3.1-8B"]
    assert facts["lineage.relations"] == ["quantized"]
    assert facts["lineage.is_derivative"] is True


def test_violations_carry_their_policys_threat_level_for_the_triage_order():
    policy = make_policy()
    Policy.objects.filter(pk=policy.pk).update(threat_level=3)
    make_version(downloads=10)
    services.evaluate_versions()  # rows written in bulk (raw SQL / COPY) get the level copied over
    assert Violation.objects.get().threat_level == 3
    Policy.objects.filter(pk=policy.pk).update(threat_level=9)
    assert Violation.objects.all().sync_threat_levels() == 1
    assert Violation.objects.get().threat_level == 9
    assert Violation.objects.all().sync_threat_levels() == 0
