"""The queue's SQL: claiming destinations, reading their pending deliveries, recording results.

A destination is held by one sender at a time (a lease in `destinations`), which keeps its
deliveries in event order; on PostgreSQL claims skip rows another worker holds (SKIP LOCKED),
so workers on several machines share the work without waiting on each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import and_, case, or_, select, update

from tidings.store import tables
from tidings.store.db import Store

D = tables.deliveries
DEST = tables.destinations

FINAL = ("sent", "failed", "dead")


@dataclass
class Claimed:
    key: str
    channel: str
    recent: list[float]
    lease_until: float


@dataclass
class Release:
    key: str
    recent: list[float]
    not_before: float | None = None  # pacing: do not send before this time


@dataclass
class Batch:
    """Results to write in one transaction (group commit)."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    written: list[Any] = field(default_factory=list)  # futures to set once committed

    def __bool__(self) -> bool:
        return bool(self.updates or self.attempts or self.releases)


def claim(store: Store, owner: str, now: float, lease: float, limit: int) -> list[Claimed]:
    """Lease up to `limit` destinations that have work due and nobody holding them."""
    free = or_(DEST.c.lease_until.is_(None), DEST.c.lease_until < now)
    candidates = (
        select(DEST.c.key)
        .where(DEST.c.next_due_at <= now, free)
        .order_by(DEST.c.next_due_at)
        .limit(limit)
    )
    if store.dialect == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (
        update(DEST)
        .where(DEST.c.key.in_(candidates.scalar_subquery()), free)
        .values(lease_owner=owner, lease_until=now + lease)
        .returning(DEST.c.key, DEST.c.channel, DEST.c.recent)
    )
    with store.engine.begin() as connection:
        rows = connection.execute(statement).all()
    return [Claimed(key, channel, list(recent or []), now + lease) for key, channel, recent in rows]


@dataclass
class Pending:
    seq: int
    id: str
    channel: str
    request: dict[str, Any]
    attempts: int
    next_attempt_at: float
    expires_at: float
    address: str
    label: str
    destination: str


_PENDING = """
SELECT seq, id, channel, request, attempts, next_attempt_at, expires_at, address, label,
    destination
FROM deliveries WHERE destination = :key AND status = 'pending' ORDER BY seq LIMIT :limit
"""


def pending(store: Store, key: str, limit: int) -> list[Pending]:
    """The destination's pending deliveries, oldest event first."""
    with store.read() as connection:
        rows = store.run(connection, _PENDING, {"key": key, "limit": limit})
        return [
            # SQLite hands back the JSON text; psycopg has already decoded it.
            Pending(*row[:3], orjson.loads(row[3]) if isinstance(row[3], str) else row[3], *row[4:])
            for row in rows
        ]


def _head_due(key: str) -> Any:
    """When the first pending delivery of the destination is due (NULL: nothing pending)."""
    return (
        select(D.c.next_attempt_at)
        .where(D.c.destination == key, D.c.status == "pending")
        .order_by(D.c.seq)
        .limit(1)
        .scalar_subquery()
    )


# Every update sets all of these (the worker fills each field), so one statement serves all.
_UPDATE_DELIVERY = """
UPDATE deliveries SET status = :status, attempts = :attempts, updated_at = :updated_at,
    next_attempt_at = :next_attempt_at, finished_at = :finished_at, last_code = :last_code,
    last_error = :last_error
WHERE id = :id
"""
_INSERT_ATTEMPT = """
INSERT INTO attempts (delivery_id, at, duration_ms, outcome, http_status, code, detail, worker)
VALUES (:delivery_id, :at, :duration_ms, :outcome, :http_status, :code, :detail, :worker)
"""


def write(store: Store, batch: Batch, owner: str) -> None:
    """Record results and release destinations, atomically.

    Rows are locked in one global order (deliveries by id, destinations by key), the order
    the outbox uses too, so concurrent writers never deadlock; a conflict PostgreSQL still
    reports is retried (the transaction is all or nothing).
    """
    batch.updates.sort(key=lambda row: row["id"])
    batch.releases.sort(key=lambda release: release.key)
    retry_on_conflict(lambda: _write(store, batch, owner))


def retry_on_conflict(work: Any, attempts: int = 5) -> Any:
    """Run a transaction again when the database aborted it for a deadlock or a
    serialization conflict (PostgreSQL SQLSTATE 40P01 / 40001)."""
    from sqlalchemy.exc import DBAPIError

    for attempt in range(attempts):
        try:
            return work()
        except DBAPIError as exc:
            code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
            if code not in ("40P01", "40001") or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    return None


def _write(store: Store, batch: Batch, owner: str) -> None:
    with store.engine.begin() as connection:
        if batch.updates:
            store.run(connection, _UPDATE_DELIVERY, batch.updates)
        if batch.attempts:
            store.run(connection, _INSERT_ATTEMPT, batch.attempts)
        for release in batch.releases:
            head = _head_due(release.key)
            due = head
            if release.not_before is not None:
                due = case((head < release.not_before, release.not_before), else_=head)
            connection.execute(
                update(DEST)
                .where(DEST.c.key == release.key, DEST.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None, next_due_at=due, recent=release.recent)
            )


def repair(store: Store, now: float) -> int:
    """Make due any destination that has pending deliveries but no due time (after a manual
    retry, or anything else that left it idle). Returns how many were woken."""
    has_pending = (
        select(D.c.id).where(D.c.destination == DEST.c.key, D.c.status == "pending").exists()
    )
    with store.engine.begin() as connection:
        result = connection.execute(
            update(DEST)
            .where(and_(DEST.c.next_due_at.is_(None), has_pending))
            .values(next_due_at=now)
        )
    return result.rowcount or 0


def statuses(store: Store, ids: list[str]) -> dict[str, str]:
    with store.read() as connection:
        rows = connection.execute(select(D.c.id, D.c.status).where(D.c.id.in_(ids))).all()
    return dict(rows)
