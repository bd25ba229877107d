"""License tasks: thin, idempotent, ids only (core.tasks convention); the work is in services."""

from __future__ import annotations

from core.tasks import task
from inventory import pipeline
from licenses import services

TRANSIENT = (ConnectionError, TimeoutError)


@task(name="licenses.analyse_version", time_limit=660, retry_on=TRANSIENT)
def analyse_version(version_id: int) -> None:
    services.analyse_version(version_id=version_id)


@task(name="licenses.pipeline_analyse", time_limit=660, retry_on=TRANSIENT)
def pipeline_analyse(version_id: int) -> None:
    """The pipeline's license step (facts held for the last step)."""
    pipeline.run_step("licenses", version_id)


@task(name="licenses.reanalyse_all", time_limit=3300)
def reanalyse_all() -> int:
    """After a catalog edit: every analysed version again (the catalog is rebuilt once)."""
    return services.reanalyse_all_versions()
