"""The fact catalog: every fact a condition may test, with its type and allowed values.

Providers (policies/facts.py) fill these facts; the authoring page uses the catalog to offer the
operators of a fact's type and a value editor that fits (a select for enums, a number, a list).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FactType(StrEnum):
    ENUM = "enum"  # one string out of `choices`
    STRING = "string"  # free text (names, card text)
    SET = "set"  # a list of strings (optionally out of `choices`)
    BOOL = "bool"
    NUMBER = "number"
    DATETIME = "datetime"  # an aware datetime; compared in days with older_than / within


OPERATORS_BY_TYPE: dict[FactType, list[str]] = {
    FactType.ENUM: ["is", "is_not", "in", "not_in", "exists", "missing"],
    FactType.STRING: [
        "is",
        "is_not",
        "in",
        "not_in",
        "matches",
        "matches_regex",
        "contains_any",
        "contains_none",
        "exists",
        "missing",
    ],
    FactType.SET: ["contains_any", "contains_all", "contains_none", "matches", "exists", "missing"],
    FactType.BOOL: ["is", "is_not", "exists", "missing"],
    FactType.NUMBER: ["gt", "gte", "lt", "lte", "is", "is_not", "exists", "missing"],
    FactType.DATETIME: ["older_than", "within", "exists", "missing"],
}

# Operators whose value is a list of strings / a number / nothing.
LIST_OPERATORS = {"in", "not_in", "contains_any", "contains_all", "contains_none"}
NUMBER_OPERATORS = {"gt", "gte", "lt", "lte", "older_than", "within"}
UNARY_OPERATORS = {"exists", "missing"}


@dataclass(frozen=True)
class FactSpec:
    name: str
    type: FactType
    category: str  # security / legal / quality / other
    label: str
    help: str = ""
    choices: tuple[str, ...] = field(default_factory=tuple)
    per_application: bool = False  # depends on the application's use profile


def _f(
    name: str,
    type_: FactType,
    category: str,
    label: str,
    help_: str = "",
    choices: tuple[str, ...] = (),
    per_application: bool = False,
) -> FactSpec:
    return FactSpec(name, type_, category, label, help_, choices, per_application)


SCAN_STATES = ("missing", "queued", "running", "succeeded", "failed", "outdated")
VERDICTS = ("safe", "suspicious", "malicious", "unscannable")
FINDING_CATEGORIES = (
    "code-execution",
    "process",
    "network",
    "filesystem",
    "obfuscation",
    "format-abuse",
    "remote-code",
    "unscannable",
)
SEVERITIES = ("critical", "high", "medium", "low", "info")
RELATIONS = ("finetune", "adapter", "quantized", "merge", "unknown")
DATASET_FLAGS = ("nsfw", "bias", "pii", "license", "denylisted")
LICENSE_STATES = ("known", "missing", "other", "unknown")
REVIEW_STATUSES = ("pending", "in_review", "approved", "rejected")
LEGAL_REVIEW_STATUSES = ("missing", "pending", "needs_review", "concluded")

_FACTS: list[FactSpec] = [
    # --- security (scanning) ---
    _f(
        "scan.state",
        FactType.ENUM,
        "security",
        "Scan state",
        "missing when no scan ran; outdated when scanned with older rules. Fail closed on anything but succeeded.",
        SCAN_STATES,
    ),
    _f("scan.verdict", FactType.ENUM, "security", "Scan verdict", "Verdict of the latest finished scan.", VERDICTS),
    _f(
        "scan.categories",
        FactType.SET,
        "security",
        "Finding categories",
        "Categories of the latest scan's findings.",
        FINDING_CATEGORIES,
    ),
    _f("scan.rules", FactType.SET, "security", "Finding rules", "Rule ids (or imported global names) that matched."),
    _f(
        "scan.evidence",
        FactType.SET,
        "security",
        "Finding evidence",
        "Reconstructed calls / imported globals, e.g. matches *os.system* or *builtins.exec*.",
    ),
    _f("scan.severities", FactType.SET, "security", "Finding severities", "", SEVERITIES),
    _f("scan.finding_count", FactType.NUMBER, "security", "Number of findings"),
    _f(
        "security.trust_remote_code",
        FactType.BOOL,
        "security",
        "Needs trust_remote_code",
        "Custom code in the repo (tag custom_code, auto_map in config, or a remote-code finding).",
    ),
    _f(
        "files.formats",
        FactType.SET,
        "security",
        "File formats",
        "Formats of the version's files (detected by content when scanned).",
    ),
    _f("files.extensions", FactType.SET, "security", "File extensions", "e.g. .bin, .pt, .pkl, .safetensors"),
    _f(
        "revision.pinned",
        FactType.BOOL,
        "security",
        "Revision pinned",
        "The import asked for the 40-hex commit itself (not a branch or tag). Most imports ask for a branch: "
        "this says how the version was fetched, not whether anyone depends on a moving branch.",
    ),
    _f(
        "usage.follows_branch",
        FactType.BOOL,
        "security",
        "Application follows a branch",
        "The application took this version by importing a branch or tag (e.g. main), not by pinning its commit "
        "(only in an application's context).",
        per_application=True,
    ),
    _f(
        "files.changed_since_approval",
        FactType.BOOL,
        "security",
        "Files changed since approval",
        "Recorded file hashes differ from the hashes pinned by the approval.",
    ),
    # --- legal (licenses) ---
    _f("license.declared", FactType.STRING, "legal", "Declared license", "Canonical id from the card metadata."),
    _f("license.declared_ids", FactType.SET, "legal", "Declared license ids"),
    _f("license.observed_ids", FactType.SET, "legal", "Observed license ids", "Licenses found in the repo's files."),
    _f("license.effective_ids", FactType.SET, "legal", "Effective license ids"),
    _f(
        "license.threat_groups",
        FactType.SET,
        "legal",
        "License threat groups",
        "e.g. non-commercial, copyleft, ai-restrictive, proprietary, permissive, unknown",
    ),
    _f(
        "license.state",
        FactType.ENUM,
        "legal",
        "License state",
        "missing (none declared or observed), other (declared as other), unknown (not recognised).",
        LICENSE_STATES,
    ),
    _f("license.declared_differs_observed", FactType.BOOL, "legal", "Declared ≠ observed"),
    _f("license.conflict", FactType.BOOL, "legal", "License conflict"),
    _f(
        "license.obligations",
        FactType.SET,
        "legal",
        "Obligations",
        "Obligation vocabulary terms of the effective license(s), e.g. no-training-on-output, non-commercial.",
    ),
    _f(
        "license.use_permitted",
        FactType.BOOL,
        "legal",
        "Use permitted for the application",
        "Judged against the application's use profile (only in an application's context).",
        per_application=True,
    ),
    _f("license.review_status", FactType.ENUM, "legal", "Legal review status", "", LEGAL_REVIEW_STATUSES),
    _f("application.commercial_use", FactType.BOOL, "legal", "Application is commercial", per_application=True),
    _f(
        "application.trains_on_outputs",
        FactType.BOOL,
        "legal",
        "Application trains on model outputs",
        per_application=True,
    ),
    _f(
        "application.distributes_model",
        FactType.BOOL,
        "legal",
        "Application distributes the weights",
        per_application=True,
    ),
    # --- quality (inventory) ---
    _f("lineage.is_derivative", FactType.BOOL, "quality", "Is a derivative", "Has at least one base model."),
    _f("lineage.relations", FactType.SET, "quality", "Relations to base models", "", RELATIONS),
    _f("lineage.bases", FactType.SET, "quality", "Base models", "repo ids of the direct base models."),
    _f(
        "lineage.foundations",
        FactType.SET,
        "quality",
        "Foundation models",
        "repo ids at the root of the lineage (the version's own model when foundational).",
    ),
    _f("lineage.depth", FactType.NUMBER, "quality", "Lineage depth", "0 for a foundation model."),
    _f("model.repo_id", FactType.STRING, "quality", "Repository id"),
    _f("model.author", FactType.STRING, "quality", "Publisher / author"),
    _f("model.tags", FactType.SET, "quality", "Tags"),
    _f("model.pipeline_tag", FactType.STRING, "quality", "Pipeline tag"),
    _f("model.downloads", FactType.NUMBER, "quality", "Downloads"),
    _f("model.likes", FactType.NUMBER, "quality", "Likes"),
    _f("model.created_at", FactType.DATETIME, "quality", "Created on the Hub"),
    _f("model.last_modified", FactType.DATETIME, "quality", "Last modified on the Hub"),
    _f("datasets.count", FactType.NUMBER, "quality", "Number of datasets declared"),
    _f("datasets.ids", FactType.SET, "quality", "Datasets"),
    _f("datasets.flags", FactType.SET, "quality", "Dataset flags", "", DATASET_FLAGS),
    _f("content.not_for_all_audiences", FactType.BOOL, "quality", "Flagged not-for-all-audiences"),
    _f(
        "content.text",
        FactType.STRING,
        "quality",
        "Name and card text",
        "For banned terms: contains any of / matches (regex).",
    ),
    _f("card.completeness", FactType.NUMBER, "quality", "Card completeness (%)"),
    _f("review.status", FactType.ENUM, "other", "Review status of the version", "", REVIEW_STATUSES),
]

CATALOG: dict[str, FactSpec] = {spec.name: spec for spec in _FACTS}


def fact_spec(name: str) -> FactSpec | None:
    return CATALOG.get(name)


def operators_for(name: str) -> list[str]:
    spec = CATALOG.get(name)
    return list(OPERATORS_BY_TYPE[spec.type]) if spec else []


CATEGORY_ORDER = ("security", "legal", "quality", "other")


def derive_category(fact_names: list[str] | set[str]) -> str:
    """security > legal > quality > other, from the facts a policy's conditions look at."""
    present = {CATALOG[n].category for n in fact_names if n in CATALOG}
    for category in CATEGORY_ORDER:
        if category in present:
            return category
    return "other"
