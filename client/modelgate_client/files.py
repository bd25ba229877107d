"""The local files a pipeline is about to use: a walk of a folder with each file's sha256.

The same walk as the server's gate (`policies.services.hash_directory`): symlinks followed (a Hugging
Face cache snapshot is made of them), `.git`, `.cache` (a `local_dir` download's metadata) and
`__pycache__` skipped, paths relative to the folder with `/` separators, sorted.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

SKIP_DIRS = {".git", ".cache", "__pycache__"}
BLOCK = 1024 * 1024


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_directory(directory: str | os.PathLike[str]) -> list[dict[str, str]]:
    root = Path(directory)
    if not root.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            out.append({"path": full.relative_to(root).as_posix(), "sha256": sha256_file(full)})
    return out
