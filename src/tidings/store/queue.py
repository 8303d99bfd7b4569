"""The queue's statements: claiming destinations, reading their pending deliveries, recording
results, ending what nobody can send, and how deep the queue is.

A destination is held by one sender at a time (a lease in `destinations`), which keeps its
deliveries in event order; on PostgreSQL claims skip rows another worker holds (SKIP LOCKED),
so workers on several machines share the work without waiting on each other. A sender claims
only destinations its configuration addresses (their address keys): what another
configuration queued is left to it, and ended only by it (sweep_gone) or by its age limit
(sweep_expired).

This is the worker's hot path: rows go in as the statements' own parameter dicts
(`DeliveryUpdate`, `AttemptRow`), built once by the worker and never copied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter, itemgetter
from typing import Any, TypedDict

import orjson

from tidings.store import workers
from tidings.store.db import Store, from_json, in_list, json_each, retry_on_conflict

FINAL = ("sent", "failed", "dead", "coalesced")  # coalesced: merged into a digest (issue #18)


@dataclass(frozen=True)
class Circuit:
    """A destination's circuit breaker: retryable failures in a row, pauses in a row, and
    while paused, until when and why (the failure that paused it)."""

    failures: int = 0
    pauses: int = 0
    paused_until: float | None = None
    reason: str | None = None


@dataclass
class Claimed:
    """A destination this sender now holds, until `lease_until`."""

    key: str
    channel: str
    recent: list[float]  # its recent send times (pacing)
    lease_until: float
    circuit: Circuit = Circuit()


@dataclass
class Release:
    """A destination to hand back, with its send times since the claim."""

    key: str
    recent: list[float]
    not_before: float | None = None  # pacing: do not send before this time
    circuit: Circuit = Circuit()  # as the sends under this claim left it


class DeliveryUpdate(TypedDict):
    """A delivery's state after an attempt, or after it ended unsent: every column, always
    (so one statement serves every update)."""

    id: str
    status: str
    attempts: int
    updated_at: float
    next_attempt_at: float
    finished_at: float | None
    last_code: str | None
    last_error: str | None


class AttemptRow(TypedDict):
    """One send attempt, for the history."""

    delivery_id: str
    at: float
    duration_ms: float
    outcome: str  # ok | retry | fail
    http_status: int | None
    code: str | None
    detail: str
    worker: str


# Destinations with work due, nobody holding them, not paused, that this sender can resolve
# and is not sending to already.
_DUE = """
    FROM destinations
    WHERE next_due_at <= :now AND (lease_until IS NULL OR lease_until < :now)
        AND (paused_until IS NULL OR paused_until <= :now)
        AND address_key IN {addresses} AND key NOT IN {held}
"""
_CLAIM = """
UPDATE destinations SET lease_owner = :owner, lease_until = :until
WHERE key IN (
    SELECT key {due}
    ORDER BY next_due_at LIMIT :limit {lock}
) AND (lease_until IS NULL OR lease_until < :now)
RETURNING key, channel, recent, failures, pauses, paused_until, paused_reason
"""


def claim(
    store: Store,
    owner: str,
    now: float,
    lease: float,
    limit: int,
    addresses: str,
    held: str = "[]",
    share: tuple[float, int] | None = None,
) -> list[Claimed]:
    """Lease up to `limit` destinations that have work due, nobody holding them, and whose
    address key is among `addresses` (a JSON array: what this sender can resolve), but none of
    `held` (a JSON array of keys): what this sender is still sending to, even if its lease
    ran out meanwhile, is never claimed by it a second time.

    `share` = (since, least): while other workers seen since `since` are alive, take only a
    fair share of what is due (its count divided by the workers alive, rounded up, but at
    least `least`), so that each of them gets some; alone, take up to `limit`."""
    # PostgreSQL: skip rows another worker is claiming instead of waiting for it.
    lock = "FOR UPDATE SKIP LOCKED" if store.dialect == "postgresql" else ""
    due = _DUE.format(
        addresses=json_each(store.dialect, "addresses"), held=json_each(store.dialect, "held")
    )
    params: dict[str, Any] = {
        "owner": owner,
        "until": now + lease,
        "now": now,
        "addresses": addresses,
        "held": held,
    }
    with store.transaction() as tx:
        if share is not None:
            since, least = share
            alive = workers.counted(tx, since)
            if alive > 1:
                counted = {k: params[k] for k in ("now", "addresses", "held")}
                waiting = int(tx.value(f"SELECT count(*) {due}", counted) or 0)
                limit = min(limit, max(least, -(-waiting // alive)))
        params["limit"] = limit
        rows = tx.run(_CLAIM.format(due=due, lock=lock), params)
    return [
        Claimed(
            key,
            channel,
            list(from_json(recent) or []),
            now + lease,
            Circuit(failures, pauses, paused_until, reason),
        )
        for key, channel, recent, failures, pauses, paused_until, reason in rows
    ]


_RENEW = """
UPDATE destinations SET lease_until = :until
WHERE lease_owner = :owner AND key IN {keys}
RETURNING key
"""


def renew(store: Store, owner: str, keys: str, until: float) -> set[str]:
    """Extend the leases `owner` still holds on `keys` (a JSON array) to `until`; the keys
    renewed. A key missing from the answer was claimed by another sender after its lease
    ran out: what is being sent to it must stop."""
    sql = _RENEW.format(keys=json_each(store.dialect, "keys"))
    with store.transaction() as tx:
        rows = tx.run(sql, {"owner": owner, "keys": keys, "until": until})
    return {row[0] for row in rows}


@dataclass
class Pending:
    """A pending delivery, as the worker sends it."""

    seq: int
    id: str
    channel: str
    request: dict[str, Any]  # the stored request (channels.base.Request's fields)
    attempts: int
    next_attempt_at: float
    expires_at: float
    address: str
    label: str
    destination: str
    source: str
    event_id: str = ""
    lane: int = 1  # 0: a digest, sent before the other pending deliveries of its destination


# Digests first (lane 0: each stands in the place of its oldest message, the queue's head when
# it was made), then event order.
_PENDING = """
SELECT seq, id, channel, request, attempts, next_attempt_at, expires_at, address, label,
    destination, source, event_id, lane
