"""What happens to a version after import: an ordered list of steps other apps plug in.

Inventory knows nothing about scanning, licenses or policies (imports point one way). Each of
those apps registers its step in its AppConfig.ready():

    from inventory import pipeline
    pipeline.register("scan", order=10, run=scan_version_now, enqueue=enqueue_scan)

`run(version_id)` does the work synchronously (used by `import_model --wait` and by the chained
Celery task); steps record their own state rows (ScanRun, LicenseAnalysis, …) and must be
idempotent. A failing step is recorded by its own row and does not stop the following steps
(policies must still see "scan failed" to fail closed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    name: str
    order: int
    run: Callable[[int], object]


_STEPS: dict[str, Step] = {}


def register(name: str, *, order: int, run: Callable[[int], object]) -> None:
    _STEPS[name] = Step(name=name, order=order, run=run)


def steps() -> list[Step]:
    return sorted(_STEPS.values(), key=lambda s: (s.order, s.name))


def run_all(version_id: int, *, only: set[str] | None = None) -> dict[str, str]:
    """Run every registered step in order; return {step: "ok" | "error: …"}."""
    outcome: dict[str, str] = {}
    for step in steps():
        if only is not None and step.name not in only:
            continue
        try:
            step.run(version_id)
        except Exception as exc:  # a step's own row records the failure; keep going (fail closed later)
            log.exception("pipeline step %s failed for version %s", step.name, version_id)
            outcome[step.name] = f"error: {exc}"
        else:
            outcome[step.name] = "ok"
    return outcome


# --- listeners: other apps react when facts about versions change (dataset flag, usage, …) ---

_FACT_LISTENERS: list[Callable[[list[int]], object]] = []


def on_facts_changed(listener: Callable[[list[int]], object]) -> None:
    """Register e.g. the policy engine's re-evaluation (called after commit with version ids)."""
    if listener not in _FACT_LISTENERS:
        _FACT_LISTENERS.append(listener)


def facts_changed(version_ids: list[int]) -> None:
    for listener in list(_FACT_LISTENERS):
        try:
            listener(version_ids)
        except Exception:
            log.exception("facts-changed listener %r failed", listener)


# --- summary parts for `import_model --wait` (scan, licenses, violations) -------------------

_SUMMARIES: dict[str, Callable[[Any], Any]] = {}


def register_summary(key: str, func: Callable[[Any], Any]) -> None:
    _SUMMARIES[key] = func


def summaries(version: object) -> dict[str, object]:
    return {key: func(version) for key, func in _SUMMARIES.items()}
