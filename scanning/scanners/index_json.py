"""Sharded-checkpoint index files: ``model.safetensors.index.json``, ``pytorch_model.bin.index.json``.

``transformers`` (``load_sharded_checkpoint``, ``_get_resolved_checkpoint_files``) joins every value
of ``weight_map`` to the model folder and opens it (or downloads it from the same repo). A value that
is absolute, climbs with ``..``, names a URL or carries a NUL byte makes the loader read a file
outside the repo (a host file, or an unscanned pickle someone placed elsewhere) or fetch one.

Rules:

* ``weights_index.escape`` (malicious, filesystem) - a ``weight_map`` value outside the repo.
* ``weights_index.unscanned_format`` (suspicious, code-execution) - a ``model.safetensors.index.json``
  whose shards are not ``.safetensors`` (a "safe" index that makes the loader unpickle).
* ``weights_index.invalid`` (unscannable) - not JSON / no ``weight_map`` object.
"""

from __future__ import annotations

import re
from typing import Any

from .base import Category, Reader, ScanContext, Severity, Verdict
from .fmtcommon import FormatError, basename, read_bounded, short, strict_json

FORMAT = "json"
_ESCAPE = re.compile(r"(^[/\\~])|(^[A-Za-z]:)|((^|[/\\])\.\.([/\\]|$))|(^[A-Za-z][A-Za-z0-9+.-]*:)|\x00")
MAX_REPORTED = 20


def is_index_name(name: str) -> bool:
    return name.replace("\\", "/").rsplit("/", 1)[-1].lower().endswith(".index.json")


def escapes(value: str) -> bool:
    return bool(_ESCAPE.search(value))


def scan(reader: Reader, ctx: ScanContext) -> None:
    """Check a ``*.index.json`` weight map; see the module docstring for the rules."""
    try:
        doc: Any = strict_json(read_bounded(reader, ctx, what="weights index"))
    except FormatError as exc:
        ctx.unscannable("weights_index.invalid", "weights index is not valid JSON", str(exc))
        return
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict):
        ctx.unscannable("weights_index.invalid", "weights index has no weight_map object", short(doc, 80))
        return
    reported = 0
    others: set[str] = set()
    for tensor, target in weight_map.items():
        ctx.check_time()
        if not isinstance(target, str):
            ctx.unscannable("weights_index.invalid", "weight_map value is not a file name", short(target, 80))
            return
        if escapes(target):
            reported += 1
            if reported <= MAX_REPORTED:
                ctx.add(
                    "weights_index.escape",
                    Category.FILESYSTEM,
                    Severity.CRITICAL,
                    Verdict.MALICIOUS,
                    "weight_map points outside the repository (loader opens or fetches that file)",
                    f"{short(tensor, 80)} -> {short(target, 200)}",
                )
        elif not target.lower().endswith(".safetensors"):
            others.add(target)
    if others and basename(ctx).lower().endswith(".safetensors.index.json"):
        ctx.add(
            "weights_index.unscanned_format",
            Category.CODE_EXECUTION,
            Severity.HIGH,
            Verdict.SUSPICIOUS,
            "a safetensors index maps tensors to non-safetensors shards (loaded with pickle)",
            ", ".join(short(x, 80) for x in sorted(others)[:5]),
        )
