import hashlib
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from core.models import AuditEvent
from inventory import pipeline
from policies import services
from policies.models import Approval
from policies.services import gate
from tests import factories as f
from tests.policies.conftest import make_policy, make_version

pytestmark = pytest.mark.django_db


def test_approval_refused_while_release_fail_unwaived(security, legal, reason):
    policy = make_policy(actions={"release": "fail"})
    version = make_version(downloads=1)
    services.evaluate_versions()
    with pytest.raises(ValidationError, match="refused"):
        services.approve_version(user=security, version=version, reason="looks fine")
    w = services.request_waiver(
        user=legal,
        policy=policy,
        scope="version",
        version=version,
        expires_on=timezone.now().date(),
        reason=reason,
    )
    services.decide_waiver(user=security, waiver=w, approve=True)
    approval = services.approve_version(user=security, version=version, reason="waived")
    version.refresh_from_db()
    assert version.review_status == "approved"
    assert [p["path"] for p in approval.pinned_files] == ["model-0.safetensors"]
    assert AuditEvent.objects.filter(action="version.approve", actor=security).exists()


def test_warn_does_not_block_and_reject_is_audited(security):
    make_policy(actions={"release": "warn"})
    version = make_version(downloads=1)
    services.evaluate_versions()
    services.approve_version(user=security, version=version, reason="ok")
    services.reject_version(user=security, version=version, reason="changed my mind")
    version.refresh_from_db()
    assert version.review_status == "rejected"
    assert Approval.objects.filter(version=version, is_current=True).get().decision == "rejected"


def _files(version):
    return [{"path": p, "sha256": s} for p, s in version.files.values_list("path", "sha256")]


def test_gate_passes_only_for_exact_files(security, admin_user):
    version = make_version(downloads=10_000, files=2)
    services.approve_version(user=security, version=version, reason="ok")
    ok = services.check_gate(
        user=admin_user, repo_id=version.model.repo_id, revision=version.commit, stage="release", files=_files(version)
    )
    contract = {k: ok[k] for k in ("action", "violations", "identity")}
    assert contract == {"action": "none", "violations": [], "identity": {"verified": True, "mismatches": []}}
    assert ok["approval"]["state"] == "approved" and ok["approval"]["by"] == security.username
    tampered = _files(version)
    tampered[0]["sha256"] = "0" * 64
    bad = services.check_gate(
        user=admin_user, repo_id=version.model.repo_id, revision=version.commit, stage="release", files=tampered
    )
    assert bad["identity"]["verified"] is False
    assert bad["identity"]["mismatches"][0]["reason"] == "hash differs"
    extra = services.check_gate(
        user=admin_user,
        repo_id=version.model.repo_id,
        revision=version.commit,
        stage="release",
        files=[{"path": "evil.pkl", "sha256": "1" * 64}],
    )
    assert extra["identity"]["mismatches"][0]["reason"] == "unexpected file"
    none = services.check_gate(user=admin_user, repo_id=version.model.repo_id, revision="main", stage="release")
    assert none["identity"]["verified"] is False


def test_gate_uses_pinned_hashes_after_approval(security, admin_user):
    version = make_version(downloads=10_000)
    services.approve_version(user=security, version=version, reason="ok")
    pinned = _files(version)
    version.files.update(sha256="2" * 64)  # recorded hashes change later (re-import): pins still decide
    result = services.check_gate(
        user=admin_user, repo_id=version.model.repo_id, revision=version.commit, stage="build", files=pinned
    )
    assert result["identity"]["verified"] is True


def test_gate_action_per_stage_and_application(admin_user):
    app = f.ApplicationFactory(commercial_use=True)
    version = make_version(downloads=1)
    from inventory.models import ApplicationModel

    ApplicationModel.objects.create(application=app, version=version)
    make_policy("few downloads", actions={"build": "warn", "release": "fail"})
    make_policy("commercial", fact="application.commercial_use", operator="is", value=True, actions={"build": "fail"})
    r = services.check_gate(user=admin_user, repo_id=version.model.repo_id, revision=version.commit, stage="build")
    assert r["action"] == "warn" and [v["policy"] for v in r["violations"]] == ["few downloads"]
    r = services.check_gate(
        user=admin_user, repo_id=version.model.repo_id, revision=version.commit, stage="build", application=app
    )
    assert r["action"] == "fail"
    assert r["violations"][0]["facts"]


