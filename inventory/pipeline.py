"""What happens to a version after import: one orchestration of the steps other apps plug in.

Inventory knows nothing about scanning, licenses or policies (imports point down). Each of
those apps registers its step in its AppConfig.ready():

    from inventory import pipeline
    pipeline.register("scan", order=10, run=services.scan_version_now, task="scanning.pipeline_scan")

`run(version_id)` does the step's work synchronously (`import_model --wait`, the demo);
`task` names the Celery task that does the same on a worker with the step's own time limits and
retries (a step without one runs in the generic `inventory.run_step`). After an import the steps
run as one Celery chain, in order. Steps record their own state rows (ScanRun, LicenseAnalysis,
…) and are idempotent. A step whose work fails records it in its own row and returns, so the
following steps still run (policies must see "scan failed" to fail closed); if a step's task
itself dies, the chain's error callback announces the version's facts so it is still evaluated.

**One evaluation per import.** Outside a pipeline, a service that changes facts about versions
(usage, dataset flags, conclusions, rescans) announces them with `facts_changed()`, and the
listeners (policy evaluation, license use-fit) react. Inside a pipeline step the announcements are
collected instead (`collecting()`): the changes to the version being processed are left to the
last step, which evaluates it once; changes to other versions are announced when the step ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    name: str
    order: int
    run: Callable[[int], object]
    task: str = ""


_STEPS: dict[str, Step] = {}


def register(name: str, *, order: int, run: Callable[[int], object], task: str = "") -> None:
    _STEPS[name] = Step(name=name, order=order, run=run, task=task)


def steps() -> list[Step]:
    return sorted(_STEPS.values(), key=lambda s: (s.order, s.name))


def step(name: str) -> Step:
    return _STEPS[name]


def run_all(version_id: int, *, only: set[str] | None = None) -> dict[str, str]:
    """Run every registered step in order, synchronously; return {step: "ok" | "error: …"}."""
    outcome: dict[str, str] = {}
    for s in steps():
        if only is not None and s.name not in only:
            continue
        try:
            run_step(s.name, version_id)
        except Exception as exc:  # a step's own row records the failure; keep going (fail closed later)
            log.exception("pipeline step %s failed for version %s", s.name, version_id)
            outcome[s.name] = f"error: {exc}"
        else:
            outcome[s.name] = "ok"
    return outcome


def run_step(name: str, version_id: int) -> object:
    """One step for one version, with its fact announcements about that version held back."""
    with collecting(version_id):
        return _STEPS[name].run(version_id)


def start(version_id: int) -> Any:
    """Enqueue the steps of one version as a Celery chain (each step a task with its own limits)."""
    from celery import chain, signature

    sigs = [
        signature(s.task, args=(version_id,), immutable=True)
        if s.task
        else signature("inventory.run_step", args=(s.name, version_id), immutable=True)
        for s in steps()
    ]
    if not sigs:
        return None
    workflow = chain(*sigs)
    workflow.link_error(signature("inventory.pipeline_failed", args=(version_id,), immutable=True))
    return workflow.apply_async()


# --- facts: other apps react when facts about versions change (dataset flag, usage, …) ---------

_FACT_LISTENERS: list[Callable[[list[int]], object]] = []
_HELD: ContextVar[tuple[int, set[int]] | None] = ContextVar("pipeline_held_facts", default=None)


def on_facts_changed(listener: Callable[[list[int]], object]) -> None:
    """Register e.g. the policy engine's re-evaluation (called after commit with version ids)."""
    if listener not in _FACT_LISTENERS:
        _FACT_LISTENERS.append(listener)


def facts_changed(version_ids: Iterable[int]) -> None:
    """Announce changed facts once the current transaction commits.

    Call it from the service that changes the facts, inside its transaction. Inside a pipeline
    step the announcement is held instead (see `collecting`).
    """
    ids = sorted(set(version_ids))
    held = _HELD.get()
    if held is not None:
        held[1].update(ids)
        return
    transaction.on_commit(lambda: announce(ids))


def announce(version_ids: Iterable[int]) -> None:
    """Call the listeners now (after commit)."""
    ids = sorted(set(version_ids))
    if not ids:
        return
    for listener in list(_FACT_LISTENERS):
        try:
            listener(ids)
        except Exception:
            log.exception("facts-changed listener %r failed", listener)


@contextmanager
def collecting(version_id: int) -> Iterator[set[int]]:
    """Hold fact announcements made while a pipeline step runs for `version_id`.

    On exit, announcements about other versions (a base model's license reaching its
    derivatives, say) are made; those about `version_id` itself are dropped, because the
    pipeline's last step evaluates it. Nested use (a step calling another) keeps the outer hold.
    """
    if _HELD.get() is not None:
        held = _HELD.get()
        assert held is not None
        yield held[1]
        return
    bucket: set[int] = set()
    token = _HELD.set((version_id, bucket))
    try:
        yield bucket
    finally:
        _HELD.reset(token)
        announce(sorted(bucket - {version_id}))


# --- summary parts for `import_model --wait` (scan, licenses, violations) -------------------

_SUMMARIES: dict[str, Callable[[Any], Any]] = {}


def register_summary(key: str, func: Callable[[Any], Any]) -> None:
    _SUMMARIES[key] = func


def summaries(version: object) -> dict[str, object]:
    return {key: func(version) for key, func in _SUMMARIES.items()}
