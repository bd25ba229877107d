"""The data generation: one number that moves whenever governance data changes.

Caches of what the app computes from its data (rendered pages, gate answers: `core.pagecache`) are keyed
by it, so a change anywhere makes every such entry unreachable at once; nothing has to know which page
shows which row. It is shared by every process that uses the database (web workers and Celery workers on
other machines alike):

- on PostgreSQL a sequence (`modelgate_generation`): advancing it takes no lock, so concurrent writers
  never wait on each other for it;
- elsewhere (SQLite) the one row of `core_datageneration` (SQLite has one writer at a time anyway).

What counts as a change: saving or deleting a row of any model of our apps (signals, connected in
`core.apps`; rows declared `DELETED_IN_BULK` only through their querysets), the bulk writes of their
querysets (`TrackedQuerySet`), group and permission changes of users, and the raw SQL writers that call
`changed()` themselves (the evaluation's violation rows). A model that sets `CHANGES_TRACKED = False` does
not move it (the audit log, leases, delivery logs: rows no cached page or answer is computed from, written
often), nor does a write through `.untracked()` (heartbeats, claims, last-used stamps).

When. `changed()` advances the generation at the first change of a transaction, and again whenever the
connection has read it since (so later reads in the same transaction, and tests that run inside one, see
a new number), and once more after the transaction commits. The last advance is what makes the cache
correct across processes: a reader that saw an earlier number before the commit may have computed from
the old rows, but every reader that starts after the commit sees a newer number still.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, models, transaction

_M = TypeVar("_M", bound=models.Model)

SEQUENCE = "modelgate_generation"
TABLE = "core_datageneration"


def current(using: str = DEFAULT_DB_ALIAS) -> int:
    """The generation now (one small query)."""
    conn = connections[using]
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute(f"SELECT last_value + (CASE WHEN is_called THEN 1 ELSE 0 END) FROM {SEQUENCE}")  # noqa: S608
        else:
            cursor.execute(f"SELECT value FROM {TABLE} WHERE id = 1")  # noqa: S608
        row = cursor.fetchone()
    conn._modelgate_generation_seen = True  # type: ignore[attr-defined]
    return int(row[0]) if row else 0


def _advance(using: str) -> None:
    conn = connections[using]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT nextval('{SEQUENCE}')")
        return
    # SQLite: one writer at a time. A shared-cache database (the test suite's in-memory one) answers
    # "table is locked" at once instead of waiting for its busy timeout: wait here, briefly.
    for attempt in range(200):
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {TABLE} (id, value) VALUES (1, 1) "  # noqa: S608
                    "ON CONFLICT (id) DO UPDATE SET value = value + 1"
                )
            return
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == 199:
                raise
            time.sleep(0.01)


class _AfterCommit:
    """The callback registered once per transaction (recognised in the connection's on-commit list)."""

    def __init__(self, using: str) -> None:
        self.using = using

    def __call__(self) -> None:
        _advance(self.using)


def changed(using: str = DEFAULT_DB_ALIAS) -> None:
    """Governance data changed on this connection: advance now, and again after the commit.

    Inside a transaction the after-commit advance is registered once; the immediate one happens at the
    first change and then again only when this connection has read the generation since (a page rendered
    in the same transaction, as in a test): a transaction that writes a thousand rows advances it twice.
    """
    conn = connections[using]
    conn._modelgate_wrote = True  # type: ignore[attr-defined]
    if not conn.in_atomic_block:
        _advance(using)  # autocommit: the change is already committed
        return
    pending = any(isinstance(entry[1], _AfterCommit) for entry in conn.run_on_commit)
    if pending and not getattr(conn, "_modelgate_generation_seen", False):
        return
    _advance(using)
    conn._modelgate_generation_seen = False  # type: ignore[attr-defined]
    if not pending:
        transaction.on_commit(_AfterCommit(using), using=using, robust=True)


def forget_writes(using: str = DEFAULT_DB_ALIAS) -> None:
    """Start counting writes on this connection (a request begins)."""
    connections[using]._modelgate_wrote = False  # type: ignore[attr-defined]


def wrote(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether this connection changed governance data since `forget_writes`."""
    return bool(getattr(connections[using], "_modelgate_wrote", False))


def tracked(model: type[Any]) -> bool:
    """Whether writes to rows of this model move the generation."""
    return bool(getattr(model, "CHANGES_TRACKED", True))


class TrackedQuerySet(models.QuerySet[_M]):
    """Bulk writes move the generation, as saving or deleting one row does through the signals core
    connects (`core.apps.track_changes`). Every tracked model's manager is one of these (a test checks)."""

    _untracked = False

    def untracked(self) -> TrackedQuerySet[_M]:
        """The same rows, for bookkeeping writes no page or answer reads (a lease's heartbeat, a claim):
        they do not move the generation, so they do not empty every cache while a scan runs."""
        clone = self.all()
        clone._untracked = True
        return clone

    def _clone(self) -> Any:
        clone = super()._clone()  # type: ignore[misc]
        clone._untracked = self._untracked
        return clone

    def _changed(self) -> None:
        if tracked(self.model) and not self._untracked:
            changed(self.db)

    def update(self, **kwargs: Any) -> int:
        rows = super().update(**kwargs)
        if rows:
            self._changed()
        return rows

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[_M]:
        created = super().bulk_create(objs, *args, **kwargs)
        if created:
            self._changed()
        return created

    def bulk_update(self, objs: Any, *args: Any, **kwargs: Any) -> int:
        rows = super().bulk_update(objs, *args, **kwargs)
        if rows:
            self._changed()
        return rows

    def delete(self) -> tuple[int, dict[str, int]]:
        deleted = super().delete()
        if deleted[0]:
            self._changed()
        return deleted
