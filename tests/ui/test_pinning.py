"""'Revision not pinned' is about an application that follows a branch, not about how a model was imported."""

from __future__ import annotations

import pytest
from django.utils import timezone

from inventory.choices import JobState, Source
from inventory.models import ApplicationModel, ImportJob
from policies import services
from policies.facts import EvaluationContext, gather_facts
from policies.models import Policy, Violation
from tests import factories as f
from tests.policies.conftest import make_version

pytestmark = pytest.mark.django_db


def _use(app, version, revision: str | None, source: str = Source.HUB) -> None:
    if revision is not None:
        ImportJob.objects.create(
            repo_id=version.model.repo_id, revision=revision, application=app, version=version,
            state=JobState.SUCCEEDED, source=source,
        )  # fmt: skip
    ApplicationModel.objects.get_or_create(application=app, version=version)


def _follows(version, app) -> bool | None:
    ctx = EvaluationContext(now=timezone.now(), application=app)
    return gather_facts([version.pk], ctx, per_application=True)[version.pk].get("usage.follows_branch")


def test_usage_follows_branch_fact():
    version = make_version()
    branch, commit, prefix, manual, local, reimported = (f.ApplicationFactory() for _ in range(6))
    _use(branch, version, "main")
    _use(commit, version, version.commit)
    _use(prefix, version, version.commit[:10].upper())
    _use(manual, version, None)
    _use(local, version, "main", source=Source.LOCAL)
    _use(reimported, version, "v1.0")
    _use(reimported, version, version.commit)  # pinned later: the latest import decides
    assert _follows(version, branch) is True
    assert _follows(version, commit) is False
    assert _follows(version, prefix) is False
    assert _follows(version, manual) is False
    assert _follows(version, local) is False
    assert _follows(version, reimported) is False
    # Not a root-context fact: a version without an application follows nothing.
    assert "usage.follows_branch" not in gather_facts([version.pk], EvaluationContext(now=timezone.now()))[version.pk]


def test_default_pack_flags_only_applications_that_follow_a_branch():
    Policy.objects.all().delete()
    services.load_default_pack(force=True)
    policy = Policy.objects.get(name="Revision not pinned")
    plain = make_version()  # a web import by branch with no application: not "unpinned"
    ImportJob.objects.create(repo_id=plain.model.repo_id, revision="main", version=plain, state=JobState.SUCCEEDED)
    used = make_version()
    follower, pinner = f.ApplicationFactory(), f.ApplicationFactory()
    _use(follower, used, "main")
    _use(pinner, used, used.commit)
    services.evaluate_versions()
    flagged = set(Violation.objects.filter(policy=policy).values_list("version_id", "application_id"))
    assert flagged == {(used.pk, follower.pk)}
