"""Pure helpers for model cards (README.md): front matter, base models, datasets.

No Django, no network. Never raises on bad input: malformed YAML yields an empty dict plus an error string.

Base-model relation rules (documented choice, close to what the Hub itself infers):

1. The card's ``base_model_relation`` (one of :data:`RELATIONS`) applies to every base model the card lists.
2. Otherwise a ``base_model:<relation>:<id>`` tag gives the relation of that id.
3. Otherwise, for bases listed in the card: ``adapter`` if the repo has an ``adapter_config.json``,
   ``quantized`` if it ships ``.gguf`` files, ``merge`` if the card lists several bases, else ``finetune``.
4. A base known only from a plain ``base_model:<id>`` tag keeps :data:`UNKNOWN`.

Order: card bases first (card order), then tag-only bases (tag order); duplicates are merged
case-insensitively, keeping the first spelling.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import yaml

MAX_CARD_BYTES = 1_000_000  # larger READMEs are cut before parsing
MAX_FRONT_MATTER_BYTES = 256 * 1024  # a YAML header beyond this is refused (billion-laughs & co.)

FINETUNE = "finetune"
ADAPTER = "adapter"
QUANTIZED = "quantized"
MERGE = "merge"
UNKNOWN = "unknown"
RELATIONS = (FINETUNE, ADAPTER, QUANTIZED, MERGE)

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_MAX_ID = 200
_FENCE = re.compile(r"^---[ \t]*\r?\n(.*?)(?:\r?\n)?^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)


class FrontMatter(NamedTuple):
    """``data`` (YAML mapping, {} if absent/invalid), ``body`` (Markdown), ``error`` ("" if fine)."""

    data: dict[str, Any]
    body: str
    error: str


class BaseModel(NamedTuple):
    repo_id: str
    relation: str  # one of RELATIONS or UNKNOWN


def split_front_matter(text: str | bytes, *, max_bytes: int = MAX_CARD_BYTES) -> FrontMatter:
    """Split a README into its YAML front matter (``---`` fenced, at the very top) and Markdown body.

    ``yaml.safe_load`` only; a front matter that is not a mapping, is too large or does not parse gives
    ``{}`` and a human-readable ``error`` (the body is still returned). Input beyond ``max_bytes`` is cut.
    """
    if isinstance(text, bytes):
        text = text[:max_bytes].decode("utf-8", "replace")
    elif len(text) > max_bytes:
        text = text[:max_bytes]
    text = text.removeprefix("\ufeff")
    if not text.startswith("---"):
        return FrontMatter({}, text, "")
    match = _FENCE.match(text)
    if match is None:
        return FrontMatter({}, text, "front matter is not closed by a '---' line")
    raw, body = match.group(1), text[match.end() :]
    if len(raw.encode("utf-8", "replace")) > MAX_FRONT_MATTER_BYTES:
        return FrontMatter({}, body, f"front matter larger than {MAX_FRONT_MATTER_BYTES} bytes")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        return FrontMatter({}, body, f"invalid YAML front matter{where}: {problem}")
    except (RecursionError, ValueError, TypeError) as exc:  # pathological nesting, bad timestamps…
        return FrontMatter({}, body, f"invalid YAML front matter: {type(exc).__name__}")
    if data is None:
        return FrontMatter({}, body, "")
    if not isinstance(data, dict):
        return FrontMatter({}, body, f"front matter is a {type(data).__name__}, not a mapping")
    return FrontMatter({str(k): v for k, v in data.items()}, body, "")


def _strings(value: Any) -> list[str]:
    """A str or a list of str (other entries ignored), stripped, empty ones dropped."""
    items = [value] if isinstance(value, str) else value if isinstance(value, list | tuple) else []
    return [s.strip() for s in items if isinstance(s, str) and s.strip()]


def _valid_id(value: str) -> bool:
    return len(value) <= _MAX_ID and bool(_REPO_ID.match(value))


def _dedup(ids: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for i in ids:
        seen.setdefault(i.lower(), i)
    return list(seen.values())


def extract_base_models(
    card_data: Mapping[str, Any] | None,
    tags: Iterable[str] = (),
    *,
    files: Iterable[str] = (),
) -> list[BaseModel]:
    """Base models with their relation, from the card (``base_model``, ``base_model_relation``) and Hub tags.

    ``files`` (repo paths) only refines the default relation (adapter / quantized); see the module docstring.
    """
    card = card_data or {}
    card_bases = [b for b in _strings(card.get("base_model")) if _valid_id(b)]
    declared = card.get("base_model_relation")
    declared = declared.strip().lower() if isinstance(declared, str) else ""
    declared = declared if declared in RELATIONS else ""

    tag_relation: dict[str, str] = {}
    tag_bases: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.startswith("base_model:"):
            continue
        rest = tag[len("base_model:") :]
        relation, sep, repo = rest.partition(":")
        if sep and relation in RELATIONS:
            if _valid_id(repo):
                tag_relation.setdefault(repo.lower(), relation)
                tag_bases.append(repo)
        elif _valid_id(rest):
            tag_bases.append(rest)

    names = [f.rsplit("/", 1)[-1].lower() for f in files]
    if "adapter_config.json" in names:
        default = ADAPTER
    elif any(n.endswith(".gguf") for n in names):
        default = QUANTIZED
    elif len(_dedup(card_bases)) > 1:
        default = MERGE
    else:
        default = FINETUNE

    out: list[BaseModel] = []
    for repo in _dedup(card_bases):
        out.append(BaseModel(repo, declared or tag_relation.get(repo.lower()) or default))
    known = {b.repo_id.lower() for b in out}
    for repo in _dedup(tag_bases):
        if repo.lower() not in known:
            out.append(BaseModel(repo, tag_relation.get(repo.lower(), UNKNOWN)))
            known.add(repo.lower())
    return out


def extract_datasets(card_data: Mapping[str, Any] | None, tags: Iterable[str] = ()) -> list[str]:
    """Training datasets from the card's ``datasets`` (str or list) and ``dataset:<id>`` tags, deduplicated."""
    card = card_data or {}
    ids = [d for d in _strings(card.get("datasets")) if _valid_id(d)]
    for tag in tags:
        if isinstance(tag, str) and tag.startswith("dataset:"):
            ds = tag[len("dataset:") :].strip()
            if _valid_id(ds):
                ids.append(ds)
    return _dedup(ids)
