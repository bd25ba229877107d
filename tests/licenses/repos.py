"""Realistic model repositories generated for the license tests (and the bench).

Each case is a folder with a README (YAML front matter + body) and license files, recorded as a
local-folder ModelVersion; texts come from the catalog copies in licenses/data/texts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from licenses.engine.catalog import DATA_DIR


def text(name: str) -> str:
    return (DATA_DIR / "texts" / f"{name}.txt").read_text(encoding="utf-8")


def mit(holder: str = "Acme Corp", year: str = "2024") -> str:
    return text("mit").replace("[year]", year).replace("[fullname]", holder)


def reflow(body: str, width: int = 60) -> str:
    """Re-wrap every paragraph at another width and use CRLF line endings."""
    out = []
    for para in body.split("\n\n"):
        words = para.split()
        line: list[str] = []
        for w in words:
            if sum(len(x) + 1 for x in line) + len(w) > width:
                out.append(" ".join(line))
                line = []
            line.append(w)
        out.append(" ".join(line))
        out.append("")
    return "\r\n".join(out)


def readme(card: dict[str, Any], body: str = "# Model\n\nA model.\n") -> str:
    return "---\n" + yaml.safe_dump(card, sort_keys=False) + "---\n\n" + body


def write_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    return root


def make_version(
    tmp_path: Path,
    repo_id: str,
    *,
    card: dict[str, Any] | None = None,
    body: str = "# Model\n\nA model.\n",
    files: dict[str, str] | None = None,
    bases: list[tuple[Any, str]] | None = None,
    tags: list[str] | None = None,
    pipeline_tag: str = "text-generation",
):
    """A local-folder version with its files on disk; `bases` = [(Model or repo id, relation)]."""
    from inventory.models import BaseModelLink, Model, ModelFile, ModelVersion

    card = card or {}
    folder = write_repo(tmp_path / repo_id.replace("/", "__"), {"README.md": readme(card, body), **(files or {})})
    model, _ = Model.objects.get_or_create(
        source="hub", repo_id=repo_id, defaults={"tags": tags or [], "pipeline_tag": pipeline_tag, "card_data": card}
    )
    Model.objects.filter(pk=model.pk).update(is_placeholder=False, tags=tags or [], pipeline_tag=pipeline_tag)
    model.refresh_from_db()
    commit = hashlib.sha256(f"{repo_id}-{sorted(files or {})}".encode()).hexdigest()[:40]
    version = ModelVersion.objects.create(
        model=model,
        commit=commit,
        card_data=card,
        card_markdown=(folder / "README.md").read_text(encoding="utf-8"),
        local_path=str(folder),
    )
    Model.objects.filter(pk=model.pk).update(latest_version=version)
    for path in ["README.md", *(files or {})]:
        data = (folder / path).read_bytes()
        ModelFile.objects.create(
            version=version, path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest(), is_lfs=False
        )
    for base, relation in bases or []:
        if isinstance(base, str):
            base, _ = Model.objects.get_or_create(source="hub", repo_id=base, defaults={"is_placeholder": True})
        BaseModelLink.objects.create(version=version, base=base, relation=relation)
    return version
