"""Celery tasks of the policies app: thin, idempotent, named (core.tasks convention); the work is in services."""

from __future__ import annotations

from typing import Any

from core.tasks import task
from inventory import pipeline
from policies import services


@task(name="policies.evaluate_versions", time_limit=1800)
def evaluate_versions_task(*, version_ids: list[int] | None = None) -> dict[str, Any]:
    return services.evaluate_versions(version_ids=version_ids).as_dict()


@task(name="policies.pipeline_evaluate", time_limit=1800)
def pipeline_evaluate(version_id: int) -> dict[str, Any]:
    """The pipeline's last step: the one evaluation of the imported version."""
    result = pipeline.run_step("policies", version_id)
    return result.as_dict() if hasattr(result, "as_dict") else {}


@task(name="policies.expire_waivers", time_limit=600)
def expire_waivers() -> list[int]:
    return services.expire_waivers()
