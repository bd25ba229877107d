"""License attribution use cases.

Read API for other apps (stable; the policy engine and `import_model --wait` depend on it)
-------------------------------------------------------------------------------------------
``license_facts(version_ids) -> dict[int, dict]`` — bulk, constant number of queries (4) whatever the
number of versions. Per version id:

    {
      "analysed": bool,            # a finished LicenseAnalysis exists
      "state": "queued|running|done|failed|missing",
      "declared": "apache-2.0" | None,        # canonical expression from card metadata
      "declared_ids": ["apache-2.0"],
      "declared_name": str | None,            # license_name when declared is other
      "observed_ids": ["llama2", ...],        # licenses found in files/README/gated prompt (an AUP counts
                                              # as the license it belongs to: llama2-aup → llama2)
      "observed_text_ids": ["llama2"],        # only licenses whose (full or partial) text is shipped
      "observed": [{"path", "license", "match", "score"}],
      "inherited_ids": ["llama3"],
      "effective": "mit AND llama3",          # after an installation-wide reviewer conclusion
      "effective_ids": ["mit", "llama3"],
      "detected_effective": "mit AND llama3", # before any conclusion
      "threat_groups": ["permissive", "ai-restricted"],
      "threat_group": "ai-restricted",        # the most restrictive one
      "obligations": ["no-output-for-training-other-models", ...],  # vocabulary terms
      "conflict": bool, "conflicts": [str],
      "unknown": bool, "other": bool, "weak": bool,   # unknown license / custom terms / references only
      "review_status": "open|acknowledged|selected|overridden|confirmed",
      "concluded": bool,                      # a deciding conclusion replaced the detected license
    }

Versions never analysed come back with state "missing", effective "unknown", unknown True.

``use_fit(version, application) -> (permitted: bool, reasons: list[str])`` and the bulk form
``use_fit_many([(version_id, application), ...]) -> {(version_id, application_id): (bool, reasons)}``
judge the effective obligations (after the most specific conclusion: application > organization
chain > installation) against ``application.use_profile()``. Reasons beginning "not permitted:"
are the blocking ones; the rest are cautions.

``license_summary(version) -> dict`` — the `licenses REPO_ID --json` object (DESIGN.md contract),
analysing synchronously when no finished analysis exists; an installation-wide deciding conclusion
replaces `effective` and `obligations`.

Modules: catalog (the engine's catalog, catalog edits), analysis (one version, the queue), facts (this
read API), decisions (conclusions, obligation checklist), carry (conclusions carried forward to a new
revision with unchanged evidence, and their revocation), reports (attribution report, NOTICE).
Use cases (keyword-only, atomic, audited): analyse_version, conclude_license, set_obligation_status,
save_license, save_obligation, save_license_obligation, reanalyse_all_versions.
"""

from licenses.services.analysis import (
    FileTexts,
    analyse_version,
    analyse_version_step,
    enqueue_analysis,
    license_summary,
    read_version_files,
    reanalyse_all_versions,
    refresh_use_fit,
    review_queue,
)
from licenses.services.carry import current_conclusion
from licenses.services.catalog import (
    catalog_stamp,
    engine_catalog,
    save_license,
    save_license_obligation,
    save_obligation,
    seed_catalog_if_empty,
)
from licenses.services.decisions import (
    CarryForwardError,
    ChecklistRow,
    ConclusionError,
    conclude_license,
    obligation_checklist,
    revoke_carried_conclusion,
    set_obligation_status,
)
from licenses.services.facts import license_facts, use_fit, use_fit_many
from licenses.services.reports import AttributionEntry, attribution_report, notice_text

__all__ = [
    "AttributionEntry",
    "CarryForwardError",
    "ChecklistRow",
    "ConclusionError",
    "FileTexts",
    "analyse_version",
    "analyse_version_step",
    "attribution_report",
    "catalog_stamp",
    "conclude_license",
    "current_conclusion",
    "engine_catalog",
    "enqueue_analysis",
    "license_facts",
    "license_summary",
    "notice_text",
    "obligation_checklist",
    "read_version_files",
    "reanalyse_all_versions",
    "refresh_use_fit",
    "review_queue",
    "revoke_carried_conclusion",
    "save_license",
    "save_license_obligation",
    "save_obligation",
    "seed_catalog_if_empty",
    "set_obligation_status",
    "use_fit",
    "use_fit_many",
]
