"""core.files: one walk, one skip list, one symlink policy, streaming sha256 (no Django, no database)."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import subprocess
import threading
import tracemalloc
from pathlib import Path

import pytest
from huggingface_hub._local_folder import get_local_download_paths, write_download_metadata

from core import files
from core.files import FileRefused, hash_folder, open_inside, resolve_inside, safe_relative, walk, within_roots

EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def _write(folder: Path, tree: dict[str, bytes]) -> None:
    for rel, data in tree.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


def _sha256sum(path: Path) -> str:
    """The coreutils tool, as a reference that is not our code."""
    return subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


def _paths(folder: Path) -> list[str]:
    return [e.path for e in walk(folder).files]


# --- skip list ---------------------------------------------------------------------------------
def test_skip_list_covers_vcs_caches_and_os_litter_but_not_model_dotfiles(tmp_path):
    _write(
        tmp_path,
        {
            "config.json": b"{}",
            ".gitattributes": b"*.safetensors filter=lfs\n",
            ".git/HEAD": b"ref: refs/heads/main\n",
            ".cache/anything": b"x",
            ".huggingface/state": b"x",
            "sub/__pycache__/m.cpython-311.pyc": b"x",
            "sub/.DS_Store": b"x",
            "sub/model.safetensors": b"w",
            ".no_exist/abc/missing.bin": b"",
            ".locks/x.lock": b"",
        },
    )
    assert _paths(tmp_path) == [".gitattributes", "config.json", "sub/model.safetensors"]


def test_huggingface_hub_local_dir_metadata_is_skipped(tmp_path):
    """What huggingface_hub itself writes next to a local_dir download (its own functions write it here)."""
    _write(tmp_path, {"model.safetensors": b"weights", "nested/tokenizer.json": b"{}"})
    for name in ("model.safetensors", "nested/tokenizer.json"):
        write_download_metadata(tmp_path, filename=name, commit_hash="c" * 40, etag="e" * 64)
    paths = get_local_download_paths(tmp_path, "model.safetensors")
    paths.incomplete_path("e" * 64).write_bytes(b"partial")
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert any(p.startswith(".cache/huggingface/") and p.endswith(".metadata") for p in written)
    assert ".cache/huggingface/.gitignore" in written
    assert _paths(tmp_path) == ["model.safetensors", "nested/tokenizer.json"]


# --- symlinks ----------------------------------------------------------------------------------
def _cache_snapshot(tmp_path: Path, files_: dict[str, bytes]) -> Path:
    """The layout huggingface_hub builds: snapshots/<sha>/<path> -> ../../blobs/<etag>."""
    repo = tmp_path / "hub" / "models--acme--model"
    snap = repo / "snapshots" / ("a" * 40)
    (repo / "blobs").mkdir(parents=True)
    for rel, data in files_.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snap / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snap


def test_cache_snapshot_links_into_blobs_are_followed(tmp_path):
    snap = _cache_snapshot(tmp_path, {"model.safetensors": b"w" * 100, "sub/config.json": b"{}"})
    found = walk(snap)
    assert found.boundary == (tmp_path / "hub" / "models--acme--model").resolve()
    assert [(e.path, e.size) for e in found.files] == [("model.safetensors", 100), ("sub/config.json", 2)]
    assert all("blobs" in e.real.parts for e in found.files) and not found.refused
    hashed, refused = hash_folder(snap)
    assert not refused
    assert {h.path: h.sha256 for h in hashed}["model.safetensors"] == hashlib.sha256(b"w" * 100).hexdigest()


def test_links_leaving_the_folder_are_refused_without_showing_where_they_lead(tmp_path):
    secret_dir = tmp_path / "private-server-place"
    secret_dir.mkdir()
    (secret_dir / "secret.txt").write_bytes(b"top secret")
    model = tmp_path / "model"
    _write(model, {"config.json": b"{}"})
    (model / "leak.txt").symlink_to(secret_dir / "secret.txt")
    (model / "leakdir").symlink_to(secret_dir)
    (model / "dangling").symlink_to(tmp_path / "nothing-here")
    found = walk(model)
    assert [e.path for e in found.files] == ["config.json"]
    assert [r.path for r in found.refused] == ["dangling", "leak.txt", "leakdir"]
    assert all("private-server-place" not in r.reason and str(tmp_path) not in r.reason for r in found.refused)
    with pytest.raises(FileRefused) as exc:
        open_inside(model, "leak.txt")
    assert "private-server-place" not in str(exc.value) and "leak.txt" in str(exc.value)


def test_links_inside_the_folder_are_followed_and_loops_cut(tmp_path):
    _write(tmp_path, {"weights/model.safetensors": b"w", "config.json": b"{}"})
    (tmp_path / "alias.json").symlink_to("config.json")
    (tmp_path / "weights" / "back").symlink_to("..")  # a loop back to the root
    (tmp_path / "w2").symlink_to("weights")
    assert _paths(tmp_path) == ["alias.json", "config.json", "w2/model.safetensors", "weights/model.safetensors"]


def test_link_fan_out_is_bounded(tmp_path):
    """Twenty folders each linking twice to the next one: 2**20 paths from 40 links."""
    for i in range(20):
        (tmp_path / f"d{i}").mkdir()
    for i in range(19):
        (tmp_path / f"d{i}" / "a").symlink_to(tmp_path / f"d{i + 1}")
        (tmp_path / f"d{i}" / "b").symlink_to(tmp_path / f"d{i + 1}")
    with pytest.raises(FileRefused, match="more than 1000 entries"):
        walk(tmp_path / "d0", boundary=tmp_path, max_entries=1000)


def test_an_explicit_boundary_narrows_what_links_may_reach(tmp_path):
    snap = _cache_snapshot(tmp_path, {"model.safetensors": b"w"})
    found = walk(snap, boundary=snap)
    assert not found.files and [r.path for r in found.refused] == ["model.safetensors"]


# --- special files -----------------------------------------------------------------------------
def _in_thread(fn, *args):
    """Run fn in a daemon thread; a walk that opened a FIFO would block and the join would time out."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = fn(*args)
        except BaseException as exc:
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout=10)
    assert not t.is_alive(), "blocked: a FIFO was opened"
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]


