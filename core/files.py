"""Walking and hashing a model folder: one skip list, one symlink policy, streaming sha256.

Pure Python (no Django): the import worker, the gate, `manage.py scan` and the standalone CLI client all
read folders through this module, so the set of files and their hashes agree everywhere.

* **Skip list** (`SKIP_NAMES`): version-control folders, caches and what `huggingface_hub` writes next to
  the model files — `.cache/huggingface/` in a `local_dir` download (download metadata, locks,
  `.incomplete` parts, a `.gitignore`), `.no_exist/` and `.locks/` in its cache — plus OS litter.
* **Symlinks**: a link is followed only when what it resolves to lies inside the *boundary* (the folder
  itself, or for a Hugging Face cache snapshot `…/models--org--name/snapshots/<sha>/` the repo folder
  `models--org--name/`, whose `blobs/` the snapshot's links point into). A link leaving the boundary is
  refused. Refusal messages name the relative path only, never where the link leads on the server.
* **Special files**: FIFOs, sockets and devices are refused without being opened (opening a FIFO blocks).
* **Opening** (`open_inside`): the resolved path is opened with `O_NOFOLLOW | O_NONBLOCK`, and the open
  file is checked to be the regular file the name still resolves to — a link swapped in between the
  check and the open is caught (time-of-check/time-of-use).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

CHUNK = 1024 * 1024
MAX_ENTRIES = 1_000_000

# Folder and file names never part of a model (matched on any path component).
SKIP_NAMES = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".cache",  # huggingface_hub local_dir metadata lives in .cache/huggingface/
        ".huggingface",
        ".no_exist",  # huggingface_hub cache: files known to be missing at a commit
        ".locks",  # huggingface_hub cache: download locks
        "__pycache__",
        ".DS_Store",
    }
)

_SNAPSHOT_RE = re.compile(r"(?:^|/)models--(?P<repo>[^/]+)/snapshots/(?P<sha>[0-9a-f]{40})/?$")


class FileRefused(Exception):
    """A file (or folder) is not read: it leaves the allowed folder, is not a regular file, or vanished.

    `path` is the path as the caller named it (relative to the walked folder); the message never
    contains the resolved server path. `kind`: unsafe-path, outside, missing, special, changed or folder.
    """

    def __init__(self, path: str, reason: str, *, kind: str = "folder") -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True)
class Entry:
    """One regular file found by `walk`."""

    path: str  # relative to the walked folder, forward slashes
    real: Path  # resolved location (inside the boundary)
    size: int


@dataclass(frozen=True)
class Refusal:
    path: str
    reason: str


@dataclass
class Walk:
    root: Path  # resolved
    boundary: Path  # resolved; links may lead anywhere below it
    files: list[Entry] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


# --- boundaries -------------------------------------------------------------------------------


def parse_cache_path(path: Path | str) -> tuple[str, str] | None:
    """(repo_id, commit) for a Hugging Face cache snapshot folder, else None."""
    match = _SNAPSHOT_RE.search(Path(path).as_posix())
    if not match:
        return None
    return match.group("repo").replace("--", "/", 1), match.group("sha")


def snapshot_boundary(root: Path) -> Path:
    """Where links under `root` may lead: the repo folder for a cache snapshot, else `root` itself."""
    return root.parent.parent if parse_cache_path(root) else root


def is_inside(path: Path, boundary: Path) -> bool:
    return path == boundary or path.is_relative_to(boundary)


def within_roots(folder: Path, roots: Iterable[str | os.PathLike[str]]) -> Path | None:
    """The deepest allowed root that holds `folder` (all resolved), or None."""
    target = folder.resolve()
    allowed = [Path(r).expanduser().resolve() for r in roots]
    holding = [r for r in allowed if is_inside(target, r)]
    return max(holding, key=lambda r: len(r.parts)) if holding else None


def safe_relative(rel: str) -> PurePosixPath | None:
    """`rel` as a relative POSIX path without `..`/`.`/empty parts or backslashes, else None."""
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or "\\" in rel or "\0" in rel or any(part in ("", ".", "..") for part in p.parts):
        return None
    if rel != p.as_posix():  # "a//b", "a/./b", trailing slash: not a name we recorded
        return None
    return p


# --- walking ----------------------------------------------------------------------------------


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def walk(folder: str | os.PathLike[str], *, boundary: Path | None = None, max_entries: int = MAX_ENTRIES) -> Walk:
    """Every regular file below `folder`, sorted by relative path, skipping `SKIP_NAMES`.

    Links resolving inside `boundary` (default: `snapshot_boundary(folder)`) are followed, except a folder
    link back to one of its own ancestors (a loop); links leaving the boundary, dangling links and special
    files are listed in `refused`. Raises FileRefused when `folder` itself is missing or not a folder, or
    holds more than `max_entries` entries (links can make a small tree look huge).
    """
    given = Path(folder).expanduser()
    if not given.exists():
        raise FileRefused("", "folder not found")
    if not given.is_dir():
        raise FileRefused("", "not a folder")
    root = given.resolve()
    bound = (boundary or snapshot_boundary(root)).resolve()
    if not is_inside(root, bound):
        raise FileRefused("", "the folder is outside the allowed folder")
    result = Walk(root=root, boundary=bound)
    st_root = root.stat()
    # (real directory, relative prefix, the (dev, inode) of it and its ancestors)
    stack: list[tuple[Path, str, frozenset[tuple[int, int]]]] = [
        (root, "", frozenset({(st_root.st_dev, st_root.st_ino)}))
    ]
    seen = 0
    while stack:
        directory, prefix, ancestors = stack.pop()
        try:
            with os.scandir(directory) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError:
            result.refused.append(Refusal(prefix.rstrip("/") or ".", "folder could not be read"))
            continue
        seen += len(children)
        if seen > max_entries:
            raise FileRefused("", f"more than {max_entries} entries (counting followed links); not walked")
        subdirs: list[tuple[Path, str, frozenset[tuple[int, int]]]] = []
        for child in children:
            if child.name in SKIP_NAMES:
                continue
            rel = prefix + child.name
            target = Path(child.path)
            try:
                if child.is_symlink():
                    target = Path(os.path.realpath(child.path))
                    if not is_inside(target, bound):
                        result.refused.append(Refusal(rel, "symbolic link leads outside the model folder; not read"))
                        continue
                st = os.stat(target, follow_symlinks=False)
            except OSError:
                result.refused.append(Refusal(rel, "dangling symbolic link or unreadable entry"))
                continue
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    continue  # a link back to a folder we are inside: a loop
                subdirs.append((target, rel + "/", ancestors | {key}))
            elif stat.S_ISREG(st.st_mode):
                result.files.append(Entry(path=rel, real=target, size=st.st_size))
            else:
                result.refused.append(Refusal(rel, f"{_kind(st.st_mode)}; not read"))
        stack.extend(reversed(subdirs))
    result.files.sort(key=lambda e: e.path)
    result.refused.sort(key=lambda r: r.path)
    return result


# --- opening and hashing ----------------------------------------------------------------------

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_OPEN_FLAGS |= getattr(os, "O_BINARY", 0)


def resolve_inside(root: Path | str, rel: str, *, boundary: Path | None = None) -> Path:
    """The resolved location of `root/rel` if it is a regular file inside `boundary`; else FileRefused.

    `root` and `boundary` are taken as given (callers pass paths resolved when the folder was imported):
    a folder swapped for a link later resolves elsewhere and is refused.
    """
    parts = safe_relative(rel)
    if parts is None:
        raise FileRefused(rel, "unsafe file path; not read", kind="unsafe-path")
    root = Path(root)
    bound = Path(boundary) if boundary is not None else snapshot_boundary(root)
    real = Path(os.path.realpath(root.joinpath(*parts.parts)))
    if not is_inside(real, bound):
        raise FileRefused(rel, "leads outside the model folder (symbolic link); not read", kind="outside")
    try:
        st = os.stat(real, follow_symlinks=False)
    except OSError:
        raise FileRefused(rel, "file not found in the imported folder", kind="missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(rel, f"{_kind(st.st_mode)}; not read", kind="special")
    return real


def open_inside(root: Path | str, rel: str, *, boundary: Path | None = None) -> BinaryIO:
    """Open `root/rel` for reading after `resolve_inside`, and prove the open file is that file.

    The resolved path is opened without following a final link and without blocking; the open file must
    be a regular file and the same inode the name (still free of links) designates afterwards. A link
    swapped into the path between the check and the open therefore fails with FileRefused.
    """
    return _open_real(resolve_inside(root, rel, boundary=boundary), rel)


def _open_real(real: Path, shown: str) -> BinaryIO:
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError:
        raise FileRefused(shown, "changed or vanished while being opened; not read", kind="changed") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(shown, f"{_kind(st.st_mode)}; not read", kind="special")
        again = os.stat(real, follow_symlinks=False)
        if os.path.realpath(real) != str(real) or (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
            raise FileRefused(shown, "changed while being opened (symbolic link swapped in); not read", kind="changed")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def sha256_stream(fh: BinaryIO, *, chunk: int = CHUNK) -> tuple[str, int]:
    """(hex sha256, bytes read) of a binary stream, reading `chunk` bytes at a time into one buffer."""
    digest = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    size = 0
    while True:
        n = fh.readinto(buf)  # type: ignore[attr-defined]
        if not n:
            break
        digest.update(view[:n])
        size += n
    return digest.hexdigest(), size


def sha256_file(root: Path | str, rel: str, *, boundary: Path | None = None) -> tuple[str, int]:
    """(hex sha256, size) of `root/rel`, opened with `open_inside`; memory is one chunk whatever the size."""
    with open_inside(root, rel, boundary=boundary) as fh:
        return sha256_stream(fh)


def sha256_path(path: Path | str) -> tuple[str, int]:
    """(hex sha256, size) of one file the caller named explicitly (its own download, a CLI argument).

    A link the caller named is followed; special files are refused without being opened.
    """
    shown = Path(path).name
    real = Path(os.path.realpath(path))
    try:
        st = os.stat(real, follow_symlinks=False)
    except OSError:
        raise FileRefused(shown, "file not found", kind="missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(shown, f"{_kind(st.st_mode)}; not read", kind="special")
    with _open_real(real, shown) as fh:
        return sha256_stream(fh)


@dataclass(frozen=True)
class Hashed:
    path: str
    size: int
    sha256: str


def hash_folder(folder: str | os.PathLike[str], *, boundary: Path | None = None) -> tuple[list[Hashed], list[Refusal]]:
    """sha256 of every file `walk` finds; files refused by the walk or at open time come back as refusals."""
    found = walk(folder, boundary=boundary)
    hashed: list[Hashed] = []
    refused = list(found.refused)
    for entry in found.files:
        try:
            sha, size = sha256_file(found.root, entry.path, boundary=found.boundary)
        except FileRefused as exc:
            refused.append(Refusal(entry.path, exc.reason))
            continue
        except OSError:
            refused.append(Refusal(entry.path, "could not be read"))
            continue
        hashed.append(Hashed(path=entry.path, size=size, sha256=sha))
    refused.sort(key=lambda r: r.path)
    return hashed, refused


# --- scan targets: what `manage.py scan` and `modelgate scan` read ----------------------------------


@dataclass(frozen=True)
class Target:
    """One file to scan: the path as shown, where it really is, or why it is not read."""

    shown: Path
    real: Path | None
    size: int
    refused: str = ""


def collect_targets(paths: list[str]) -> list[Target]:
    """What `scan` (server CLI and standalone client) reads: every regular file under the given paths.

    Links leaving a folder (a cache snapshot may link into its repo's blobs/), FIFOs, sockets and devices
    are listed as refused, never opened. A file named on the command line is read even through a link.
    """
    out: list[Target] = []
    seen: set[str] = set()

    def add(item: Target) -> None:
        if str(item.shown) not in seen:
            seen.add(str(item.shown))
            out.append(item)

    for raw in paths:
        root = Path(raw)
        if root.is_dir():
            try:
                found = walk(root)
            except FileRefused as exc:
                add(Target(root, None, 0, exc.reason))
                continue
            items = [Target(root / e.path, e.real, e.size) for e in found.files]
            items += [Target(root / r.path, None, 0, r.reason) for r in found.refused]
            for item in sorted(items, key=lambda i: str(i.shown)):
                add(item)
            continue
        real = Path(os.path.realpath(root))
        try:
            st = real.stat()
        except OSError:
            add(Target(root, None, 0, "file not found"))
            continue
        if stat.S_ISREG(st.st_mode):
            add(Target(root, real, st.st_size))
        else:
            add(Target(root, None, 0, "not a regular file (FIFO, socket or device); not read"))
    return out
