"""Template context shared by every page: the navigation the user's role allows."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from core.permissions import has_perm
from inventory.choices import NO_APPLICATION

WORK = "work"  # not a permission: shown when the user has at least one "my work" section

# (label, url name, permission). Entries whose URL is not installed are skipped.
NAV: list[tuple[str, str, str]] = [
    ("My work", "governance:work", WORK),
    ("Overview", "governance:overview", "governance.view_overview"),
    ("Inventory", "inventory:model_list", "inventory.view_model"),
    ("Imports", "inventory:importjob_list", "inventory.view_importjob"),
    ("Scans", "scanning:scanrun_list", "scanning.view_scanrun"),
    ("Legal queue", "licenses:queue", "licenses.view_licenseanalysis"),
    ("Violations", "policies:violation_list", "policies.view_violation"),
    ("Waivers", "policies:waiver_list", "policies.view_waiver"),
    ("Policies", "policies:policy_list", "policies.view_policy"),
    ("Licenses", "licenses:license_list", "licenses.view_license"),
    ("Applications", "inventory:application_list", "inventory.view_application"),
    ("Datasets", "inventory:dataset_list", "inventory.view_dataset"),
    ("Audit log", "governance:audit_list", "core.view_auditevent"),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": [], "NO_APPLICATION": NO_APPLICATION}
    items: list[dict[str, Any]] = []
    for label, name, perm in NAV:
        if perm == WORK:
            if not _has_work(user):
                continue
        elif not has_perm(user, perm):
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": False})
    # The entry whose URL is the longest prefix of this page is the current one (/policies/violations/ is
    # "Violations", not also "Policies").
    matches = [i for i in items if request.path == i["url"] or (i["url"] != "/" and request.path.startswith(i["url"]))]
    if matches:
        max(matches, key=lambda i: len(i["url"]))["active"] = True
    return {"nav": items, "NO_APPLICATION": NO_APPLICATION}


def _has_work(user: Any) -> bool:
    """Whether any permission gives the user a "my work" section (mirrors governance.work.sections_for)."""
    return any(has_perm(user, p) for p in WORK_PERMISSIONS)


WORK_PERMISSIONS = (
    "licenses.conclude_license",
    "policies.decide_legal_waiver",
    "policies.decide_security_waiver",
    "policies.request_waiver",
    "inventory.import_model",
    "policies.approve_version",
)
