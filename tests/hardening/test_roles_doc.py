"""Issue 11, item 4: the README's role table and `core.roles.ROLES` say the same; is_staff follows the role."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from core import roles
from tests.factories import UserFactory

README = Path(__file__).resolve().parents[2] / "README.md"

# Each phrase of the table's "can" column, and the permissions it stands for.
PHRASES: dict[str, list[str]] = {
    "read everything": [p for p in roles._READ if p != "policies.use_gate"],  # views and the overview
    "use the gate": ["policies.use_gate"],
    "author policies": ["policies.add_policy", "policies.change_policy", "policies.delete_policy"],
    "manage organizations and applications": [
        "inventory.add_application",
        "inventory.change_application",
        "inventory.add_organization",
        "inventory.change_organization",
        "inventory.add_applicationmodel",
        "inventory.delete_applicationmodel",
    ],
    "manage CI tokens": ["identity.view_citoken", "identity.add_citoken", "identity.revoke_citoken"],
    "import and scan": ["inventory.import_model", "scanning.run_scan"],
    "watch models": ["inventory.add_watch", "inventory.change_watch", "inventory.delete_watch"],
    "request waivers": ["policies.request_waiver"],
    "triage violations": ["policies.assign_triage", "policies.dismiss_triage", "policies.add_triagecomment"],
    "approve versions": ["policies.approve_version"],
    "read the audit log": ["core.view_auditevent"],
    "edit the license catalog": [
        "licenses.add_license",
        "licenses.change_license",
        "licenses.add_obligation",
        "licenses.change_obligation",
    ],
    "conclude licenses": ["licenses.conclude_license", "licenses.change_obligationstatus"],
    "decide legal waivers": ["policies.decide_legal_waiver"],
    "decide security waivers": ["policies.decide_security_waiver"],
    "flag datasets": ["inventory.change_dataset"],
}


def readme_roles() -> dict[str, str]:
    text = README.read_text()
    section = text[text.index("## Roles") :]
    section = section[: section.index("\n## ", 5)]
    return dict(re.findall(r"^\| ([a-z ]+?) \| (.+?) \|$", section, flags=re.M)[1:])


def test_readme_role_table_matches_roles():
    table = readme_roles()
    assert set(table) == set(roles.ROLES)
    assert table[roles.ADMINISTRATOR].startswith("everything") and roles.ROLES[roles.ADMINISTRATOR] == ["*"]
    for role, perms in roles.ROLES.items():
        if role == roles.ADMINISTRATOR:
            continue
        said = table[role]
        explained: set[str] = set()
        for phrase, needed in PHRASES.items():
            granted = all(p in perms for p in needed)
            assert (phrase in said) == granted, f"{role}: README {'says' if phrase in said else 'omits'} {phrase!r}"
            if granted:
                explained.update(needed)
        assert set(perms) <= explained, f"{role}: permissions the README does not mention: {set(perms) - explained}"


def test_the_decisions_of_issue_11():
    assert "policies.approve_version" in roles.ROLES[roles.SECURITY_REVIEWER]
    assert "core.view_auditevent" in roles.ROLES[roles.MANAGER]


@pytest.mark.django_db
def test_manager_reads_the_audit_log(client_for, manager):
    assert client_for(manager).get("/api/v1/audit/").status_code == 200


@pytest.mark.django_db
def test_administrators_reach_the_admin_and_only_they(client_for, admin_user, architect):
    assert admin_user.is_staff
    assert client_for(admin_user).get("/admin/").status_code == 200
    response = client_for(architect).get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_is_staff_follows_group_changes_from_either_side():
    user = UserFactory(username="promoted")
    admins = Group.objects.get_or_create(name=roles.ADMINISTRATOR)[0]
    admins.user_set.add(user)  # from the group's side, as the admin's group page does
    user.refresh_from_db()
    assert user.is_staff
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 200
    user.groups.remove(admins)
    assert not user.is_staff
    user.refresh_from_db()
    assert not user.is_staff
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_sync_roles_repairs_is_staff_and_spares_superusers():
    admin = UserFactory(username="drifted", role=roles.ADMINISTRATOR)
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    stray = UserFactory(username="stray", is_staff=True)
    type(admin).objects.filter(pk=admin.pk).update(is_staff=False)  # rows from before the fix
    roles.sync_roles()
    for user, staff in ((admin, True), (root, True), (stray, False)):
        user.refresh_from_db()
        assert user.is_staff is staff, user
