"""The two-organization world of the scope tests.

Organizations A (with a child A1) and B; an application in each of A, A1 and B, all three using one
shared model version; policies at the root, in A and in B; violations in every context (root
included); waivers, a conclusion, a checklist line, an import job, a watch and CI tokens on both
sides. Every object of B carries the marker `BRAVO_MARK` in a name or text that pages show, so a leak
is one substring search; A's objects carry `ALPHA_MARK` (positive controls: the test can fail).

Users: the four organization roles as memberships in A (`a_<role>`) and in B (`b_<role>`), a global
manager, a global administrator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import Group
from django.utils import timezone

from core import roles
from identity import memberships
from identity.models import CIToken
from inventory.models import ApplicationModel, ImportJob, Watch
from licenses.models import LicenseConclusion, ObligationStatus
from policies.choices import ScopeKind, WaiverScope, WaiverState
from policies.models import Approval
from tests import factories as f

BRAVO_MARK = "Bravoleak"
ALPHA_MARK = "Alphaseen"

ORG_ROLES = {
    "architect": roles.ARCHITECT,
    "legal": roles.LEGAL_REVIEWER,
    "security": roles.SECURITY_REVIEWER,
    "manager": roles.MANAGER,
}


@dataclass
class World:
    users: dict[str, Any] = field(default_factory=dict)
    objs: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.objs[key] if key in self.objs else self.users[key]


def _token(user: Any, *, name: str, application: Any = None, organization: Any = None) -> CIToken:
    return CIToken.objects.create(
        name=name,
        prefix=name.lower().replace(" ", "")[-12:],
        secret_hash="0" * 64,
        application=application,
        organization=organization,
        created_by=user,
        expires_at=timezone.now() + timedelta(days=30),
    )


def build_world() -> World:
    w = World()
    admin = f.UserFactory(username="world-admin", role=roles.ADMINISTRATOR)
    w.users["admin"] = admin
    w.users["global_manager"] = f.UserFactory(username="global-manager", role=roles.MANAGER)

    org_a = f.OrganizationFactory(name=f"{ALPHA_MARK} Org", slug="alpha")
    org_a1 = f.OrganizationFactory(name=f"{ALPHA_MARK} Child Org", slug="alpha-child", parent=org_a)
    org_b = f.OrganizationFactory(name=f"{BRAVO_MARK} Org", slug="bravo")
    app_a = f.ApplicationFactory(name=f"{ALPHA_MARK} App", slug="alpha-app", organization=org_a)
    app_a1 = f.ApplicationFactory(name=f"{ALPHA_MARK} Child App", slug="alpha-child-app", organization=org_a1)
    app_b = f.ApplicationFactory(name=f"{BRAVO_MARK} App", slug="bravo-app", organization=org_b)
    w.objs.update(org_a=org_a, org_a1=org_a1, org_b=org_b, app_a=app_a, app_a1=app_a1, app_b=app_b)

    for side, org in (("a", org_a), ("b", org_b)):
        for key, role in ORG_ROLES.items():
            user = f.UserFactory(username=f"{side}-{key}")
            memberships.grant(actor=admin, organization=org, role=role, user=user)
            w.users[f"{side}_{key}"] = user

    model = f.ModelFactory(repo_id="acme/shared-model", downloads=5)
    version = f.ModelVersionFactory(model=model)
    f.ModelFileFactory(version=version, path="model.safetensors")
    w.objs["model"], w.objs["version"] = model, version
    w.objs["version2"] = f.ModelVersionFactory(model=model)  # used by no application yet
    usages = {
        key: ApplicationModel.objects.create(application=app, version=version, added_by=admin)
        for key, app in (("usage_a", app_a), ("usage_a1", app_a1), ("usage_b", app_b))
    }
    w.objs.update(usages)

    root_policy = f.PolicyFactory(name="Root downloads policy", threat_level=5)
    policy_a = f.PolicyFactory(name=f"{ALPHA_MARK} Policy", threat_level=3, organization=org_a)
    policy_b = f.PolicyFactory(name=f"{BRAVO_MARK} Policy", threat_level=7, organization=org_b)
    policy_b_app = f.PolicyFactory(name=f"{BRAVO_MARK} App Policy", threat_level=2, application=app_b, enabled=False)
    w.objs.update(root_policy=root_policy, policy_a=policy_a, policy_b=policy_b, policy_b_app=policy_b_app)

    w.objs["v_root"] = f.ViolationFactory(policy=root_policy, version=version)  # root context
    w.objs["v_a"] = f.ViolationFactory(policy=root_policy, version=version, application=app_a)
    w.objs["v_a_own"] = f.ViolationFactory(policy=policy_a, version=version, application=app_a)
    w.objs["v_a1"] = f.ViolationFactory(policy=root_policy, version=version, application=app_a1)
    w.objs["v_b"] = f.ViolationFactory(policy=root_policy, version=version, application=app_b)
    w.objs["v_b_own"] = f.ViolationFactory(policy=policy_b, version=version, application=app_b)
    w.objs["v_b_app"] = f.ViolationFactory(policy=policy_b_app, version=version, application=app_b)

    reason = f.WaiverReasonFactory()
    common = {"scope": WaiverScope.VERSION, "version": version, "reason": reason, "state": WaiverState.PENDING}
    w.objs["waiver_a"] = f.WaiverFactory(
        policy=policy_a, owner=ScopeKind.APPLICATION, application=app_a, comment=f"{ALPHA_MARK} waiver",
        requested_by=w.users["a_architect"], source_violation=w.objs["v_a_own"], **common,
    )  # fmt: skip
    w.objs["waiver_b"] = f.WaiverFactory(
        policy=policy_b, owner=ScopeKind.APPLICATION, application=app_b, comment=f"{BRAVO_MARK} waiver",
        requested_by=w.users["b_architect"], source_violation=w.objs["v_b_own"], **common,
    )  # fmt: skip
    w.objs["waiver_b_org"] = f.WaiverFactory(
        policy=root_policy, owner=ScopeKind.ORGANIZATION, organization=org_b, comment=f"{BRAVO_MARK} org waiver",
        requested_by=w.users["b_architect"], **common,
    )  # fmt: skip
    w.objs["waiver_root"] = f.WaiverFactory(
        policy=root_policy,
        owner=ScopeKind.ROOT,
        comment=f"{BRAVO_MARK} root waiver",
        requested_by=w.users["b_architect"],
        **common,
    )
    w.objs["approval"] = Approval.objects.create(
        version=version, decision="approved", reason="cleared", decided_by=admin, is_current=True
    )
    w.objs["token_a"] = _token(admin, name=f"{ALPHA_MARK} token", application=app_a)
    w.objs["token_b"] = _token(admin, name=f"{BRAVO_MARK} token", application=app_b)
    w.objs["token_b_org"] = _token(admin, name=f"{BRAVO_MARK} org token", organization=org_b)
    w.objs["conclusion_b"] = LicenseConclusion.objects.create(
        version=version, application=app_b, status="confirmed", license_expression="apache-2.0",
        comment=f"{BRAVO_MARK} conclusion", created_by=admin,
    )  # fmt: skip
    obligation = f.ObligationFactory(term="attribution")
    w.objs["status_b"] = ObligationStatus.objects.create(
        application=app_b, version=version, obligation=obligation, note=f"{BRAVO_MARK} checklist", updated_by=admin
    )
    w.objs["job_b"] = ImportJob.objects.create(
        repo_id=f"bravo/{BRAVO_MARK}-model", application=app_b, requested_by=w.users["b_architect"], state="failed"
    )
    w.objs["job_a"] = ImportJob.objects.create(
        repo_id=f"alpha/{ALPHA_MARK}-model", application=app_a, requested_by=w.users["a_architect"], state="failed"
    )
    w.objs["watch_b"] = Watch.objects.create(model=model, ref=f"{BRAVO_MARK}-ref", application=app_b, created_by=admin)
    w.objs["dataset"] = f.DatasetFactory()
    w.objs["license"] = f.LicenseFactory()
    w.objs["team"] = Group.objects.create(name="alpha-team")
    return w
