"""Roles as Django groups. The permission lists are the single source of truth.

A permission that does not exist yet (an app not migrated) is skipped, and picked up by the next
`migrate`, which re-syncs every role.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

ADMINISTRATOR = "administrator"
ARCHITECT = "architect"
LEGAL_REVIEWER = "legal reviewer"
SECURITY_REVIEWER = "security reviewer"
MANAGER = "manager"

_READ = [
    "governance.view_overview",
    "inventory.view_organization",
    "inventory.view_application",
    "inventory.view_model",
    "inventory.view_modelversion",
    "inventory.view_modelfile",
    "inventory.view_dataset",
    "inventory.view_importjob",
    "inventory.view_watch",
    "inventory.view_applicationmodel",
    "scanning.view_scanrun",
    "scanning.view_finding",
    "licenses.view_license",
    "licenses.view_obligation",
    "licenses.view_licenseconclusion",
    "licenses.view_licenseanalysis",
    "policies.view_policy",
    "policies.view_violation",
    "policies.view_waiver",
    "policies.view_approval",
    "policies.use_gate",
    "policies.view_triageitem",
    "policies.view_triagecomment",
]

_REVIEWER = [
    "inventory.import_model",
    "inventory.add_watch",
    "inventory.change_watch",
    "inventory.delete_watch",
    "scanning.run_scan",
    "policies.request_waiver",
    "policies.approve_version",
    "policies.assign_triage",
    "policies.dismiss_triage",
    "policies.add_triagecomment",
    "core.view_auditevent",
]

ROLES: dict[str, list[str]] = {
    # Administrators are also given every permission in the database by sync_roles.
    ADMINISTRATOR: ["*"],
    ARCHITECT: [
        *_READ,
        *_REVIEWER,
        "policies.add_policy",
        "policies.change_policy",
        "policies.delete_policy",
        "inventory.add_application",
        "inventory.change_application",
        "inventory.add_organization",
        "inventory.change_organization",
        "inventory.add_applicationmodel",
        "inventory.delete_applicationmodel",
        "identity.view_citoken",
        "identity.add_citoken",
        "identity.revoke_citoken",
    ],
    LEGAL_REVIEWER: [
        *_READ,
        *_REVIEWER,
        "licenses.add_license",
        "licenses.change_license",
        "licenses.add_obligation",
        "licenses.change_obligation",
        "licenses.conclude_license",
        "licenses.change_obligationstatus",
        "policies.decide_legal_waiver",
        "inventory.change_dataset",
    ],
    SECURITY_REVIEWER: [
        *_READ,
        *_REVIEWER,
        "policies.decide_security_waiver",
        "inventory.change_dataset",
    ],
    # Managers are auditors of the process: they read everything, the audit log included.
    MANAGER: [*_READ, "core.view_auditevent"],
}


# Roles that can be held inside one organization (identity.Membership). Administering the platform
# (users, roles, the catalog of every organization) stays a global role.
ORGANIZATION_ROLES = (ARCHITECT, LEGAL_REVIEWER, SECURITY_REVIEWER, MANAGER)


def sync_roles(sender: Any = None, **kwargs: Any) -> None:
    """Create the role groups and set their permissions exactly to ROLES."""
    from django.contrib.auth.models import Group, Permission

    perms = Permission.objects.select_related("content_type")
    all_perms = {f"{p.content_type.app_label}.{p.codename}": p for p in perms}
    for role, names in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = list(all_perms.values()) if names == ["*"] else [all_perms[n] for n in names if n in all_perms]
        group.permissions.set(wanted)
    sync_staff()


def sync_staff(user_ids: Iterable[Any] | None = None) -> None:
    """`is_staff` (entry to /admin/) follows the administrator role; superusers keep it regardless."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.all()
    if user_ids is not None:
        users = users.filter(pk__in=list(user_ids))
    users.filter(groups__name=ADMINISTRATOR, is_staff=False).update(is_staff=True)
    users.filter(is_staff=True, is_superuser=False).exclude(groups__name=ADMINISTRATOR).update(is_staff=False)


def on_groups_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    """m2m_changed of User.groups (from either side): re-derive `is_staff` of the users concerned."""
    from django.contrib.auth import get_user_model

    if action not in ("post_add", "post_remove", "post_clear"):
        return
    user_model = get_user_model()
    if isinstance(instance, user_model):
        sync_staff([instance.pk])
        instance.is_staff = user_model.objects.filter(pk=instance.pk, is_staff=True).exists()
    elif action == "post_clear":
        sync_staff()
    else:
        sync_staff(pk_set or [])
