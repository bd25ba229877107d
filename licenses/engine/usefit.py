"""Use fit: judge effective obligations against one application's use profile.

`judge(...)` → (permitted, reasons). Reasons starting with "not permitted:" block; the others are
cautions that hold the application to an obligation (naming, notices, EU domicile).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MULTIMODAL_TAGS = {
    "image-text-to-text",
    "visual-question-answering",
    "image-to-text",
    "video-text-to-text",
    "any-to-any",
    "audio-text-to-text",
    "document-question-answering",
}
_AMOUNT = re.compile(r"^(\d+(?:\.\d+)?)([KMB])?", re.IGNORECASE)


def parse_amount(value: str) -> float:
    m = _AMOUNT.match(value)
    if not m:
        return float("inf")
    mult = {"k": 1e3, "m": 1e6, "b": 1e9}.get((m.group(2) or "").lower(), 1.0)
    return float(m.group(1)) * mult


def judge(
    *,
    effective: str,
    effective_ids: list[str],
    obligations: list[str],
    profile: dict[str, Any],
    revenue_upper_bound: Callable[[str], float] | None = None,
    pipeline_tag: str = "",
    sources: dict[str, list[str]] | None = None,
) -> tuple[bool, list[str]]:
    """`sources` maps an obligation term to the license ids imposing it (for the reasons)."""
    blocking: list[str] = []
    cautions: list[str] = []
    src = sources or {}

    def who(term: str) -> str:
        ids = src.get(term) or []
        return ", ".join(ids) if ids else effective

    commercial = bool(profile.get("commercial_use"))
    terms = set(obligations)
    if set(effective_ids) & {"unknown", "other"}:
        label = "unknown" if "unknown" in effective_ids else "custom (other)"
        blocking.append(f"not permitted: the license is {label} — a legal reviewer must conclude it first")
    if commercial and "non-commercial" in terms:
        blocking.append(f"not permitted: commercial use, but {who('non-commercial')} allows non-commercial use only")
    if commercial and "research-only" in terms:
        blocking.append(f"not permitted: commercial use, but {who('research-only')} allows research use only")
    if "non-production" in terms:
        if commercial:
            blocking.append(f"not permitted: {who('non-production')} allows testing/evaluation only, no production use")
        else:
            cautions.append(
                f"{who('non-production')} allows testing/evaluation only: keep this application out of production"
            )
    if commercial and "no-commercial-use-of-output" in terms:
        blocking.append(
            f"not permitted: commercial use, but the outputs of {who('no-commercial-use-of-output')} are non-commercial"
        )
    if profile.get("trains_on_outputs"):
        if "no-output-for-training-other-models" in terms:
            blocking.append(
                "not permitted: the application trains on outputs, which "
                f"{who('no-output-for-training-other-models')} forbids "
                "for other (competing) models"
            )
        if "naming-requirement" in terms or "display-attribution" in terms:
            cautions.append(
                f"training on outputs of {effective}: a model you distribute must carry the naming/attribution"
            )
    if profile.get("distributes_model"):
        if "no-redistribution" in terms:
            blocking.append(
                f"not permitted: the application distributes the model, which {who('no-redistribution')} forbids"
            )
        if "no-derivatives" in terms:
            cautions.append(f"{who('no-derivatives')}: only unmodified copies may be distributed")
        shipping = [t for t in ("license-copy", "attribution-notice", "notice-retention", "flow-down") if t in terms]
        if shipping:
            cautions.append(f"distributing the model requires: {', '.join(shipping)}")
    mau = int(profile.get("monthly_active_users") or 0)
    for term in sorted(terms):
        if term.startswith("user-threshold:"):
            limit = parse_amount(term.split(":", 1)[1])
            if mau > limit:
                blocking.append(
                    f"not permitted: {mau:,} monthly active users exceeds the {term.split(':', 1)[1]} threshold of "
                    f"{who(term)} — a separate license from the licensor is needed"
                )
        elif term.startswith("revenue-threshold:"):
            limit = parse_amount(term.split(":", 1)[1])
            band = str(profile.get("annual_revenue_band") or "")
            upper = revenue_upper_bound(band) if (revenue_upper_bound and band) else float("inf")
            if commercial and upper > limit:
                blocking.append(
                    f"not permitted: annual revenue band {band or 'unknown'} may exceed {term.split(':', 1)[1]} "
                    f"({who(term)} requires an enterprise license above it)"
                )
        elif term == "geo-restriction:EU-multimodal":
            multimodal = pipeline_tag in MULTIMODAL_TAGS or "llama4" in effective_ids
            if multimodal:
                cautions.append(
                    f"{who(term)}: no rights for companies with their principal place of business in the EU "
                    "(multimodal "
                    "model); EU end users of your product are exempt — confirm your organization's domicile"
                )
    if commercial and "registration-required" in terms and not any("revenue" in b for b in blocking):
        cautions.append(f"{who('registration-required')}: register with the licensor before commercial use")
    if "naming-requirement" in terms and profile.get("distributes_model"):
        cautions.append("a distributed derivative must carry the Llama name prefix")
    permitted = not blocking
    return permitted, blocking + cautions
