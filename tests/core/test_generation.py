"""The data generation (core/generation.py): every write path moves it, bookkeeping does not."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from core import generation, roles
from core.apps import TRACKED_APPS, tracked_models
from core.generation import TrackedQuerySet
from core.models import AuditEvent
from governance.models import RollupLease
from inventory.models import Organization
from policies import services
from policies.models import Violation
from scanning.models import ScanRun
from tests import factories as f
from tests.policies.conftest import make_policy, make_version

pytestmark = pytest.mark.django_db


def moves(action) -> bool:  # type: ignore[no-untyped-def]
    before = generation.current()
    action()
    return generation.current() > before


def test_every_write_path_of_a_tracked_model_moves_it():
    org = Organization.objects.create(name="Acme", slug="acme")
    assert moves(lambda: Organization.objects.create(name="Beta", slug="beta"))  # save (signal)
    assert moves(lambda: setattr(org, "name", "Acme 2") or org.save())
    assert moves(lambda: Organization.objects.filter(pk=org.pk).update(name="Acme 3"))  # queryset update
    assert moves(lambda: Organization.objects.bulk_create([Organization(name="Gamma", slug="gamma")]))
    org.name = "Acme 4"
    assert moves(lambda: Organization.objects.bulk_update([org], ["name"]))
    assert moves(lambda: Organization.objects.filter(slug="gamma").delete())  # queryset delete
    assert moves(lambda: Organization.objects.get(slug="beta").delete())  # instance delete (signal)
    # Nothing written, nothing moved.
    assert not moves(lambda: Organization.objects.filter(slug="nobody").update(name="x"))
    assert not moves(lambda: list(Organization.objects.all()))


def test_role_changes_move_it(make_user):
    user = make_user()
    group = Group.objects.get(name=roles.MANAGER)
    assert moves(lambda: user.groups.add(group))  # m2m
    assert moves(lambda: user.groups.remove(group))
    assert moves(lambda: setattr(user, "is_active", False) or user.save())


def test_the_evaluations_raw_sql_writes_move_it():
    make_policy()
    make_version(downloads=1)
    assert moves(services.evaluate_versions)
    assert Violation.objects.filter(policy__name="Few downloads", state="open").count() == 1


def test_bookkeeping_does_not_move_it():
    assert not moves(lambda: AuditEvent.objects.create(action="policy.update", actor_repr="system"))
    now = timezone.now()
    assert not moves(lambda: RollupLease.objects.create(pk=1, expires_at=now))
    run = f.ScanRunFactory(version=make_version())
    # A lease's heartbeat is bookkeeping; the same update through the tracked queryset is not.
    assert not moves(lambda: ScanRun.objects.untracked().filter(pk=run.pk).update(heartbeat_at=now))
    assert moves(lambda: ScanRun.objects.filter(pk=run.pk).update(heartbeat_at=now + timedelta(seconds=1)))


def test_every_model_of_our_apps_is_tracked_through_its_querysets_or_exempt():
    from django.apps import apps

    ours = [m for label in TRACKED_APPS for m in apps.get_app_config(label).get_models()]
    untracked = [m._meta.label for m in ours if generation.tracked(m) and m._meta.proxy is False]
    missing = [
        label
        for label in untracked
        if not isinstance(apps.get_model(label)._default_manager.get_queryset(), TrackedQuerySet)
    ]
    assert not missing, f"bulk writes of these models would not move the data generation: {missing}"
    assert set(tracked_models()) >= {m for m in ours if generation.tracked(m)}
    assert AuditEvent not in tracked_models()


def test_inside_a_transaction_it_moves_once_per_read_and_once_after_commit():
    with transaction.atomic():
        before = generation.current()
        for i in range(5):  # many writes, nobody reading in between: one immediate advance
            Organization.objects.create(name=f"Org {i}", slug=f"org-{i}")
        during = generation.current()
        assert during == before + 1
        Organization.objects.create(name="After a read", slug="after-a-read")  # read since: it moves again
        assert generation.current() == during + 1
        pending = [entry for entry in connection.run_on_commit if isinstance(entry[1], generation._AfterCommit)]
        assert len(pending) == 1  # and once after the commit


@pytest.mark.django_db(transaction=True)
def test_a_write_committed_by_another_connection_is_seen_here():
    before = generation.current()

    def other() -> None:
        try:
            with transaction.atomic():
                Organization.objects.create(name="Elsewhere", slug="elsewhere")
        finally:
            connection.close()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    # Two advances: at the write, and after its commit (the one every reader that starts later sees).
    assert generation.current() == before + 2


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_only_the_immediate_advance():
    before = generation.current()
    with pytest.raises(RuntimeError), transaction.atomic():
        Organization.objects.create(name="Gone", slug="gone")
        raise RuntimeError
    # No after-commit advance. The immediate one stays where it is not transactional (a PostgreSQL
    # sequence) and is rolled back with the rest where it is (SQLite's row): a reader never goes backwards
    # past a value it could have seen, since no other connection saw the uncommitted row.
    assert generation.current() == before + (1 if connection.vendor == "postgresql" else 0)
    assert not Organization.objects.filter(slug="gone").exists()


def test_signing_in_does_not_move_it(make_user):
    user = make_user(roles.MANAGER)
    client = __import__("django.test", fromlist=["Client"]).Client()
    assert not moves(lambda: client.force_login(user))


def test_rows_deleted_in_bulk_stay_fast_to_delete_and_their_deletes_still_move_it():
    from django.db.models.deletion import Collector

    from licenses.models import LicenseEvidence
    from policies.models import Condition
    from scanning.models import Finding, ScanFileResult

    collector = Collector(using="default")
    for model in (Finding, ScanFileResult, Condition, LicenseEvidence):
        assert collector.can_fast_delete(model.objects.none()), model  # one DELETE, no rows loaded
    run = f.ScanRunFactory(version=make_version())
    f.FindingFactory(scan_run=run)
    assert moves(lambda: Finding.objects.filter(scan_run=run).delete())
