"""The attribution report per application (HTML page data and the NOTICE file)."""

from __future__ import annotations

from dataclasses import dataclass

from inventory.choices import ReviewStatus
from inventory.models import Application, ApplicationModel, ModelVersion
from licenses.models import (
    License,
)
from licenses.services.facts import _app_facts, use_fit_many


# --- attribution report --------------------------------------------------------------------------
@dataclass
class AttributionEntry:
    version: ModelVersion
    effective: str
    licenses: list[License]
    notices: list[str]
    displays: list[str]
    naming: list[str]
    obligations: list[str]
    permitted: bool
    reasons: list[str]


def attribution_report(application: Application) -> list[AttributionEntry]:
    usages = list(ApplicationModel.objects.filter(application=application).select_related("version__model"))
    vids = [u.version_id for u in usages]
    facts = _app_facts(application, vids)
    keys = {i for f in facts.values() for i in f["effective_ids"]}
    licenses = {lic.key: lic for lic in License.objects.filter(key__in=keys)}
    fits = use_fit_many([(vid, application) for vid in vids])
    entries = []
    for u in usages:
        f = facts[u.version_id]
        lics = [licenses[i] for i in f["effective_ids"] if i in licenses]
        notices, displays, naming = [], [], []
        for lic in lics:
            if lic.notice:
                notices.append(lic.notice)
            if lic.display_attribution:
                displays.append(lic.display_attribution)
            if lic.naming_prefix:
                naming.append(
                    f"A model you distribute that is built from {lic.key} must be named beginning with "
                    f"“{lic.naming_prefix}”."
                )
        permitted, reasons = fits[(u.version_id, application.pk)]
        entries.append(
            AttributionEntry(
                u.version, f["effective"], lics, notices, displays, naming, f["obligations"], permitted, reasons
            )
        )
    return entries


def in_notice(entry: AttributionEntry) -> bool:
    """Only approved versions are shipped, so only they are in the NOTICE."""
    return entry.version.review_status == ReviewStatus.APPROVED


def notice_text(application: Application, entries: list[AttributionEntry]) -> str:
    """The downloadable NOTICE file: per approved model, its license, the prescribed sentences, then full texts."""
    out = [f"NOTICE — third-party AI models used by {application.name}", "=" * 72, ""]
    texts: dict[str, License] = {}
    approved = [e for e in entries if in_notice(e)]
    if not approved:
        out += ["No approved model version is in use yet.", ""]
    for e in approved:
        out.append(f"{e.version.model.repo_id} @ {e.version.commit}")
        out.append(f"  License: {e.effective}")
        for n in e.notices:
            out.append(f"  {n}")
        for d in e.displays:
            out.append(f"  Display: {d}")
        for n in e.naming:
            out.append(f"  {n}")
        out.append("")
        for lic in e.licenses:
            texts.setdefault(lic.key, lic)
    for lic in texts.values():
        out += ["", "-" * 72, f"{lic.name} ({lic.key})", "-" * 72, ""]
        out.append(lic.text.strip() if lic.text.strip() else "(full text not available in the catalog)")
    return "\n".join(out) + "\n"
