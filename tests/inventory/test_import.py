"""Imports record exactly what the Hub (or the folder) serves: commit, files, sizes, sha256, lineage, datasets, card."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from core.models import AuditEvent
from inventory import services
from inventory.choices import JobState, Relation, Source
from inventory.models import BaseModelLink, ImportJob, Model, ModelFile, ModelVersion
from tests.hubserver.repos import llama_finetune_repo, malicious_pickle_repo, tiny_bert_repo

pytestmark = pytest.mark.django_db


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_hub_import_records_exactly_what_the_hub_serves(hub_env, admin_user):
    repo = tiny_bert_repo("imp/tiny-bert")
    commit = repo.add_to(hub_env)

    version, created = services.import_from_hub(repo_id="imp/tiny-bert", revision="main", user=admin_user)

    assert created
    assert version.commit == commit and version.ref == "main"
    served = {**repo.files, "README.md": repo.card.encode()}
    files = {f.path: f for f in version.files.all()}
    assert set(files) == set(served)
    for path, data in served.items():
        assert files[path].size == len(data), path
        assert files[path].sha256 == _sha(data), path
    assert files["model.safetensors"].format == "safetensors"
    assert version.total_size == sum(len(d) for d in served.values())
    model = version.model
    assert model.source == Source.HUB and model.latest_version == version and model.downloads == 1234
    assert version.card_data["license"] == model.card_data["license"]
    assert "# " in version.card_markdown and "---" not in version.card_markdown.splitlines()[0]
    assert sorted(version.datasets.values_list("repo_id", flat=True)) == sorted(
        services.cards.extract_datasets(version.card_data, model.tags)
    )
    assert AuditEvent.objects.filter(action="version.import", target_id=str(version.pk)).count() == 1


def test_importing_the_same_commit_twice_changes_nothing(hub_env):
    tiny_bert_repo("imp/twice").add_to(hub_env)
    first, created1 = services.import_from_hub(repo_id="imp/twice")
    counts = (ModelVersion.objects.count(), ModelFile.objects.count(), AuditEvent.objects.count())
    second, created2 = services.import_from_hub(repo_id="imp/twice", revision=first.commit)
    assert created1 and not created2 and first.pk == second.pk
    assert (ModelVersion.objects.count(), ModelFile.objects.count(), AuditEvent.objects.count()) == counts


def test_lineage_creates_placeholder_bases(hub_env):
    llama_finetune_repo("imp/llama-ft").add_to(hub_env)
    version, _ = services.import_from_hub(repo_id="imp/llama-ft")
    link = BaseModelLink.objects.get(version=version)
    assert link.base.repo_id == "meta-llama/Llama-2-7b-hf"
    assert link.base.is_placeholder and link.relation == Relation.FINETUNE
    assert not Model.objects.real().filter(repo_id="meta-llama/Llama-2-7b-hf").exists()


def test_import_pins_a_branch_to_its_commit_and_new_commits_are_new_versions(hub_env):
    repo = tiny_bert_repo("imp/moving")
    c1 = repo.add_to(hub_env)
    v1, _ = services.import_from_hub(repo_id="imp/moving")
    c2 = hub_env.add_commit("imp/moving", {"extra.txt": b"hello"})
    v2, created = services.import_from_hub(repo_id="imp/moving")
    assert created and (v1.commit, v2.commit) == (c1, c2)
    assert v2.files.filter(path="extra.txt").exists() and not v1.files.filter(path="extra.txt").exists()
    assert v2.model.latest_version_id == v2.pk


@pytest.mark.parametrize(
    ("setup", "kind"),
    [
        (lambda hub: None, "RepoNotFound"),
        (
            lambda hub: tiny_bert_repo("imp/err").add_to(hub) and hub.fail_next("*imp/err*", 500, times=20),
            "HubServerError",
        ),
    ],
)
def test_hub_errors_become_clear_import_failures(hub_env, setup, kind):
    setup(hub_env)
    with pytest.raises(services.ImportFailed) as err:
        services.import_from_hub(repo_id="imp/err" if kind != "RepoNotFound" else "imp/does-not-exist")
    assert err.value.kind == kind
    assert str(err.value)
    assert ModelVersion.objects.count() == 0


def test_unknown_revision_is_a_clear_failure(hub_env):
    tiny_bert_repo("imp/rev").add_to(hub_env)
    with pytest.raises(services.ImportFailed) as err:
        services.import_from_hub(repo_id="imp/rev", revision="no-such-branch")
    assert err.value.kind == "RevisionNotFound"


def test_failed_job_is_visible_and_retry_succeeds(hub_env, admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.request_import(user=admin_user, repo_id="imp/later", revision="main")
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.error_kind == "RepoNotFound" and "imp/later" in job.error

    malicious_pickle_repo("imp/later").add_to(hub_env)
    with django_capture_on_commit_callbacks(execute=True):
        services.retry_import(job=job, user=admin_user)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.version is not None and job.error == ""
    assert job.attempts == 2
    assert AuditEvent.objects.filter(action="import.retry").count() == 1


def test_request_import_enqueues_on_commit(admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = services.request_import(user=admin_user, repo_id="a/b")
    assert len(callbacks) == 1
    assert ImportJob.objects.get(pk=job.pk).state == JobState.QUEUED


# --- local folders ---------------------------------------------------------------------------


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


def test_local_folder_hashes_equal_sha256sum(tmp_path):
    folder = tmp_path / "my-model"
    _write(
        folder,
        {
            "config.json": b'{"model_type": "bert"}',
            "weights/model.safetensors": os.urandom(3 * 1024 * 1024 + 7),
            "README.md": b"---\nlicense: mit\ndatasets: [acme/data]\nbase_model: org/base\n---\n# Mine\n",
        },
    )
    version, created = services.import_from_folder(folder=str(folder), repo_id="acme/my-model")
    assert created and version.model.source == Source.LOCAL and version.local_path == str(folder.resolve())
    for f in version.files.all():
        out = subprocess.run(["sha256sum", str(folder / f.path)], capture_output=True, text=True, check=True)
        assert f.sha256 == out.stdout.split()[0], f.path
        assert f.size == (folder / f.path).stat().st_size
    assert version.card_data["license"] == "mit"
    assert list(version.datasets.values_list("repo_id", flat=True)) == ["acme/data"]
    assert version.base_links.get().base.repo_id == "org/base"
    # same content again: same identity, nothing new
    again, created_again = services.import_from_folder(folder=str(folder), repo_id="acme/my-model")
    assert not created_again and again.pk == version.pk


def test_hf_cache_snapshot_takes_repo_and_commit_from_the_path(tmp_path):
    commit = "a" * 40
    repo_dir = tmp_path / "hub" / "models--acme--cached-model"
    blobs, snap = repo_dir / "blobs", repo_dir / "snapshots" / commit
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    data = b"weights" * 1000
    blob = blobs / _sha(data)
    blob.write_bytes(data)
    (snap / "model.safetensors").symlink_to(os.path.relpath(blob, snap))

    version, _ = services.import_from_folder(folder=str(snap))
    assert version.model.repo_id == "acme/cached-model" and version.commit == commit
    assert version.model.source == Source.HUB
    assert list(version.files.values_list("path", "sha256")) == [("model.safetensors", _sha(data))]


def test_a_link_leaving_the_cache_folder_fails_the_import_without_showing_where_it_leads(tmp_path):
    """A file that was not read cannot have been scanned: the import fails rather than leave it out."""
    commit = "b" * 40
    snap = tmp_path / "hub" / "models--acme--leaky" / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "config.json").write_bytes(b"{}")
    outside = tmp_path / "secret-place" / "secret.txt"
    outside.parent.mkdir()
    outside.write_bytes(b"do not read")
    (snap / "escape.txt").symlink_to(outside)

    with pytest.raises(services.ImportFailed) as exc:
        services.import_from_folder(folder=str(snap))
    assert "escape.txt" in str(exc.value) and "outside" in str(exc.value)
    assert "secret-place" not in str(exc.value)
    assert not ModelVersion.objects.exists()


def test_missing_folder_is_a_clear_failure(tmp_path):
    with pytest.raises(services.ImportFailed, match="not found"):
        services.import_from_folder(folder=str(tmp_path / "nope"))
