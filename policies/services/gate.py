"""The gate: the action for a stage and the identity check of the files a pipeline is about to use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.files import FileRefused, hash_folder
from core.permissions import has_perm, require
from inventory import pipeline
from inventory.choices import JobState, Source
from inventory.models import Application, ImportJob, ModelFile, ModelVersion
from inventory.services import ImportFailed, import_from_hub, request_import
from policies.choices import Action, Decision, Stage
from policies.models import Approval, Policy
from policies.services.evaluation import OrgTree, _covering, compile_policies, compute_matches, waiver_rules


def hash_directory(directory: str | Path) -> list[dict[str, str]]:
    """sha256 of every file under `directory`, walked as an import reads a folder (`core.files`).

    A Hugging Face cache snapshot's links into its repo's `blobs/` are followed; a link leading
    further out, or a FIFO/device/socket, comes back with a `refused` reason and fails the identity.
    """
    try:
        hashed, refused = hash_folder(directory)
    except FileRefused as exc:
        raise ValidationError({"directory": f"{directory}: {exc.reason}"}) from None
    out = [{"path": h.path, "sha256": h.sha256} for h in hashed]
    out += [{"path": r.path, "sha256": "", "refused": r.reason} for r in refused]
    return sorted(out, key=lambda item: item["path"])


def verify_identity(*, version: ModelVersion, supplied: list[dict[str, str]] | None) -> dict[str, Any]:
    """Compare supplied hashes with the approval's pinned hashes (or, not yet approved, the recorded ones).

    Every supplied file must be one of the expected files with the same sha256; expected files not
    supplied are fine (a pipeline may fetch only some files). Nothing supplied does not verify.
    """
    approval = Approval.objects.current().filter(version=version, decision=Decision.APPROVED).first()
    if approval is not None:
        expected = {p["path"]: p.get("sha256", "") for p in approval.pinned_files}
    else:
        expected = dict(ModelFile.objects.filter(version=version).values_list("path", "sha256"))
    if not supplied:
        return {"verified": False, "mismatches": [{"path": None, "reason": "no files or directory supplied"}]}
    mismatches = []
    for item in supplied:
        path, sha = str(item.get("path", "")), str(item.get("sha256", "")).lower()
        if item.get("refused"):
            reason = f"not read: {item['refused']}"
            mismatches.append({"path": path, "reason": reason, "expected": None, "actual": None})
        elif path not in expected:
            mismatches.append({"path": path, "reason": "unexpected file", "expected": None, "actual": sha})
        elif not expected[path]:
            mismatches.append({"path": path, "reason": "no recorded hash", "expected": None, "actual": sha})
        elif expected[path] != sha:
            mismatches.append({"path": path, "reason": "hash differs", "expected": expected[path], "actual": sha})
    return {"verified": not mismatches, "mismatches": mismatches}


def _find_version(repo_id: str, revision: str) -> ModelVersion | None:
    qs = ModelVersion.objects.filter(model__repo_id=repo_id).select_related("model")
    return qs.filter(commit=revision).first() or qs.filter(ref=revision).order_by("-imported_at").first()


def check_gate(
    *,
    user: Any,
    repo_id: str,
    revision: str,
    stage: str,
    application: Application | None = None,
    files: list[dict[str, str]] | None = None,
    directory: str | None = None,
    import_now: bool = False,
) -> dict[str, Any]:
    """The gate contract: `{"action", "violations", "identity": {"verified", "mismatches"}}`.

    Plus `approval` (the version's current decision), `stages` ({stage: action}) and `url` (its page).

    The gate never does long work for a caller: a model the inventory has never seen is QUEUED for
    import (the import job the import API creates, only when the caller holds
    `inventory.import_model`) and the answer is `fail` ("pending evaluation", with an added
    `import_job` key) until the job has imported and judged it. A caller who may not import gets
    `fail` ("unknown model, not imported") and nothing is queued. With
    MODELGATE_GATE_UNKNOWN="fail" nothing is ever queued. `import_now` (the CLI's explicit flag
    only) imports and evaluates synchronously instead.
    """
    require(user, "policies.use_gate")
    if stage not in Stage.values:
        raise ValidationError({"stage": f"Unknown stage {stage!r}; one of {', '.join(Stage.values)}"})
    supplied = hash_directory(directory) if directory else files
    version = _find_version(repo_id, revision)
    if version is None:
        if settings.MODELGATE_GATE_UNKNOWN != "import":
            return _unknown(repo_id, revision, "unknown model; the gate is configured to fail closed")
        if not has_perm(user, "inventory.import_model"):
            return _unknown(repo_id, revision, "unknown model, not imported (you may not import models)")
        if not import_now:
            job = _queue_import(user=user, repo_id=repo_id, revision=revision, application=application)
            result = _unknown(
                repo_id, revision, f"pending evaluation: unknown model queued for import (import job {job.pk})"
            )
            result["import_job"] = {"id": job.pk, "state": job.state, "url": job.get_absolute_url()}
            return result
        try:
            version, created = import_from_hub(repo_id=repo_id, revision=revision, user=user, application=application)
        except ImportFailed as exc:
            return _unknown(repo_id, revision, f"unknown model and the import failed: {exc}")
        if created:
            pipeline.run_all(version.pk)
    found = _current_violations(version=version, application=application)
    return {
        "action": Action.strongest([p.action_for(stage) for p, _m in found]),
        "violations": [
            {
                "policy": p.name,
                "threat_level": p.threat_level,
                "category": p.category,
                "action": p.action_for(stage),
                "constraints": matched.get("constraints", []),
                "facts": matched.get("facts", {}),
            }
            for p, matched in found
        ],
        "identity": verify_identity(version=version, supplied=supplied),
        # Additive keys (not in the DESIGN contract's minimum): the review, every stage, the page.
        "approval": approval_state(version=version),
        "stages": {s: Action.strongest([p.action_for(s) for p, _m in found]) for s in Stage.values},
        "url": settings.MODELGATE_SITE_URL.rstrip("/") + version.get_absolute_url(),
    }


def approval_state(*, version: ModelVersion) -> dict[str, Any]:
    """`{"state": "approved"|"rejected"|"pending", "by", "at"}` of the version's current decision."""
    current = Approval.objects.current().filter(version=version).select_related("decided_by").first()
    if current is None:
        return {"state": "pending", "by": None, "at": None}
    return {
        "state": current.decision,
        "by": current.decided_by.get_username() if current.decided_by else None,
        "at": current.decided_at.isoformat(),
    }


def _queue_import(*, user: Any, repo_id: str, revision: str, application: Application | None) -> ImportJob:
    """The import job of this target: the one already queued or running, else a new one (same service as the API)."""
    active = (
        ImportJob.objects.filter(
            source=Source.HUB, repo_id=repo_id.strip(), revision=revision.strip() or "main", state__in=JobState.active()
        )
        .order_by("-id")
        .first()
    )
    if active is not None:
        return active
    return request_import(user=user, repo_id=repo_id, revision=revision, application=application)


def _current_violations(
    *, version: ModelVersion, application: Application | None
) -> list[tuple[Policy, dict[str, Any]]]:
    """Open, unwaived violations of the version in the one context asked about, from the current facts.

    Read-only and bounded: the root context, plus the application's (whether or not it uses the version
    yet) — not every application using the version. The stored violations are kept current by the
    evaluation that follows every change of facts; the gate does not re-evaluate (and rewrite) them for all
    of a popular version's applications on every CI request.
    """
    now = timezone.now()
    policies = {p.pk: p for p in Policy.objects.enabled().prefetch_related("constraints__conditions")}
    tree = OrgTree()
    scoped = compile_policies(policies.values(), now=now)
    rules = waiver_rules(now=now)
    app_id = application.pk if application is not None else None
    matches = compute_matches(
        scoped,
        [version.pk],
        now=now,
        tree=tree,
        extra_contexts=[(version.pk, app_id)] if app_id is not None else [],
        only_applications=[app_id] if app_id is not None else [],
    )
    found = [
        (policies[key[0]], matched)
        for key, matched in matches.items()
        if key[2] == app_id and _covering(rules, key, version.model_id, tree) is None
    ]
    return sorted(found, key=lambda pm: (-pm[0].threat_level, pm[0].name))


def _unknown(repo_id: str, revision: str, message: str) -> dict[str, Any]:
    return {
        "action": Action.FAIL.value,
        "violations": [
            {
                "policy": "unknown-model",
                "threat_level": 10,
                "category": "security",
                "action": "fail",
                "constraints": [],
                "facts": {"repo_id": repo_id, "revision": revision, "message": message},
            }
        ],
        "identity": {"verified": False, "mismatches": [{"path": None, "reason": message}]},
    }
