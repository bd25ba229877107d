"""Fixtures of the policies tests: a clean slate of policies, builders for policies and versions."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from policies import services
from policies.models import Policy, WaiverReason
from policies.services import authoring
from tests import factories as f


@pytest.fixture(autouse=True)
def _no_default_pack(db):
    """The default pack is loaded at first migrate; tests start without it unless they ask."""
    Policy.objects.all().delete()


@pytest.fixture
def default_pack(db) -> list[Policy]:
    return services.load_default_pack(force=True)


@pytest.fixture
def reason(db) -> WaiverReason:
    return WaiverReason.objects.get_or_create(name="Risk accepted by the business owner")[0]


ALL_FAIL = {s: "fail" for s in ["proxy", "develop", "source", "build", "stage-release", "release", "operate"]}


def make_policy(
    name: str = "Few downloads",
    *,
    fact: str = "model.downloads",
    operator: str = "lt",
    value: Any = 100,
    threat_level: int = 5,
    actions: dict[str, str] | None = None,
    **kwargs: Any,
) -> Policy:
    data = services.PolicyData(
        name=name,
        threat_level=threat_level,
        actions=actions or dict(ALL_FAIL),
        constraints=[
            {"name": "c1", "match": "all", "conditions": [{"fact": fact, "operator": operator, "value": value}]}
        ],
        **kwargs,
    )
    data.clean()
    policy = Policy()
    authoring._write_policy(policy, data)
    return policy


@pytest.fixture
def policy_factory(db):
    return make_policy


def make_version(downloads: int = 10, *, files: int = 1, **model_kwargs: Any):
    model = f.ModelFactory(downloads=downloads, **model_kwargs)
    version = f.ModelVersionFactory(model=model)
    for i in range(files):
        f.ModelFileFactory(
            version=version,
            path=f"model-{i}.safetensors",
            sha256=hashlib.sha256(f"{version.pk}-{i}".encode()).hexdigest(),
        )
    return version


@pytest.fixture
def version_factory(db):
    return make_version