FROM deliveries WHERE destination = :key AND status = 'pending' ORDER BY lane, seq LIMIT :limit
"""


def pending(store: Store, key: str, limit: int) -> list[Pending]:
    """The destination's pending deliveries: its digests, then oldest event first."""
    with store.transaction(write=False) as tx:
        rows = tx.run(_PENDING, {"key": key, "limit": limit})
    # Indexed, not unpacked: the cheapest way per row on this hot path.
    return [
        Pending(
            r[0],
            r[1],
            r[2],
            from_json(r[3]),
            r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            r[9],
            r[10],
            r[11],
            r[12],
        )
        for r in rows
    ]


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
    "ORDER BY lane, seq LIMIT 1)"
)
_RELEASE = f"""
UPDATE destinations SET lease_owner = NULL, lease_until = NULL, recent = :recent::json,
    next_due_at = CASE WHEN {_HEAD_DUE} < :not_before THEN :not_before ELSE {_HEAD_DUE} END,
    failures = :failures, pauses = :pauses, paused_until = :paused_until,
    paused_reason = :paused_reason
WHERE key = :key AND lease_owner = :owner
"""


def write(
    store: Store,
    updates: Sequence[DeliveryUpdate],
    attempts: Sequence[AttemptRow],
    releases: Sequence[Release],
    owner: str,
) -> None:
    """Record results and release destinations (held by `owner`), atomically (group commit).

    Rows are locked in one global order (deliveries by id, destinations by key), the order
    the outbox uses too, so concurrent writers never deadlock; a conflict PostgreSQL still
    reports is retried (the transaction is all or nothing).
    """
    by_id = sorted(updates, key=itemgetter("id"))
    params = [
        {
            "key": release.key,
            "owner": owner,
            "recent": orjson.dumps(release.recent).decode(),
            # A paused destination is due when its pause ends, not before.
            "not_before": max(release.not_before or 0.0, release.circuit.paused_until or 0.0),
            "failures": release.circuit.failures,
            "pauses": release.circuit.pauses,
            "paused_until": release.circuit.paused_until,
            "paused_reason": release.circuit.reason,
        }
        for release in sorted(releases, key=attrgetter("key"))
    ]

    def work() -> None:
        with store.transaction() as tx:
            if by_id:
                tx.run(_UPDATE_DELIVERY, by_id)
            if attempts:
                tx.run(_INSERT_ATTEMPT, attempts)
            if params:
                tx.run(_RELEASE, params)

    retry_on_conflict(work)


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


@dataclass(frozen=True)
class Swept:
    """A pending delivery a sweep ended (dead) without sending it."""

    id: str
    channel: str
    destination: str
    address: str
    label: str
    attempts: int
    source: str
    reason: str = ""  # recorded as its last error


_UNHELD = "(SELECT key FROM destinations WHERE lease_until IS NULL OR lease_until < :now)"
_EXPIRED = f"""
SELECT id, channel, destination, address, label, attempts, source FROM deliveries
WHERE status = 'pending' AND expires_at <= :now AND destination IN {_UNHELD}
    AND destination IN (SELECT key FROM destinations WHERE address_key NOT IN {{mine}})
"""
_GONE = f"""
SELECT id, channel, destination, address, label, attempts, source FROM deliveries
WHERE status = 'pending' AND created_at < :loaded_at AND destination IN {_UNHELD}
    AND destination IN (SELECT key FROM destinations WHERE address_key NOT IN {{mine}})
    AND event_id IN (SELECT id FROM events WHERE config = :config)
"""
_END = """
UPDATE deliveries SET status = 'dead', updated_at = :now, finished_at = :now,
    last_error = :reason
WHERE id = :id AND status = 'pending'
"""
_IDLE = f"""
UPDATE destinations SET next_due_at = {_HEAD_DUE}
WHERE key = :key AND (lease_until IS NULL OR lease_until < :now)
"""

