"""What changed between two revisions of a model: files here; findings, licenses and violations from the
apps above, which register a section builder in their AppConfig.ready() (imports point down).

A section builder is `build(user, old, new) -> DiffSection | None` (None: the user may not see it). Rows
carry a `change` — "added", "removed", "changed" (files, licenses), "new", "gone" (findings), "new",
"resolved", "still open" (violations) — and the before/after values as text (untrusted: escaped by
the template).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from core.permissions import has_perm
from inventory.models import Model, ModelFile, ModelVersion

MIN_REV_CHARS = 4


@dataclass
class DiffRow:
    label: str
    change: str
    before: str = ""
    after: str = ""
    url: str = ""


@dataclass
class DiffSection:
    key: str
    title: str
    rows: list[DiffRow] = field(default_factory=list)
    unchanged: int = 0
    note: str = ""

    def count(self, change: str) -> int:
        return sum(1 for r in self.rows if r.change == change)

    @property
    def summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.change] = out.get(r.change, 0) + 1
        return out


Builder = Callable[[Any, ModelVersion, ModelVersion], DiffSection | None]
_SECTIONS: dict[str, tuple[int, Builder]] = {}


def register_diff_section(name: str, *, order: int, build: Builder) -> None:
    _SECTIONS[name] = (order, build)


class RevisionError(ValueError):
    pass


def resolve_revision(model: Model, versions: Any, rev: str, *, label: str) -> ModelVersion:
    """The version of `model` whose commit starts with `rev` (at least 4 hex characters, unambiguous)."""
    rev = (rev or "").strip().lower()
    if len(rev) < MIN_REV_CHARS or any(c not in "0123456789abcdef" for c in rev):
        raise RevisionError(f"“{label}” must be a commit of {model.repo_id} (at least {MIN_REV_CHARS} hex digits).")
    matches = list(versions.filter(model=model, commit__startswith=rev)[:2])
    if not matches:
        raise RevisionError(f"{model.repo_id} has no imported revision {rev} (“{label}”).")
    if len(matches) > 1:
        raise RevisionError(f"“{label}”: {rev} matches more than one revision; give more digits.")
    return matches[0]


def previous_version(version: ModelVersion, versions: Any) -> ModelVersion | None:
    """The revision of the same model imported just before this one."""
    return (  # type: ignore[no-any-return]
        versions.filter(model_id=version.model_id)
        .filter(Q(imported_at__lt=version.imported_at) | Q(imported_at=version.imported_at, id__lt=version.pk))
        .order_by("-imported_at", "-id")
        .first()
    )


def _file_key(f: ModelFile) -> str:
    return f.sha256 or (f"git:{f.blob_id}" if f.blob_id else "")


def file_diff(user: Any, old: ModelVersion, new: ModelVersion) -> DiffSection | None:
    """Files added, removed, changed (by sha256; the git blob id when no sha256 is known)."""
    if not has_perm(user, "inventory.view_modelfile"):
        return None
    before = {f.path: f for f in ModelFile.objects.filter(version=old)}
    after = {f.path: f for f in ModelFile.objects.filter(version=new)}
    section = DiffSection("files", "Files")
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path), after.get(path)
        if a is None and b is not None:
            section.rows.append(DiffRow(path, "added", after=f"{b.size} B · {_file_key(b)[:16]}"))
        elif b is None and a is not None:
            section.rows.append(DiffRow(path, "removed", before=f"{a.size} B · {_file_key(a)[:16]}"))
        elif a is not None and b is not None:
            if _file_key(a) != _file_key(b) or (not _file_key(a) and a.size != b.size):
                section.rows.append(
                    DiffRow(path, "changed", f"{a.size} B · {_file_key(a)[:16]}", f"{b.size} B · {_file_key(b)[:16]}")
                )
            else:
                section.unchanged += 1
    return section


register_diff_section("files", order=0, build=file_diff)


def version_diff(user: Any, old: ModelVersion, new: ModelVersion) -> list[DiffSection]:
    """Every section the user may see, in order."""
    sections = []
    for _name, (_order, build) in sorted(_SECTIONS.items(), key=lambda kv: kv[1][0]):
        section = build(user, old, new)
        if section is not None:
            sections.append(section)
    return sections
