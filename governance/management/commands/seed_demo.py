"""Load the demo organization (`--size small`, the default) or a synthetic estate for scale tests (`--size large`)."""

from __future__ import annotations

import hashlib
import random
import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from governance.demo import load_demo
from inventory.models import Application, ApplicationModel, Model, ModelVersion, Organization
from licenses.models import LicenseAnalysis
from policies.models import Policy, Violation, Waiver, WaiverReason

BATCH = 5000
PREFIX = "scale-"


class Command(BaseCommand):
    help = (
        "Create a demo organization, applications and sample models (generated locally; no network). "
        "--size large creates 10,000 models, 50,000 versions and 200,000 violations for scale tests."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-pipeline", action="store_true", help="Import only; skip scan/licenses/policies.")
        parser.add_argument("--size", choices=["small", "large"], default="small")
        parser.add_argument("--models", type=int, default=10_000, help="--size large: number of models.")
        parser.add_argument("--versions-per-model", type=int, default=5)
        parser.add_argument("--violations", type=int, default=200_000)
        parser.add_argument("--reset", action="store_true", help="--size large: delete an earlier large seed first.")
        parser.add_argument("--seed", type=int, default=6)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["size"] == "small":
            imported = load_demo(run_pipeline=not options["no_pipeline"])
            analyze()
            self.stdout.write(f"Demo loaded: {len(imported)} model versions.")
            return
        started = time.monotonic()
        counts = seed_large(
            models=options["models"],
            versions_per_model=options["versions_per_model"],
            violations=options["violations"],
            reset=options["reset"],
            seed=options["seed"],
            log=lambda msg: self.stdout.write(f"[{time.monotonic() - started:6.1f}s] {msg}"),
        )
        if analyze():
            self.stdout.write(f"[{time.monotonic() - started:6.1f}s] ANALYZE done")
        self.stdout.write(", ".join(f"{v} {k}" for k, v in counts.items()))


def analyze() -> bool:
    """Refresh the planner's statistics after a bulk load (PostgreSQL): autovacuum would get there
    eventually, but until it does the planner takes the fresh tables for empty and picks plans 3–10×
    slower. Other databases: nothing to do."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return True


def _sha(*parts: object) -> str:
    return hashlib.sha1("-".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def seed_large(
    *, models: int, versions_per_model: int, violations: int, reset: bool, seed: int, log: Any = print
) -> dict[str, int]:
    """Synthetic rows written with bulk_create in batches; no scans or evaluation run.

    Policies are created without constraints (named `scale-…`) so the violations stay as seeded
    until someone re-evaluates. Everything the command creates carries the `scale-` prefix.
    """

    rng = random.Random(seed)
    if Organization.objects.filter(slug=f"{PREFIX}root").exists():
        if not reset:
            raise CommandError("A large seed exists; pass --reset to replace it.")
        log("deleting the earlier large seed")
        with transaction.atomic():
            Model.objects.filter(repo_id__startswith=PREFIX).delete()
            Policy.objects.filter(name__startswith=PREFIX).delete()
            Application.objects.filter(slug__startswith=PREFIX).delete()
            for org in Organization.objects.filter(slug__startswith=PREFIX).order_by("-parent_id"):
                org.delete()
    now = timezone.now()
    with transaction.atomic():
        root = Organization.objects.create(name="Scale Corp", slug=f"{PREFIX}root")
        divisions = [Organization(name=f"Division {i}", slug=f"{PREFIX}div-{i}", parent=root) for i in range(8)]
        Organization.objects.bulk_create(divisions)
        teams = [
            Organization(name=f"Team {d.name[-1]}.{j}", slug=f"{PREFIX}team-{i}-{j}", parent=d)
            for i, d in enumerate(divisions)
            for j in range(5)
        ]
        Organization.objects.bulk_create(teams)
        apps = [
            Application(name=f"App {t.slug[len(PREFIX) + 5 :]}.{k}", slug=f"{PREFIX}app-{n}-{k}", organization=t)
            for n, t in enumerate(teams)
            for k in range(5)
        ]
        Application.objects.bulk_create(apps)
        categories = ["security", "legal", "quality", "other"]
        policies = [
            Policy(name=f"{PREFIX}policy-{i}", threat_level=rng.choice([1, 2, 3, 5, 6, 7, 8, 9, 10]),
                   category=categories[i % 4], action_release="fail" if i % 3 == 0 else "warn")
            for i in range(24)
        ]  # fmt: skip
        Policy.objects.bulk_create(policies)
    log(f"{len(apps)} applications in {1 + len(divisions) + len(teams)} organizations, {len(policies)} policies")

    model_rows = [Model(repo_id=f"{PREFIX}ns{i % 400}/model-{i}", author=f"ns{i % 400}") for i in range(models)]
    for start in range(0, len(model_rows), BATCH):
        Model.objects.bulk_create(model_rows[start : start + BATCH])
    log(f"{len(model_rows)} models")
    statuses = ["approved"] * 5 + ["pending"] * 3 + ["in_review", "rejected"]
    version_rows = [
        ModelVersion(model=m, commit=_sha(m.repo_id, k), ref="main", review_status=rng.choice(statuses))
        for m in model_rows
        for k in range(versions_per_model)
    ]
    for start in range(0, len(version_rows), BATCH):
        ModelVersion.objects.bulk_create(version_rows[start : start + BATCH])
    log(f"{len(version_rows)} versions")
    groups = ["permissive"] * 6 + ["weak-copyleft", "copyleft", "ai-restricted", "ai-restricted", "non-commercial",
                                   "proprietary", "unknown"]  # fmt: skip
    analyses = [
        LicenseAnalysis(version=v, state="done", threat_group=rng.choice(groups), effective="apache-2.0")
        for v in version_rows
    ]
    for start in range(0, len(analyses), BATCH):
        LicenseAnalysis.objects.bulk_create(analyses[start : start + BATCH])
    log(f"{len(analyses)} license analyses")
    # Each model's latest version is used by one application (its violations are in that context);
    # older versions carry root-context violations.
    usages = []
    used: dict[int, int] = {}
    for i in range(len(model_rows)):
        v = version_rows[i * versions_per_model + versions_per_model - 1]
        app = apps[rng.randrange(len(apps))]
        used[v.pk] = app.pk
        usages.append(ApplicationModel(application=app, version=v))
    for start in range(0, len(usages), BATCH):
        ApplicationModel.objects.bulk_create(usages[start : start + BATCH])
    log(f"{len(usages)} usages")

    reason = WaiverReason.objects.get_or_create(name="Risk accepted by the business owner")[0]
    per_version = max(1, -(-violations // len(version_rows)))
    batch: list[Violation] = []
    made = 0
    for v in version_rows:
        if made >= violations:
            break
        for p in rng.sample(policies, min(per_version, len(policies))):
            if made >= violations:
                break
            first_seen = now - timedelta(days=rng.randint(0, 180), minutes=rng.randint(0, 1440))
            state = rng.choices(["open", "waived", "resolved"], weights=[55, 10, 35])[0]
            resolved_at = first_seen + timedelta(hours=rng.randint(1, 24 * 60)) if state == "resolved" else None
            batch.append(
                Violation(policy=p, version=v, application_id=used.get(v.pk), state=state, threat_level=p.threat_level,
                          matched={"constraints": [{"name": "seeded", "facts": {"seed": True}}]},
                          first_seen_at=first_seen, opened_at=first_seen, last_evaluated_at=now,
                          resolved_at=min(resolved_at, now) if resolved_at else None)
            )  # fmt: skip
            made += 1
            if len(batch) >= BATCH:
                Violation.objects.bulk_create(batch)
                batch = []
    if batch:
        Violation.objects.bulk_create(batch)
    log(f"{made} violations")
    waivers = [
        Waiver(policy=rng.choice(policies), scope="version", version=rng.choice(version_rows), owner="root",
               state=rng.choice(["approved", "approved", "pending", "expired"]), reason=reason,
               expires_at=now + timedelta(days=rng.randint(-30, 120)), requested_at=now - timedelta(days=10))
        for _ in range(2000)
    ]  # fmt: skip
    Waiver.objects.bulk_create(waivers, batch_size=BATCH)
    log(f"{len(waivers)} waivers")
    from governance.models import RiskSnapshot
    from governance.overview import take_snapshot

    today = take_snapshot()
    snaps = []
    for d in range(1, 90):
        drift = 1 + 0.25 * (d / 90) + rng.uniform(-0.03, 0.03)
        snaps.append(
            RiskSnapshot(day=today.day - timedelta(days=d), total_risk=int(today.total_risk * drift),
                         open_count=int(today.open_count * drift), waived_count=today.waived_count,
                         by_band=today.by_band, by_category=today.by_category,
                         by_organization={k: int(r * drift) for k, r in today.by_organization.items()},
                         by_application={k: int(r * drift) for k, r in today.by_application.items()})
        )  # fmt: skip
    RiskSnapshot.objects.bulk_create(snaps, ignore_conflicts=True)
    log("90 daily snapshots")
    return {"models": len(model_rows), "versions": len(version_rows), "violations": made, "waivers": len(waivers),
            "applications": len(apps)}  # fmt: skip