Reason = Callable[[Swept], str]  # why a swept delivery ended (its `reason` is still "")


def sweep_expired(store: Store, now: float, addresses: str, reason: Reason) -> list[Swept]:
    """End the pending deliveries past their age limit whose destination no sender with
    `addresses` (a JSON array of address keys) can send: those it can send end when it works
    their destination."""
    sql = _EXPIRED.format(mine=json_each(store.dialect, "addresses"))
    return _sweep(store, sql, {"now": now, "addresses": addresses}, now, reason)


def sweep_gone(
    store: Store, now: float, addresses: str, config: str, loaded_at: float, reason: Reason
) -> list[Swept]:
    """End the pending deliveries the configuration named `config` queued before it was read
    (`loaded_at`), whose destination it no longer has (its address keys are `addresses`):
    removed, or its address edited. A delivery queued after it was read may come from a
    newer copy of it (a rolling deploy): left alone."""
    sql = _GONE.format(mine=json_each(store.dialect, "addresses"))
    params = {"now": now, "addresses": addresses, "config": config, "loaded_at": loaded_at}
    return _sweep(store, sql, params, now, reason)


def _sweep(
    store: Store, select: str, params: dict[str, Any], now: float, reason: Reason
) -> list[Swept]:
    # Read and ended in one transaction: nothing found here is sent meanwhile.
    with store.transaction() as tx:
        rows = tx.run(select, params) or []
        if not rows:
            return []
        found = [Swept(*row) for row in sorted(rows)]
        swept = [replace(row, reason=reason(row)) for row in found]
        tx.run(_END, [{"id": s.id, "now": now, "reason": s.reason} for s in swept])
        keys = sorted({s.destination for s in swept})
        tx.run(_IDLE, [{"key": key, "now": now} for key in keys])
    return swept


def statuses(store: Store, ids: Sequence[str]) -> dict[str, str]:
    """The status of each of these deliveries (those that exist), by id."""
    found: dict[str, str] = {}
    with store.transaction(write=False) as tx:
        for start in range(0, len(ids), 500):  # bounded statements, whatever the number
            marks, params = in_list(ids[start : start + 500])
            found.update(tx.run(f"SELECT id, status FROM deliveries WHERE id IN {marks}", params))
    return found


def depth(store: Store) -> tuple[int, float | None]:
    """How many deliveries are pending, and when the oldest of them was recorded."""
    with store.transaction(write=False) as tx:
        rows = tx.run("SELECT count(*), min(created_at) FROM deliveries WHERE status = 'pending'")
    count, oldest = rows[0]
    return int(count), oldest


def lag_by_destination(store: Store, limit: int = 1000) -> list[tuple[str, str, float]]:
    """(destination key, channel, when its oldest pending delivery was recorded) of the
    destinations with the oldest pending deliveries, at most `limit` (a bounded scrape)."""
    with store.transaction(write=False) as tx:
        rows = tx.run(
            "SELECT destination, min(channel), min(created_at) AS oldest FROM deliveries "
            "WHERE status = 'pending' GROUP BY destination ORDER BY oldest LIMIT :limit",
            {"limit": limit},
        )
    return [(key, channel, float(oldest)) for key, channel, oldest in rows]


def keep_pending(store: Store, ids: Sequence[str], until: float | None) -> list[str]:
    """Of these deliveries, those still pending, in the order given; with `until`, kept in the
    queue until then (a send interrupted before its deadline leaves them to a worker)."""
    kept: set[str] = set()
    with store.transaction(write=until is not None) as tx:
        for start in range(0, len(ids), 500):
            marks, params = in_list(ids[start : start + 500])
            where = f"WHERE id IN {marks} AND status = 'pending'"
            kept.update(row[0] for row in tx.run(f"SELECT id FROM deliveries {where}", params))
            if until is not None:
                tx.run(
                    f"UPDATE deliveries SET expires_at = :until {where} AND expires_at < :until",
                    {**params, "until": until},
                )
    return [i for i in ids if i in kept]


def pending_addresses(store: Store, addresses: Sequence[str]) -> set[str]:
    """Of these address keys, those with a delivery still pending (claimed or not)."""
    found: set[str] = set()
    sql = (
        "SELECT DISTINCT address_key FROM destinations WHERE address_key IN {marks} AND key IN "
        "(SELECT destination FROM deliveries WHERE status = 'pending')"
    )
    with store.transaction(write=False) as tx:
        for start in range(0, len(addresses), 500):
            marks, params = in_list(addresses[start : start + 500])
            found.update(row[0] for row in tx.run(sql.format(marks=marks), params))
    return found