def test_gate_unknown_model_fails_closed(admin_user, settings):
    settings.MODELGATE_GATE_UNKNOWN = "fail"
    r = services.check_gate(user=admin_user, repo_id="nobody/nothing", revision="main", stage="proxy")
    assert r["action"] == "fail" and r["violations"][0]["policy"] == "unknown-model"


def test_gate_unknown_model_import_failure_fails(admin_user, settings, monkeypatch):
    settings.MODELGATE_GATE_UNKNOWN = "import"
    from inventory import services as inv

    def boom(**kwargs):
        raise inv.ImportFailed("repo not found", kind="RepoNotFound")

    monkeypatch.setattr(gate, "import_from_hub", boom)  # the name gate.py imported at its top
    r = services.check_gate(user=admin_user, repo_id="nobody/nothing", revision="main", stage="proxy", import_now=True)
    assert r["action"] == "fail" and "import failed" in r["violations"][0]["facts"]["message"]


def test_gate_unknown_model_is_imported_and_evaluated(admin_user, settings, monkeypatch):
    settings.MODELGATE_GATE_UNKNOWN = "import"

    def fake_import(*, repo_id, revision, user=None, application=None):
        model = f.ModelFactory(repo_id=repo_id, downloads=1)
        return f.ModelVersionFactory(model=model, ref=revision), True

    monkeypatch.setattr(gate, "import_from_hub", fake_import)  # the name gate.py imported at its top
    monkeypatch.setattr(pipeline, "run_all", lambda vid, **kw: {})
    make_policy(actions={"proxy": "fail"})
    r = services.check_gate(user=admin_user, repo_id="new/model", revision="main", stage="proxy", import_now=True)
    assert r["action"] == "fail" and r["violations"][0]["policy"] == "Few downloads"


def test_gate_command_with_directory(tmp_path, security):
    version = make_version(downloads=10_000, files=0)
    content = b"weights" * 1000
    f.ModelFileFactory(version=version, path="sub/model.safetensors", sha256=hashlib.sha256(content).hexdigest())
    services.approve_version(user=security, version=version, reason="ok")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "model.safetensors").write_bytes(content)
    out = io.StringIO()
    call_command(
        "gate", f"{version.model.repo_id}@{version.commit}", "--stage", "release", "--dir", str(tmp_path), stdout=out
    )
    result = json.loads(out.getvalue())
    contract = {k: result[k] for k in ("action", "violations", "identity")}
    assert contract == {"action": "none", "violations": [], "identity": {"verified": True, "mismatches": []}}
    (tmp_path / "sub" / "model.safetensors").write_bytes(content + b"x")
    with pytest.raises(SystemExit) as exc:
        call_command(
            "gate",
            f"{version.model.repo_id}@{version.commit}",
            "--stage",
            "release",
            "--dir",
            str(tmp_path),
            stdout=io.StringIO(),
        )
    assert exc.value.code == 1


def test_gate_command_fail_exits_1(tmp_path):
    version = make_version(downloads=1, files=0)
    make_policy(actions={"build": "fail"})
    out = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command(
            "gate", f"{version.model.repo_id}@{version.commit}", "--stage", "build", "--dir", str(tmp_path), stdout=out
        )
    assert exc.value.code == 1
    assert json.loads(out.getvalue())["action"] == "fail"


def test_files_changed_since_approval_fact(security):
    version = make_version(downloads=10_000)
    services.approve_version(user=security, version=version, reason="ok")
    make_policy("changed", fact="files.changed_since_approval", operator="is", value=True, actions={"release": "fail"})
    services.evaluate_versions()
    assert not version.violations.exists()
    version.files.update(sha256="3" * 64)
    services.evaluate_versions()
    version.refresh_from_db()
    assert version.violations.get().policy.name == "changed"
    assert version.review_status == "in_review"


def test_gate_for_an_application_that_does_not_use_the_version_yet(admin_user):
    app = f.ApplicationFactory(commercial_use=True)
    version = make_version(downloads=1)
    make_policy("root fail", actions={"build": "fail"})
    make_policy("commercial", fact="application.commercial_use", operator="is", value=True, actions={"build": "warn"})
    r = services.check_gate(
        user=admin_user, repo_id=version.model.repo_id, revision=version.commit, stage="build", application=app
    )
    assert r["action"] == "fail"
    assert sorted(v["policy"] for v in r["violations"]) == ["commercial", "root fail"]
    assert not version.violations.filter(application=app).exists()  # nothing stored for a context that is not real
