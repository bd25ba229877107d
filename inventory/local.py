"""Read a model from a local folder: a Hugging Face cache snapshot or any directory.

Files are hashed while streaming (memory independent of size). In a cache snapshot
(`…/models--org--name/snapshots/<sha>/`) the repo id and commit come from the path and files are
symlinks into `blobs/`; a symlink that points outside the repository's cache folder (or outside the
folder for a plain directory) is refused rather than followed.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 4 * 1024 * 1024
SKIP_DIRS = {".git", ".cache", "__pycache__", ".huggingface"}
_SNAPSHOT_RE = re.compile(r"models--(?P<repo>[^/]+)/snapshots/(?P<sha>[0-9a-f]{40})/?$")


class LocalImportError(Exception):
    """The folder cannot be imported (missing, not a directory, unreadable)."""


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative, with forward slashes
    size: int
    sha256: str


@dataclass
class LocalSnapshot:
    root: Path
    repo_id: str
    commit: str
    from_cache: bool
    files: list[LocalFile] = field(default_factory=list)
    card_text: str = ""
    skipped: list[str] = field(default_factory=list)  # paths refused (escaping symlinks, unreadable)


def check_import_root(folder: str, roots: list[str]) -> None:
    """Refuse a folder outside the allowed roots (web and API imports must not read the whole server)."""
    target = Path(folder).expanduser().resolve()
    allowed = [Path(r).expanduser().resolve() for r in roots]
    if not any(target == root or target.is_relative_to(root) for root in allowed):
        shown = ", ".join(str(r) for r in allowed) or "none configured"
        raise LocalImportError(f"Folder {target} is outside the allowed import roots ({shown}).")


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def parse_cache_path(path: Path) -> tuple[str, str] | None:
    """(repo_id, commit) for a Hugging Face cache snapshot folder, else None."""
    match = _SNAPSHOT_RE.search(path.as_posix())
    if not match:
        return None
    return match.group("repo").replace("--", "/", 1), match.group("sha")


def manifest_commit(files: list[LocalFile]) -> str:
    """A stable 40-hex identity for a plain folder: same content, same 'commit'."""
    digest = hashlib.sha1(usedforsecurity=False)
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.size}\0{f.sha256}\n".encode())
    return digest.hexdigest()


def read_folder(folder: str | os.PathLike[str], *, repo_id: str = "") -> LocalSnapshot:
    root = Path(folder).expanduser()
    if not root.exists():
        raise LocalImportError(f"Folder not found: {root}")
    if not root.is_dir():
        raise LocalImportError(f"Not a folder: {root}")
    root = root.resolve()
    cache = parse_cache_path(root)
    # Symlinks may point into the repo's cache folder (blobs/), never further out.
    boundary = root.parent.parent if cache else root
    files: list[LocalFile] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            target = full.resolve()
            if not target.is_relative_to(boundary) or not target.is_file():
                skipped.append(rel)
                continue
            try:
                sha, size = sha256_file(target)
            except OSError:
                skipped.append(rel)
                continue
            files.append(LocalFile(path=rel, size=size, sha256=sha))
    card_text = ""
    readme = root / "README.md"
    if readme.is_file() and readme.resolve().is_relative_to(boundary):
        card_text = readme.read_bytes()[:2_000_000].decode("utf-8", errors="replace")
    if cache:
        guessed_repo, commit = cache
    else:
        guessed_repo, commit = f"local/{root.name}", manifest_commit(files)
    return LocalSnapshot(
        root=root,
        repo_id=repo_id or guessed_repo,
        commit=commit,
        from_cache=bool(cache),
        files=files,
        card_text=card_text,
        skipped=skipped,
    )