def test_fifo_socket_and_device_are_refused_never_opened(tmp_path):
    _write(tmp_path, {"config.json": b"{}"})
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link-to-pipe").symlink_to("pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    expected = ["link-to-pipe", "pipe", "sock"]
    if os.geteuid() == 0:  # mknod needs root; the suite runs as root in CI
        os.mknod(tmp_path / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        expected.insert(2, "null")
    try:
        hashed, refused = _in_thread(hash_folder, tmp_path)
        assert [h.path for h in hashed] == ["config.json"]
        assert [r.path for r in refused] == sorted(expected)
        reasons = {r.path: r.reason for r in refused}
        assert "FIFO" in reasons["pipe"] and "socket" in reasons["sock"]
        with pytest.raises(FileRefused, match="FIFO"):
            _in_thread(lambda: open_inside(tmp_path, "pipe"))
    finally:
        sock.close()


# --- shapes of trees ---------------------------------------------------------------------------
def test_deep_tree_unicode_names_and_empty_files(tmp_path):
    deep = "/".join(f"d{i}" for i in range(300))
    tree = {
        f"{deep}/leaf.bin": b"deep",
        "modèle/权重 v1.safetensors": b"unicode",
        "emoji 🚀.txt": "ça".encode(),
        "empty.bin": b"",
    }
    _write(tmp_path, tree)
    hashed, refused = hash_folder(tmp_path)
    assert not refused
    got = {h.path: (h.size, h.sha256) for h in hashed}
    assert got == {rel: (len(data), hashlib.sha256(data).hexdigest()) for rel, data in tree.items()}
    assert got["empty.bin"] == (0, EMPTY_SHA)
    for rel in ("modèle/权重 v1.safetensors", "emoji 🚀.txt"):
        assert got[rel][1] == _sha256sum(tmp_path / rel)


def test_non_utf8_file_name_does_not_crash(tmp_path):
    name = b"caf\xe9.bin"  # latin-1, not valid UTF-8
    with open(os.path.join(os.fsencode(tmp_path), name), "wb") as fh:
        fh.write(b"x")
    hashed, refused = hash_folder(tmp_path)
    assert not refused and len(hashed) == 1 and hashed[0].sha256 == hashlib.sha256(b"x").hexdigest()


def test_large_sparse_file_is_hashed_in_bounded_memory(tmp_path):
    size = 64 * 1024 * 1024 + 13  # mostly a hole: cheap on disk, not in a buffer
    path = tmp_path / "big.bin"
    with path.open("wb") as fh:
        fh.truncate(size)
        fh.seek(size - 4)
        fh.write(b"tail")
    tracemalloc.start()
    try:
        hashed, refused = hash_folder(tmp_path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not refused and hashed[0].size == size
    assert peak < 4 * files.CHUNK, f"peak {peak} bytes while hashing {size} bytes"
    with path.open("rb") as fh:
        assert hashed[0].sha256 == hashlib.file_digest(fh, "sha256").hexdigest()


@pytest.mark.slow
def test_a_gibibyte_sparse_file_is_hashed_like_sha256sum_in_bounded_memory(tmp_path):
    size = 1024**3 + 1
    path = tmp_path / "huge.bin"
    with path.open("wb") as fh:
        fh.truncate(size)
    tracemalloc.start()
    try:
        got = files.sha256_file(tmp_path, "huge.bin")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * files.CHUNK
    assert got == (_sha256sum(path), size)


# --- resolving and opening at read time -----------------------------------------------------------
@pytest.mark.parametrize("rel", ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a\\b", "a/", "nul\0"])
def test_unsafe_relative_paths_are_refused(tmp_path, rel):
    assert safe_relative(rel) is None
    with pytest.raises(FileRefused, match="unsafe"):
        resolve_inside(tmp_path, rel)


def test_file_swapped_for_a_link_between_check_and_open_is_refused(tmp_path, monkeypatch):
    model, outside = tmp_path / "model", tmp_path / "outside"
    _write(model, {"model.bin": b"inside"})
    _write(outside, {"secret": b"outside"})
    checked = files.resolve_inside

    def check_then_swap(root, rel, *, boundary=None):
        real = checked(root, rel, boundary=boundary)
        os.unlink(model / "model.bin")  # the attacker wins the race: the checked name is now a link out
        os.symlink(outside / "secret", model / "model.bin")
        return real

    monkeypatch.setattr(files, "resolve_inside", check_then_swap)
    with pytest.raises(FileRefused, match=r"model\.bin: changed"):
        files.sha256_file(model, "model.bin")


def test_folder_swapped_for_a_link_between_check_and_open_is_refused(tmp_path, monkeypatch):
    model, outside = tmp_path / "model", tmp_path / "outside"
    _write(model, {"sub/model.bin": b"inside"})
    _write(outside, {"model.bin": b"outside"})
    checked = files.resolve_inside

    def check_then_swap(root, rel, *, boundary=None):
        real = checked(root, rel, boundary=boundary)
        shutil.rmtree(model / "sub")
        os.symlink(outside, model / "sub")  # a parent folder of the checked file now leads out
        return real

    monkeypatch.setattr(files, "resolve_inside", check_then_swap)
    with pytest.raises(FileRefused, match="changed while being opened"):
        files.sha256_file(model, "sub/model.bin")


def test_within_roots_picks_the_deepest_root_and_refuses_others(tmp_path):
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "a" / "escape").symlink_to(tmp_path / "elsewhere")
    roots = [str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    assert within_roots(tmp_path / "a" / "b" / "c", roots) == (tmp_path / "a" / "b").resolve()
    assert within_roots(tmp_path / "a" / "b" / ".." / ".." / "elsewhere", roots) is None
    assert within_roots(tmp_path / "a" / "escape", roots) is None  # resolved first
    assert within_roots(tmp_path / "a", []) is None


def test_parse_cache_path():
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert files.parse_cache_path(f"/x/hub/models--org--name/snapshots/{sha}") == ("org/name", sha)
    assert files.parse_cache_path(f"/x/hub/models--gpt2/snapshots/{sha}/") == ("gpt2", sha)
    assert files.parse_cache_path(f"/x/hub/models--org--name/snapshots/{sha}/sub") is None
    assert files.parse_cache_path("/x/models--org--name/snapshots/main") is None


def test_core_files_imports_no_django():
    source = Path(files.__file__).read_text()
    assert "django" not in source.lower().replace("no django", "")
