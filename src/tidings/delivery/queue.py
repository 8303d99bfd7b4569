"""The queue's SQL: claiming destinations, reading their pending deliveries, recording results.

A destination is held by one sender at a time (a lease in `destinations`), which keeps its
deliveries in event order; on PostgreSQL claims skip rows another worker holds (SKIP LOCKED),
so workers on several machines share the work without waiting on each other. A sender claims
only destinations its configuration addresses (their address keys): what another
configuration queued is left to it, and ended only by it (sweep_gone) or by its age limit
(sweep_expired).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from tidings.store.db import DatabaseError, Store, in_list

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


_CLAIM = """
UPDATE destinations SET lease_owner = :owner, lease_until = :until
WHERE key IN (
    SELECT key FROM destinations
    WHERE next_due_at <= :now AND (lease_until IS NULL OR lease_until < :now)
        AND address_key IN {addresses}
    ORDER BY next_due_at LIMIT :limit {lock}
) AND (lease_until IS NULL OR lease_until < :now)
RETURNING key, channel, recent
"""


def _each(store: Store, name: str) -> str:
    """A subquery of the strings of the JSON array parameter `name` (one statement for any
    number of them, so its text, and the driver's prepared plan, never change)."""
    if store.dialect == "postgresql":
        return f"(SELECT json_array_elements_text(:{name}::json))"
    return f"(SELECT value FROM json_each(:{name}))"


def claim(
    store: Store, owner: str, now: float, lease: float, limit: int, addresses: str
) -> list[Claimed]:
    """Lease up to `limit` destinations that have work due, nobody holding them, and whose
    address key is among `addresses` (a JSON array: what this sender can resolve)."""
    # PostgreSQL: skip rows another worker is claiming instead of waiting for it.
    lock = "FOR UPDATE SKIP LOCKED" if store.dialect == "postgresql" else ""
    params = {
        "owner": owner,
        "until": now + lease,
        "now": now,
        "limit": limit,
        "addresses": addresses,
    }
    sql = _CLAIM.format(lock=lock, addresses=_each(store, "addresses"))
    with store.transaction() as tx:
        rows = tx.run(sql, params)
    return [
        Claimed(key, channel, list(_json(recent) or []), now + lease)
        for key, channel, recent in rows
    ]


def _json(value: Any) -> Any:
    """A JSON column's value: SQLite hands back the text, psycopg has already decoded it."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


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
    source: str


_PENDING = """
SELECT seq, id, channel, request, attempts, next_attempt_at, expires_at, address, label,
    destination, source
FROM deliveries WHERE destination = :key AND status = 'pending' ORDER BY seq LIMIT :limit
"""


def pending(store: Store, key: str, limit: int) -> list[Pending]:
    """The destination's pending deliveries, oldest event first."""
    with store.transaction(write=False) as tx:
        rows = tx.run(_PENDING, {"key": key, "limit": limit})
    return [Pending(*row[:3], _json(row[3]), *row[4:]) for row in rows]


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
# Releasing a destination: due when its first pending delivery is (NULL: nothing pending),
# but not before `not_before` when pacing asked for a pause (0 when it did not).
_HEAD_DUE = (
    "(SELECT next_attempt_at FROM deliveries WHERE destination = :key AND status = 'pending' "
    "ORDER BY seq LIMIT 1)"
)
_RELEASE = f"""
UPDATE destinations SET lease_owner = NULL, lease_until = NULL, recent = :recent::json,
    next_due_at = CASE WHEN {_HEAD_DUE} < :not_before THEN :not_before ELSE {_HEAD_DUE} END
WHERE key = :key AND lease_owner = :owner
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
    for attempt in range(attempts):
        try:
            return work()
        except DatabaseError as exc:
            if exc.sqlstate not in ("40P01", "40001") or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    return None


def _write(store: Store, batch: Batch, owner: str) -> None:
    with store.transaction() as tx:
        if batch.updates:
            tx.run(_UPDATE_DELIVERY, batch.updates)
        if batch.attempts:
            tx.run(_INSERT_ATTEMPT, batch.attempts)
        if batch.releases:
            releases = [
                {
                    "key": release.key,
                    "owner": owner,
                    "recent": orjson.dumps(release.recent).decode(),
                    "not_before": release.not_before or 0.0,
                }
                for release in batch.releases
            ]
            tx.run(_RELEASE, releases)


_REPAIR = """
UPDATE destinations SET next_due_at = :now
WHERE next_due_at IS NULL AND EXISTS (
    SELECT 1 FROM deliveries WHERE deliveries.destination = destinations.key
    AND deliveries.status = 'pending'
)
"""


def repair(store: Store, now: float) -> None:
    """Make due any destination that has pending deliveries but no due time (after a manual
    retry, or anything else that left it idle)."""
    with store.transaction() as tx:
        tx.run(_REPAIR, {"now": now})


@dataclass
class Swept:
    """A pending delivery a sweep ended (dead) without sending it."""

    id: str
    channel: str
    destination: str
    address: str
    label: str
    attempts: int
    source: str
    reason: str


_UNHELD = "(SELECT key FROM destinations WHERE lease_until IS NULL OR lease_until < :now)"
_EXPIRED = f"""
SELECT id, channel, destination, address, label, attempts, source FROM deliveries
WHERE status = 'pending' AND expires_at <= :now AND destination IN {_UNHELD}
    AND destination IN (SELECT key FROM destinations WHERE address_key NOT IN {{mine}})
"""
EXPIRED_UNKNOWN = (
    "expired: no process whose configuration has its destination sent it before its age "
    "limit (system.delivery.max_age, or the --deadline of the command that queued it)"
)
_GONE = f"""
SELECT id, channel, destination, address, label, attempts, source FROM deliveries
WHERE status = 'pending' AND created_at < :loaded_at AND destination IN {_UNHELD}
    AND destination IN (SELECT key FROM destinations WHERE address_key NOT IN {{mine}})
    AND event_id IN (SELECT id FROM events WHERE config = :config)
"""
GONE = (
    "its destination ({address}) is no longer in {config}: it was removed, or its address "
    "changed, after this delivery was queued, and it is sent nowhere else; `tidings retry "
    "{id} --replan` sends its event to today's configuration"
)
_END = """
UPDATE deliveries SET status = 'dead', updated_at = :now, finished_at = :now,
    last_error = :reason
WHERE id = :id AND status = 'pending'
"""
_IDLE = f"""
UPDATE destinations SET next_due_at = {_HEAD_DUE}
WHERE key = :key AND (lease_until IS NULL OR lease_until < :now)
"""


def sweep_expired(store: Store, now: float, addresses: str) -> list[Swept]:
    """End the pending deliveries past their age limit whose destination no process here
    can send (those this sender can send end when it works their destination)."""
    sql = _EXPIRED.format(mine=_each(store, "addresses"))
    return _sweep(
        store, sql, {"now": now, "addresses": addresses}, now, lambda row: EXPIRED_UNKNOWN
    )


def sweep_gone(
    store: Store, now: float, addresses: str, config: str, loaded_at: float
) -> list[Swept]:
    """End the pending deliveries this configuration (by name) queued before it was read,
    whose destination it no longer has: removed, or its address edited. A delivery queued
    after it was read may come from a newer copy of it (a rolling deploy): left alone."""
    sql = _GONE.format(mine=_each(store, "addresses"))
    params = {"now": now, "addresses": addresses, "config": config, "loaded_at": loaded_at}

    def reason(row: Any) -> str:
        return GONE.format(address=row[3] or row[2], config=config, id=row[0][-8:])

    return _sweep(store, sql, params, now, reason)


def _sweep(
    store: Store, select: str, params: dict[str, Any], now: float, reason: Any
) -> list[Swept]:
    with store.transaction() as tx:
        rows = tx.run(select, params) or []
        if not rows:
            return []
        swept = [Swept(*row, reason(row)) for row in sorted(rows)]
        tx.run(_END, [{"id": s.id, "now": now, "reason": s.reason} for s in swept])
        keys = sorted({s.destination for s in swept})
        tx.run(_IDLE, [{"key": key, "now": now} for key in keys])
    return swept


def statuses(store: Store, ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    with store.transaction(write=False) as tx:
        for start in range(0, len(ids), 500):
            marks, params = in_list(ids[start : start + 500])
            found.update(tx.run(f"SELECT id, status FROM deliveries WHERE id IN {marks}", params))
    return found
