"""factory_boy factories shared by every test module."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from inventory import models as inv
from inventory.choices import JobState, Relation
from licenses import models as lic
from licenses.choices import AnalysisState, ConclusionStatus, ThreatGroup
from policies import models as pol
from policies.choices import ViolationState, WaiverScope, WaiverState
from policies.engine.catalog import derive_category
from scanning import models as scan
from scanning.scanners.base import RULES_VERSION


def _commit(n: int) -> str:
    return hashlib.sha1(f"commit-{n}".encode(), usedforsecurity=False).hexdigest()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if create and extracted:
            if not Group.objects.filter(name=extracted).exists():
                # A transactional test before this one flushed the database, role groups included.
                from core.roles import sync_roles

                sync_roles()
            self.groups.add(Group.objects.get(name=extracted))


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.Application

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"App {n}")
    slug = factory.Sequence(lambda n: f"app-{n}")


class ModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.Model

    repo_id = factory.Sequence(lambda n: f"acme/model-{n}")
    author = "acme"
    pipeline_tag = "text-generation"
    library_name = "transformers"


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.ModelVersion

    model = factory.SubFactory(ModelFactory)
    commit = factory.Sequence(_commit)
    ref = "main"


class ModelFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.ModelFile

    version = factory.SubFactory(ModelVersionFactory)
    path = factory.Sequence(lambda n: f"file-{n}.safetensors")
    size = 1024
    sha256 = factory.Sequence(lambda n: hashlib.sha256(str(n).encode()).hexdigest())
    is_lfs = True
    format = "safetensors"


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.Dataset
        django_get_or_create = ("repo_id",)

    repo_id = factory.Sequence(lambda n: f"acme/dataset-{n}")


class BaseModelLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = inv.BaseModelLink

    version = factory.SubFactory(ModelVersionFactory)
    base = factory.SubFactory(ModelFactory)
    relation = Relation.FINETUNE


# --- scanning -----------------------------------------------------------------------------------


def _finished(o: Any) -> datetime | None:
    return timezone.now() if o.state in (JobState.SUCCEEDED, JobState.FAILED) else None


class ScanRunFactory(factory.django.DjangoModelFactory):
    """A finished scan run (state and verdict as given; a verdict only when it succeeded)."""

    class Meta:
        model = scan.ScanRun

    version = factory.SubFactory(ModelVersionFactory)
    state = JobState.SUCCEEDED
    verdict = factory.LazyAttribute(lambda o: "safe" if o.state == JobState.SUCCEEDED else "")
    rules_version = RULES_VERSION
    scanner_version = "modelgate-test"
    started_at = factory.LazyAttribute(_finished)
    finished_at = factory.LazyAttribute(_finished)


class FindingFactory(factory.django.DjangoModelFactory):
    """A critical code-execution finding; its run carries the same verdict."""

    class Meta:
        model = scan.Finding

    scan_run = factory.SubFactory(ScanRunFactory, verdict=factory.SelfAttribute("..verdict"))
    path = "model.bin"
    rule = "pickle.global.denied"
    category = "code-execution"
    severity = "critical"
    verdict = "malicious"
    message = "The pickle imports a callable that runs code"
    evidence = "os.system('echo harmless')"


# --- licenses -----------------------------------------------------------------------------------


class LicenseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = lic.License
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"test-license-{n}")
    spdx_id = factory.LazyAttribute(lambda o: o.key)
    name = factory.LazyAttribute(lambda o: f"Test license {o.key}")
    threat_group = ThreatGroup.PERMISSIVE


class ObligationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = lic.Obligation
        django_get_or_create = ("term",)

    term = factory.Sequence(lambda n: f"test-obligation-{n}")


class LicenseAnalysisFactory(factory.django.DjangoModelFactory):
    """A finished analysis whose declared and effective license is `effective` (default apache-2.0)."""

    class Meta:
        model = lic.LicenseAnalysis

    version = factory.SubFactory(ModelVersionFactory)
    state = AnalysisState.DONE
    declared = "apache-2.0"
    effective = factory.SelfAttribute("declared")
    effective_ids = factory.LazyAttribute(lambda o: sorted(set(re.findall(r"[\w.+-]+", o.effective)) - {"AND", "OR"}))
    threat_group = ThreatGroup.PERMISSIVE
    finished_at = factory.LazyFunction(timezone.now)


class LicenseConclusionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = lic.LicenseConclusion

    version = factory.SubFactory(ModelVersionFactory)
    status = ConclusionStatus.CONFIRMED
    license_expression = "apache-2.0"
    comment = "Reviewed the repository's license files."


# --- policies -----------------------------------------------------------------------------------

DEFAULT_CONDITION = {"fact": "model.downloads", "operator": "lt", "value": 100}


class PolicyFactory(factory.django.DjangoModelFactory):
    """A root policy failing at release. `conditions=[{fact, operator, value[, negate]}, …]` (default
    `model.downloads < 100`) form one constraint (ALL, or ANY with `conditions__match="any"`); the category is derived from
    their facts as the authoring service does. `conditions=[]` makes a policy without constraints
    (its `category` as given)."""

    class Meta:
        model = pol.Policy
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Policy {n}")
    threat_level = 5
    action_release = "fail"

    @factory.post_generation
    def conditions(policy: pol.Policy, create: bool, extracted: list[dict[str, Any]] | None, **kwargs: Any) -> None:
        if not create:
            return
        conditions = [dict(DEFAULT_CONDITION)] if extracted is None else extracted
        if not conditions:
            return
        constraint = pol.Constraint.objects.create(policy=policy, name="c1", match=kwargs.get("match", "all"))
        pol.Condition.objects.bulk_create(
            pol.Condition(constraint=constraint, position=i, **c) for i, c in enumerate(conditions)
        )
        policy.category = derive_category([str(c["fact"]) for c in conditions])
        pol.Policy.objects.filter(pk=policy.pk).update(category=policy.category)


class ViolationFactory(factory.django.DjangoModelFactory):
    """An open violation in the root context (pass `application=` for an application's context)."""

    class Meta:
        model = pol.Violation

    policy = factory.SubFactory(PolicyFactory)
    version = factory.SubFactory(ModelVersionFactory)
    state = ViolationState.OPEN
    matched = factory.LazyFunction(dict)


class WaiverReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pol.WaiverReason
        django_get_or_create = ("name",)

    name = "Risk accepted"


class WaiverFactory(factory.django.DjangoModelFactory):
    """An approved waiver of one revision, owned by the root, expiring at the end of the day in `days` days
    (default 5)."""

    class Meta:
        model = pol.Waiver

    class Params:
        days = 5

    policy = factory.SubFactory(PolicyFactory)
    scope = WaiverScope.VERSION
    version = factory.SubFactory(ModelVersionFactory)
    state = WaiverState.APPROVED
    reason = factory.SubFactory(WaiverReasonFactory)
    expires_at = factory.LazyAttribute(
        lambda o: datetime.combine(timezone.now().date() + timedelta(days=o.days), time(23, 59, 59), tzinfo=UTC)
    )
