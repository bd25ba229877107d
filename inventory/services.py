"""Inventory use cases: import (Hub or local folder), usage, watches, reference data.

Every service is keyword-only, typed, and runs in one transaction; decisions are audited.
Network and disk reads happen *before* the transaction so a slow Hub never holds a lock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from core.files import FileRefused, sha256_path
from core.models import AuditAction
from core.permissions import organization_scope, require, require_global
from core.services import record_event
from core.tasks import DATABASE_ERRORS, drop_broken_connections
from inventory import cards, pipeline
from inventory.choices import JobState, Relation, Source
from inventory.hub import HubClient, HubError, HubFile, HubModelInfo
from inventory.local import LocalImportError, LocalSnapshot, read_folder
from inventory.models import (
    Application,
    ApplicationModel,
    BaseModelLink,
    Dataset,
    ImportJob,
    Model,
    ModelFile,
    ModelVersion,
    Organization,
    Watch,
)

log = logging.getLogger(__name__)

DATABASE_ERROR_KIND = "database"  # ImportFailed.kind of a lost database connection (transient)
SMALL_FILE_LIMIT = 10 * 1024 * 1024  # non-LFS files are hashed by downloading them (the Hub keeps them small)

FORMAT_BY_EXTENSION = {
    ".safetensors": "safetensors",
    ".bin": "pickle",
    ".pt": "pickle",
    ".pth": "pickle",
    ".ckpt": "pickle",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "joblib",
    ".npy": "numpy",
    ".npz": "numpy-zip",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".keras": "keras",
    ".pb": "tensorflow-savedmodel",
    ".onnx": "onnx",
    ".gguf": "gguf",
    ".py": "python",
    ".json": "json",
    ".md": "text",
    ".txt": "text",
    ".zip": "zip",
    ".tar": "tar",
    ".gz": "gzip",
}


class ImportFailed(Exception):
    """An import could not complete; `kind` names the cause for the UI and API."""

    def __init__(self, message: str, *, kind: str = "error", transient: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.transient = transient


def guess_format(path: str) -> str:
    """Before a scan detects the format by content, the extension is the best guess."""
    lower = path.lower()
    for ext, fmt in FORMAT_BY_EXTENSION.items():
        if lower.endswith(ext):
            return fmt
    return ""


@dataclass(frozen=True)
class _FileRow:
    path: str
    size: int
    sha256: str
    blob_id: str
    is_lfs: bool


@dataclass(frozen=True)
class _Snapshot:
    """What an import writes, gathered before the transaction."""

    source: str
    repo_id: str
    commit: str
    ref: str
    files: list[_FileRow]
    card_data: dict[str, Any]
    card_markdown: str
    card_error: str
    tags: list[str]
    model_fields: dict[str, Any]
    local_path: str = ""


# --- import -------------------------------------------------------------------------------


def _hub_snapshot(client: HubClient, repo_id: str, revision: str) -> _Snapshot:
    info: HubModelInfo = client.model_info(repo_id, revision)
    card_text = ""
    if any(f.path == "README.md" for f in info.files):
        card_text = client.read_text(info.repo_id, info.commit, "README.md", max_bytes=2_000_000)
    parsed = cards.split_front_matter(card_text)
    card_data = info.card_data or parsed.data
    files: list[_FileRow] = []
    for f in info.files:
        files.append(_FileRow(f.path, f.size, _hub_sha256(client, info, f), f.blob_id, f.lfs_sha256 is not None))
    return _Snapshot(
        source=Source.HUB,
        repo_id=info.repo_id,
        commit=info.commit,
        ref=revision,
        files=files,
        card_data=card_data,
        card_markdown=parsed.body,
        card_error=parsed.error,
        tags=list(info.tags),
        model_fields={
            "author": info.author or (info.repo_id.split("/")[0] if "/" in info.repo_id else ""),
            "pipeline_tag": info.pipeline_tag or "",
            "library_name": info.library_name or "",
            "gated": info.gated or "",
            "private": info.private,
            "downloads": info.downloads or 0,
            "likes": info.likes or 0,
            "hub_created_at": info.created_at,
            "hub_last_modified": info.last_modified,
        },
    )


def _hub_sha256(client: HubClient, info: HubModelInfo, f: HubFile) -> str:
    """LFS files carry their sha256 on the Hub; small git files are downloaded and hashed."""
    if f.lfs_sha256:
        return f.lfs_sha256
    if f.size > SMALL_FILE_LIMIT:
        return ""
    path = client.download(info.repo_id, info.commit, f.path, expected_size=f.size)
    try:
        digest, _ = sha256_path(path)
    except FileRefused as exc:
        raise HubError(f"{f.path}: the downloaded copy {exc.reason}") from None
    return digest


def _local_snapshot(folder: str, repo_id: str, roots: list[str] | None) -> _Snapshot:
    snap: LocalSnapshot = read_folder(folder, repo_id=repo_id, roots=roots)
    parsed = cards.split_front_matter(snap.card_text)
    tags = parsed.data.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    return _Snapshot(
        source=Source.HUB if snap.from_cache else Source.LOCAL,
        repo_id=snap.repo_id,
        commit=snap.commit,
        ref=snap.commit if snap.from_cache else "local",
        files=[_FileRow(f.path, f.size, f.sha256, "", False) for f in snap.files],
        card_data=parsed.data,
        card_markdown=parsed.body,
        card_error=parsed.error,
        tags=[str(t) for t in tags],
        model_fields={
            "author": snap.repo_id.split("/")[0] if "/" in snap.repo_id else "",
            "pipeline_tag": str(parsed.data.get("pipeline_tag") or ""),
            "library_name": str(parsed.data.get("library_name") or ""),
        },
        local_path=str(snap.root),
    )


def import_from_hub(
    *,
    repo_id: str,
    revision: str = "main",
    user: Any = None,
    application: Application | None = None,
    client: HubClient | None = None,
) -> tuple[ModelVersion, bool]:
    """Resolve `revision`, read the repo's metadata and record the pinned version.

    Returns (version, created). Importing a commit already in the inventory changes nothing.
    Raises ImportFailed with a clear message on any Hub error.
    """
    client = client or HubClient()
    try:
        snapshot = _hub_snapshot(client, repo_id.strip(), revision.strip() or "main")
    except HubError as exc:
        raise ImportFailed(str(exc), kind=type(exc).__name__, transient=exc.transient) from exc
    return _record_snapshot(snapshot=snapshot, user=user, application=application)


def import_from_folder(
    *,
    folder: str,
    repo_id: str = "",
    user: Any = None,
    application: Application | None = None,
    roots: list[str] | None = None,
) -> tuple[ModelVersion, bool]:
    """Import a local folder; with `roots`, every file read must lie below one of them when it is read."""
    try:
        snapshot = _local_snapshot(folder, repo_id.strip(), roots)
    except LocalImportError as exc:
        raise ImportFailed(str(exc), kind="LocalImportError") from exc
    return _record_snapshot(snapshot=snapshot, user=user, application=application)


@transaction.atomic
def _record_snapshot(*, snapshot: _Snapshot, user: Any, application: Application | None) -> tuple[ModelVersion, bool]:
    model, _ = Model.objects.select_for_update().get_or_create(source=snapshot.source, repo_id=snapshot.repo_id)
    existing = ModelVersion.objects.filter(model=model, commit=snapshot.commit).first()
    if existing is not None:
        if application is not None:
            add_usage(application=application, version=existing, user=user)
        return existing, False

    for key, value in snapshot.model_fields.items():
        setattr(model, key, value)
    model.tags = snapshot.tags
    model.card_data = snapshot.card_data
    model.card_markdown = snapshot.card_markdown
    model.is_placeholder = False
    version = ModelVersion.objects.create(
        model=model,
        commit=snapshot.commit,
        ref=snapshot.ref,
        imported_by=user if getattr(user, "is_authenticated", False) else None,
        card_data=snapshot.card_data,
        card_markdown=snapshot.card_markdown,
        card_error=snapshot.card_error,
        local_path=snapshot.local_path,
        total_size=sum(f.size for f in snapshot.files),
    )
    ModelFile.objects.bulk_create(
        ModelFile(
            version=version,
            path=f.path,
            size=f.size,
            sha256=f.sha256,
            blob_id=f.blob_id,
            is_lfs=f.is_lfs,
            format=guess_format(f.path),
        )
        for f in snapshot.files
    )
    _record_lineage(
        version=version, card_data=snapshot.card_data, tags=snapshot.tags, files=[f.path for f in snapshot.files]
    )
    _record_datasets(version=version, card_data=snapshot.card_data, tags=snapshot.tags)
    model.latest_version = version
    model.save()
    if application is not None:
        add_usage(application=application, version=version, user=user)
    record_event(
        actor=user,
        action="version.import",
        target=version,
        after={"repo_id": model.repo_id, "commit": version.commit, "ref": version.ref, "files": len(snapshot.files)},
    )
    return version, True


def _record_lineage(*, version: ModelVersion, card_data: dict[str, Any], tags: list[str], files: list[str]) -> None:
    for base_id, relation in cards.extract_base_models(card_data, tags, files=files):
        if base_id == version.model.repo_id:
            continue  # a card naming itself is not lineage
        base, _ = Model.objects.get_or_create(
            source=Source.HUB, repo_id=base_id, defaults={"is_placeholder": True, "author": base_id.split("/")[0]}
        )
        rel = relation if relation in Relation.values else Relation.UNKNOWN
        BaseModelLink.objects.get_or_create(version=version, base=base, defaults={"relation": rel})


def _record_datasets(*, version: ModelVersion, card_data: dict[str, Any], tags: list[str]) -> None:
    ids = cards.extract_datasets(card_data, tags)
    if not ids:
        return
    existing = {d.repo_id: d for d in Dataset.objects.filter(repo_id__in=ids)}
    Dataset.objects.bulk_create([Dataset(repo_id=i) for i in ids if i not in existing], ignore_conflicts=True)
    version.datasets.set(Dataset.objects.filter(repo_id__in=ids))


# --- import jobs (the row the task advances and the page polls) ---------------------------


@transaction.atomic
def request_import(
    *,
    user: Any,
    repo_id: str = "",
    revision: str = "main",
    local_path: str = "",
    application: Application | None = None,
    confined: bool = True,
) -> ImportJob:
    """Create an import job and enqueue it once the transaction commits.

    A confined job (the default: web UI and API) reads a local folder only below
    MODELGATE_LOCAL_IMPORT_ROOTS, checked again when the worker reads; the CLI passes confined=False.
    """
    from inventory import tasks

    repo_id, local_path = repo_id.strip(), local_path.strip()
    if not repo_id and not local_path:
        raise ValueError("Give a repository id or a local folder.")
    if application is not None and getattr(user, "is_authenticated", False):
        require(user, "inventory.import_model", application)  # for an application of the user's organizations
    job = ImportJob.objects.create(
        source=Source.LOCAL if local_path else Source.HUB,
        repo_id=repo_id,
        revision=(revision or "main").strip(),
        local_path=local_path,
        confined=confined,
        application=application,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
    )
    record_event(actor=user, action="import.request", target=job, after={"target": job.target})
    tasks.run_import.delay_on_commit(job.pk)
    return job


@transaction.atomic
def retry_import(*, job: ImportJob, user: Any) -> ImportJob:
    from inventory import tasks

    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.state != JobState.FAILED:
        raise ValueError("Only a failed import can be retried.")
    job.state, job.error, job.error_kind, job.step = JobState.QUEUED, "", "", "queued for retry"
    job.started_at = job.finished_at = None
    job.save()
    record_event(actor=user, action="import.retry", target=job)
    tasks.run_import.delay_on_commit(job.pk)
    return job


def _set_job(job_id: int, **fields: Any) -> None:
    ImportJob.objects.filter(pk=job_id).update(**fields)


def _record_job_failure(job_id: int, exc: ImportFailed, *, retry: bool) -> None:
    """Failed (a user may retry it), or, when the task retries a transient failure, queued again; error shown."""
    if retry and exc.transient:
        _set_job(job_id, state=JobState.QUEUED, error=str(exc), error_kind=exc.kind, step=f"retrying after: {exc}")
        return
    _set_job(
        job_id, state=JobState.FAILED, error=str(exc), error_kind=exc.kind, finished_at=timezone.now(), step="failed"
    )


def execute_import_job(*, job_id: int, retry_transient: bool = False) -> ModelVersion:
    """Run one job to completion, recording progress and the outcome on its row.

    Raises ImportFailed (after recording it) so the task can decide on a retry. With `retry_transient`
    (the task will retry), a transient failure puts the job back in the queue with its error shown,
    instead of failing it: a job is `failed` only when nobody will retry it but a user.
    """
    job = ImportJob.objects.select_related("application", "requested_by").get(pk=job_id)
    _set_job(
        job_id, state=JobState.RUNNING, started_at=timezone.now(), step="reading metadata", attempts=job.attempts + 1
    )
    try:
        if job.source == Source.LOCAL:
            version, created = import_from_folder(
                folder=job.local_path,
                repo_id=job.repo_id,
                user=job.requested_by,
                application=job.application,
                roots=list(settings.MODELGATE_LOCAL_IMPORT_ROOTS) if job.confined else None,
            )
        else:
            version, created = import_from_hub(
                repo_id=job.repo_id, revision=job.revision, user=job.requested_by, application=job.application
            )
    except ImportFailed as exc:
        _record_job_failure(job_id, exc, retry=retry_transient)
        raise
    except DATABASE_ERRORS as exc:
        # The connection was lost mid-step (restart, failover, terminated backend). The version is written in
        # one transaction, so this attempt left nothing half-written (or, cut at COMMIT, all of it: the retry
        # then finds the version). Recorded on a fresh connection; transient, so the task retries it.
        drop_broken_connections()
        message = f"The database connection was lost during the import ({str(exc).splitlines()[0]})."
        failure = ImportFailed(message, kind=DATABASE_ERROR_KIND, transient=True)
        _record_job_failure(job_id, failure, retry=retry_transient)
        raise failure from exc
    except Exception as exc:  # unexpected: still a visible failed state, never a silent loss
        log.exception("import job %s crashed", job_id)
        failure = ImportFailed(f"Unexpected error: {exc}", kind="internal")
        _record_job_failure(job_id, failure, retry=False)
        raise ImportFailed(str(exc), kind="internal") from exc
    _set_job(
        job_id,
        state=JobState.SUCCEEDED,
        error="",  # an earlier attempt's failure is history once a retry succeeds
        error_kind="",
        version=version,
        created_version=created,
        finished_at=timezone.now(),
        step="imported" if created else "already in the inventory",
    )
    return version


# --- usage, datasets, watches --------------------------------------------------------------


@transaction.atomic
def add_usage(
    *, application: Application, version: ModelVersion, user: Any, notes: str = "", check: bool = False
) -> ApplicationModel:
    """`check`: the caller is a person adding a usage (page, API), not an import recording its target."""
    if check:
        require(user, "inventory.add_applicationmodel", application)
    usage, created = ApplicationModel.objects.get_or_create(
        application=application,
        version=version,
        defaults={"added_by": user if getattr(user, "is_authenticated", False) else None, "notes": notes},
    )
    if created:
        record_event(
            actor=user,
            action="usage.add",
            target=usage,
            after={"application": application.slug, "version": str(version)},
        )
    return usage


@transaction.atomic
def remove_usage(*, usage: ApplicationModel, user: Any) -> None:
    require(user, "inventory.delete_applicationmodel", usage)
    record_event(
        actor=user,
        action="usage.remove",
        target=usage.version,
        before={"application": usage.application.slug, "version": str(usage.version)},
    )
    usage.delete()


@transaction.atomic
def set_dataset_flags(*, dataset: Dataset, flags: list[str], notes: str, user: Any) -> Dataset:
    require_global(user, "inventory.change_dataset")  # a dataset's flags count for every organization
    before = {"flags": dataset.flags, "notes": dataset.notes}
    dataset.flags = sorted(set(flags))
    dataset.notes = notes
    dataset.save(update_fields=["flags", "notes", "updated_at"])
    record_event(
        actor=user,
        action="dataset.flag",
        target=dataset,
        before=before,
        after={"flags": dataset.flags, "notes": dataset.notes},
    )
    version_ids = list(ModelVersion.objects.filter(datasets=dataset).values_list("pk", flat=True))
    if version_ids:
        pipeline.facts_changed(version_ids)
    return dataset


@transaction.atomic
def watch_model(*, model: Model, ref: str, user: Any, application: Application | None = None) -> Watch:
    if application is not None and getattr(user, "is_authenticated", False):
        require(user, "inventory.add_watch", application)
    watch, created = Watch.objects.get_or_create(
        model=model,
        ref=ref.strip() or "main",
        defaults={"created_by": user if getattr(user, "is_authenticated", False) else None, "application": application},
    )
    if not created and not watch.enabled:
        watch.enabled = True
        watch.save(update_fields=["enabled", "updated_at"])
    record_event(actor=user, action="watch.add", target=model, after={"ref": watch.ref})
    return watch


@transaction.atomic
def unwatch_model(*, watch: Watch, user: Any) -> None:
    require(user, "inventory.delete_watch", watch)
    record_event(actor=user, action="watch.remove", target=watch.model, before={"ref": watch.ref})
    watch.delete()


def poll_watch(*, watch: Watch, client: HubClient | None = None) -> ImportJob | None:
    """Import the watched ref if it moved to a commit not yet in the inventory."""
    client = client or HubClient()
    now = timezone.now()
    try:
        commit = client.resolve(watch.model.repo_id, watch.ref)
    except HubError as exc:
        Watch.objects.filter(pk=watch.pk).update(last_checked_at=now, last_error=str(exc))
        return None
    Watch.objects.filter(pk=watch.pk).update(last_checked_at=now, last_error="", last_commit=commit)
    if ModelVersion.objects.filter(model=watch.model, commit=commit).exists():
        return None
    return request_import(
        user=watch.created_by, repo_id=watch.model.repo_id, revision=commit, application=watch.application
    )


def version_summary(version: ModelVersion) -> dict[str, Any]:
    """The `import_model --wait` JSON (DESIGN.md contract); other apps add their parts."""
    summary: dict[str, Any] = {
        "repo_id": version.model.repo_id,
        "revision": version.commit,
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in version.files.order_by("path")],
        "base_models": [
            {"repo_id": link.base.repo_id, "relation": link.relation}
            for link in version.base_links.select_related("base").order_by("base__repo_id")
        ],
        "datasets": list(version.datasets.order_by("repo_id").values_list("repo_id", flat=True)),
    }
    summary.update(pipeline.summaries(version))
    return summary


@transaction.atomic
def save_organization(*, user: Any, organization: Organization | None, data: Mapping[str, Any]) -> Organization:
    """Create or change an organization (web form and API alike), audited with before/after."""
    return _save_audited(
        user=user,
        model=Organization,
        instance=organization,
        data=data,
        fields=Organization.EDITABLE_FIELDS,
        kind="organization",
    )


@transaction.atomic
def save_application(*, user: Any, application: Application | None, data: Mapping[str, Any]) -> Application:
    """Create or change an application (web form and API alike), audited with before/after.

    A change of its use profile changes facts of every version it uses: those are announced, so
    policies and license use-fit are re-evaluated.
    """
    return _save_audited(
        user=user,
        model=Application,
        instance=application,
        data=data,
        fields=Application.EDITABLE_FIELDS,
        kind="application",
    )


# Where an object lives: an application in its organization, an organization below its parent.
_OWNER_FIELD = {"application": "organization", "organization": "parent"}


def _require_owner(user: Any, perm: str, owner: Organization | None) -> None:
    """Placing an object under `owner` needs `perm` there; at the top of the tree, from a global role."""
    if owner is not None:
        require(user, perm, owner)
    elif organization_scope(user, perm) is not None:
        raise PermissionDenied("Only a global role may place this at the top; choose one of your organizations.")


def _save_audited(
    *, user: Any, model: type[Any], instance: Any, data: Mapping[str, Any], fields: tuple[str, ...], kind: str
) -> Any:
    creating = instance is None or instance.pk is None
    perm = f"inventory.{'add' if creating else 'change'}_{kind}"
    require(user, perm, None if creating else instance)  # a membership role: inside its organizations
    before = None if creating else _snapshot(model.objects.select_for_update().get(pk=instance.pk), fields)
    obj = model() if creating else model.objects.get(pk=instance.pk)
    owner_field = _OWNER_FIELD[kind]
    old_owner = getattr(obj, f"{owner_field}_id")
    for name, value in data.items():
        if name in fields:
            setattr(obj, name, value)
    if creating or getattr(obj, f"{owner_field}_id") != old_owner:
        _require_owner(user, perm, getattr(obj, owner_field))
    obj.full_clean()
    obj.save()
    after = _snapshot(obj, fields)
    action = AuditAction(f"{kind}.{'create' if creating else 'update'}")
    record_event(actor=user, action=action, target=obj, before=before, after=after)
    if kind == "application" and before is not None and before != after:
        pipeline.facts_changed(list(obj.usages.values_list("version_id", flat=True)))
    return obj


def _snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: _jsonable(getattr(obj, name)) for name in fields}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
