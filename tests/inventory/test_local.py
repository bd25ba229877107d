"""Local-folder imports read only what they were allowed to, at the moment the worker reads (issue 11 item 2).

The import roots are checked when the web UI or API accepts the request; the worker runs later. If the
folder, or a file in it, is swapped for a symbolic link leading elsewhere in between, the worker must
refuse with a message that does not reveal where the link leads, and nothing outside may be read.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command

from inventory import pipeline, services
from inventory.choices import JobState
from inventory.models import ImportJob, ModelVersion
from licenses.services.analysis import read_version_files
from scanning.models import Finding

pytestmark = pytest.mark.django_db

SENTINEL = b"SENTINEL-3f9c1e outside the import roots, never to be read"


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


def _nothing_holds_the_sentinel() -> None:
    marker = SENTINEL.decode()
    for model in apps.get_models():
        for row in model.objects.values():  # type: ignore[attr-defined]
            assert marker not in str(row), f"{model.__name__} row holds the outside file's content"


@pytest.fixture
def layout(tmp_path, settings):
    """imports/ (the only root) holding a model folder; outside/ next to it holding the sentinel."""
    root = tmp_path / "imports"
    model = root / "model"
    _write(model, {"config.json": b'{"model_type": "bert"}', "model.safetensors": b"weights", "README.md": b"# m\n"})
    outside = tmp_path / "private-place"
    _write(outside, {"secret.txt": SENTINEL, "README.md": SENTINEL, "model.safetensors": SENTINEL})
    settings.MODELGATE_LOCAL_IMPORT_ROOTS = [str(root)]
    return root, model, outside


def _request_then(client, swap, model: Path, django_capture_on_commit_callbacks) -> ImportJob:
    """Request the import through the API (the root check passes), swap, then let the worker run."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/api/v1/models/import", {"local_path": str(model)}, content_type="application/json")
    assert response.status_code == 202, response.content
    assert callbacks, "the import was not enqueued"
    swap()
    for callback in callbacks:
        callback()
    return ImportJob.objects.get()


def _assert_refused_without_paths(job: ImportJob, tmp_path: Path, *words: str) -> None:
    assert job.state == JobState.FAILED and job.version is None
    for word in words:
        assert word in job.error, job.error
    assert "private-place" not in job.error and str(tmp_path) not in job.error, job.error
    assert not ModelVersion.objects.exists()
    _nothing_holds_the_sentinel()


def test_a_file_swapped_for_a_link_out_of_the_root_fails_the_job(
    layout, tmp_path, client_for, admin_user, django_capture_on_commit_callbacks
):
    _root, model, outside = layout

    def swap() -> None:
        (model / "README.md").unlink()
        (model / "README.md").symlink_to(outside / "README.md")

    job = _request_then(client_for(admin_user), swap, model, django_capture_on_commit_callbacks)
    _assert_refused_without_paths(job, tmp_path, "README.md", "outside")


def test_the_folder_swapped_for_a_link_out_of_the_root_fails_the_job(
    layout, tmp_path, client_for, admin_user, django_capture_on_commit_callbacks
):
    _root, model, outside = layout

    def swap() -> None:
        shutil.rmtree(model)
        model.symlink_to(outside, target_is_directory=True)

    job = _request_then(client_for(admin_user), swap, model, django_capture_on_commit_callbacks)
    _assert_refused_without_paths(job, tmp_path, "outside the allowed import roots")


def test_a_link_to_another_folder_inside_the_root_is_refused_too(
    layout, tmp_path, client_for, admin_user, django_capture_on_commit_callbacks
):
    root, model, _outside = layout
    _write(root / "someone-else", {"weights.bin": SENTINEL})

    def swap() -> None:
        (model / "model.safetensors").unlink()
        (model / "model.safetensors").symlink_to(root / "someone-else" / "weights.bin")

    job = _request_then(client_for(admin_user), swap, model, django_capture_on_commit_callbacks)
    _assert_refused_without_paths(job, tmp_path, "model.safetensors")
    assert "someone-else" not in job.error


def test_a_cache_snapshot_under_the_root_still_imports_through_its_blob_links(
    tmp_path, settings, client_for, admin_user, django_capture_on_commit_callbacks
):
    hub = tmp_path / "hf" / "hub"
    settings.MODELGATE_LOCAL_IMPORT_ROOTS = [str(hub)]
    repo = hub / "models--acme--cached"
    snap = repo / "snapshots" / ("d" * 40)
    data = b"weights" * 100
    _write(repo, {f"blobs/{hashlib.sha256(data).hexdigest()}": data})
    snap.mkdir(parents=True)
    (snap / "model.safetensors").symlink_to(os.path.relpath(repo / "blobs" / hashlib.sha256(data).hexdigest(), snap))

    job = _request_then(client_for(admin_user), lambda: None, snap, django_capture_on_commit_callbacks)
    assert job.state == JobState.SUCCEEDED, job.error
    assert job.version.model.repo_id == "acme/cached" and job.version.commit == "d" * 40
    assert list(job.version.files.values_list("path", "sha256")) == [
        ("model.safetensors", hashlib.sha256(data).hexdigest())
    ]


def test_the_cli_queues_unconfined_jobs(tmp_path, settings, django_capture_on_commit_callbacks):
    """The operator's CLI may read any folder (settings comment, README); the web and API may not."""
    settings.MODELGATE_LOCAL_IMPORT_ROOTS = [str(tmp_path / "imports")]
    folder = tmp_path / "anywhere" / "model"
    _write(folder, {"config.json": b"{}"})
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_model", "acme/anywhere", "--from-dir", str(folder), stdout=io.StringIO())
    job = ImportJob.objects.get()
    assert job.confined is False and job.state == JobState.SUCCEEDED, job.error

    confined = services.request_import(user=None, local_path=str(folder))
    assert confined.confined is True


MIT_TEXT = """MIT License

Copyright (c) 2024 {holder}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def test_after_the_import_the_scan_and_license_steps_do_not_follow_a_swapped_link(layout, tmp_path):
    """The pipeline's readers (scan, license texts) re-verify too: a swap after the import reads nothing outside."""
    root, model, outside = layout
    _write(model, {"LICENSE": MIT_TEXT.format(holder="Acme").encode()})
    _write(outside, {"LICENSE": MIT_TEXT.format(holder=SENTINEL.decode()).encode()})
    version, _ = services.import_from_folder(folder=str(model), roots=[str(root)])
    for name in ("LICENSE", "model.safetensors"):
        (model / name).unlink()
        (model / name).symlink_to(outside / name)

    pipeline.run_all(version.pk)

    findings = dict(Finding.objects.filter(path__in=["LICENSE", "model.safetensors"]).values_list("path", "rule"))
    assert findings == {"LICENSE": "file.path", "model.safetensors": "file.path"}
    for message in Finding.objects.values_list("message", flat=True):
        assert "private-place" not in message and str(tmp_path) not in message
    _nothing_holds_the_sentinel()


def test_license_texts_of_a_cache_snapshot_are_read_through_its_blob_links(tmp_path):
    repo = tmp_path / "hub" / "models--acme--licensed"
    snap = repo / "snapshots" / ("e" * 40)
    text = MIT_TEXT.format(holder="Acme").encode()
    blob = repo / "blobs" / hashlib.sha256(text).hexdigest()
    _write(repo, {f"blobs/{blob.name}": text})
    snap.mkdir(parents=True)
    (snap / "LICENSE").symlink_to(os.path.relpath(blob, snap))
    version, _ = services.import_from_folder(folder=str(snap))

    read = read_version_files(version)
    assert read.texts == {"LICENSE": text.decode()} and read.notes == []
