"""One orchestration: an import runs scan → licenses → policies as one chain and evaluates once."""

from __future__ import annotations

import pytest

from inventory import pipeline, services
from inventory.choices import JobState
from licenses.models import LicenseAnalysis
from policies import services as policy_services
from policies.services import evaluation
from scanning.models import ScanRun
from tests.hubserver.repos import tiny_bert_repo

pytestmark = pytest.mark.django_db


@pytest.fixture
def evaluations(monkeypatch):
    """Every call of the evaluation service, with the version ids it evaluated."""
    calls: list[list[int] | None] = []
    real = evaluation.evaluate_versions

    def counting(*, version_ids=None, **kwargs):
        calls.append(sorted(version_ids) if version_ids is not None else None)
        return real(version_ids=version_ids, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate_versions", counting)
    monkeypatch.setattr(policy_services, "evaluate_versions", counting)
    return calls


def test_one_import_is_evaluated_exactly_once(hub_env, admin_user, evaluations, django_capture_on_commit_callbacks):
    tiny_bert_repo("pipe/once").add_to(hub_env)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.request_import(user=admin_user, repo_id="pipe/once", revision="main")
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.error
    version_id = job.version_id
    # Every step ran (each records its own row) …
    assert ScanRun.objects.filter(version_id=version_id, state="succeeded").count() == 1
    assert LicenseAnalysis.objects.get(version_id=version_id).state == "done"
    # … and the scan and license steps' fact changes did not each enqueue an evaluation of their own.
    assert evaluations == [[version_id]]


def test_the_synchronous_pipeline_evaluates_once_too(hub_env, admin_user, evaluations):
    tiny_bert_repo("pipe/sync").add_to(hub_env)
    version, _ = services.import_from_hub(user=admin_user, repo_id="pipe/sync", revision="main")
    outcome = pipeline.run_all(version.pk)
    assert outcome == {"scan": "ok", "licenses": "ok", "policies": "ok"}
    assert evaluations == [[version.pk]]


def test_facts_changed_outside_a_pipeline_are_announced_after_commit(admin_user, django_capture_on_commit_callbacks):
    seen: list[list[int]] = []
    pipeline.on_facts_changed(seen.append)
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            pipeline.facts_changed([3, 1, 3])
        assert seen == []  # not before the transaction commits
        for callback in callbacks:
            callback()
        assert seen == [[1, 3]]
        with pipeline.collecting(1):
            pipeline.facts_changed([1, 2])
        assert seen[-1] == [2]  # inside a step: the step's own version is left to the last step
    finally:
        pipeline._FACT_LISTENERS.remove(seen.append)


def test_a_failed_step_does_not_stop_the_following_ones(hub_env, admin_user, evaluations, monkeypatch):
    tiny_bert_repo("pipe/fail").add_to(hub_env)
    version, _ = services.import_from_hub(user=admin_user, repo_id="pipe/fail", revision="main")

    def broken(version_id: int) -> None:
        raise RuntimeError("license engine down")

    monkeypatch.setitem(pipeline._STEPS, "licenses", pipeline.Step("licenses", 20, broken))
    outcome = pipeline.run_all(version.pk)
    assert outcome["licenses"].startswith("error") and outcome["policies"] == "ok"
    assert evaluations == [[version.pk]]
