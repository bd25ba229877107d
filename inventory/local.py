"""Read a model from a local folder: a Hugging Face cache snapshot or any directory.

The folder is walked and hashed by `core.files` (one skip list, one symlink policy, streaming sha256).
In a cache snapshot (`…/models--org--name/snapshots/<sha>/`) the repo id and commit come from the path
and files are symlinks into `blobs/`; a link that leads outside the repository's cache folder (or
outside the folder for a plain directory), a FIFO, socket or device fails the import: a model file
that was not read cannot have been scanned.

Imports requested from the web UI or the API pass the allowed roots (MODELGATE_LOCAL_IMPORT_ROOTS);
they are checked again here, when the worker reads, and no link may lead out of them — the folder or a
file may have been swapped for a link since the request was accepted. Messages never show where a link
leads on the server.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.files import (
    FileRefused,
    Refusal,
    is_inside,
    open_inside,
    parse_cache_path,
    sha256_file,
    snapshot_boundary,
    walk,
    within_roots,
)

CARD_LIMIT = 2_000_000
_SHOWN_REFUSALS = 5


class LocalImportError(Exception):
    """The folder cannot be imported (missing, not a directory, outside the roots, a file refused)."""


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


def check_import_root(folder: str, roots: Sequence[str]) -> None:
    """Refuse a folder outside the allowed roots (web and API imports must not read the whole server)."""
    if within_roots(Path(folder).expanduser(), roots) is None:
        shown = ", ".join(roots) or "none configured"
        raise LocalImportError(f"Folder {folder} is outside the allowed import roots ({shown}).")


def manifest_commit(files: list[LocalFile]) -> str:
    """A stable 40-hex identity for a plain folder: same content, same 'commit'."""
    digest = hashlib.sha1(usedforsecurity=False)
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.size}\0{f.sha256}\n".encode())
    return digest.hexdigest()


def _refused(refusals: list[Refusal]) -> LocalImportError:
    shown = "; ".join(f"{r.path}: {r.reason}" for r in refusals[:_SHOWN_REFUSALS])
    more = f"; and {len(refusals) - _SHOWN_REFUSALS} more" if len(refusals) > _SHOWN_REFUSALS else ""
    return LocalImportError(f"{len(refusals)} file(s) refused, nothing imported: {shown}{more}")


def _boundary(root: Path, roots: Sequence[str] | None) -> Path:
    """Links may lead within the snapshot's repo folder (or the folder), and never out of the allowed root."""
    boundary = snapshot_boundary(root)
    if roots is None:
        return boundary
    allowed = within_roots(root, roots)
    if allowed is None:
        raise LocalImportError("The folder is outside the allowed import roots (it may have been moved or linked).")
    return boundary if is_inside(boundary, allowed) else allowed


def read_folder(
    folder: str | os.PathLike[str], *, repo_id: str = "", roots: Sequence[str] | None = None
) -> LocalSnapshot:
    """Walk and hash `folder`. With `roots`, everything read must lie below one of them (checked now)."""
    given = Path(folder).expanduser()
    if not given.exists():
        raise LocalImportError(f"Folder not found: {folder}")
    if not given.is_dir():
        raise LocalImportError(f"Not a folder: {folder}")
    root = given.resolve()
    boundary = _boundary(root, roots)
    try:
        found = walk(root, boundary=boundary)
    except FileRefused as exc:
        raise LocalImportError(f"Folder {folder}: {exc.reason}") from None
    if found.refused:
        raise _refused(found.refused)
    files: list[LocalFile] = []
    refusals: list[Refusal] = []
    for entry in found.files:
        try:
            sha, size = sha256_file(root, entry.path, boundary=boundary)
        except FileRefused as exc:
            refusals.append(Refusal(entry.path, exc.reason))
            continue
        except OSError:
            refusals.append(Refusal(entry.path, "could not be read"))
            continue
        files.append(LocalFile(path=entry.path, size=size, sha256=sha))
    if refusals:
        raise _refused(refusals)
    card_text = ""
    if any(f.path == "README.md" for f in files):
        try:
            with open_inside(root, "README.md", boundary=boundary) as fh:
                card_text = fh.read(CARD_LIMIT).decode("utf-8", errors="replace")
        except (FileRefused, OSError) as exc:
            raise LocalImportError(f"README.md: {getattr(exc, 'reason', 'could not be read')}") from None
    cache = parse_cache_path(root)
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
    )
