"""The statements of digests (issue #18): recording a destination's backlog merged into
digests, atomically, and reading what a digest carries.

A coalescing is ONE transaction: the digest's event, the digests' deliveries (lane 0: sent
before the destination's other pending deliveries) and every merged delivery ended
`coalesced` with the id of its digest. A worker killed before it commits leaves the backlog
pending, as it was; after, the digests are pending in its place: never both, never neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from tidings.store.db import Store, from_json, in_list, retry_on_conflict, to_json


class DigestRow(TypedDict):
    """One delivery of a digest, pending: the parameters of _INSERT_DIGEST."""

    id: str
    channel: str
    destination: str
    source: str
    address: str
    label: str
    request: str  # the request as JSON text, without secrets
    expires_at: float


@dataclass(frozen=True)
class Coalescing:
    """A destination's backlog merged: the digests' rows, and each merged delivery's digest."""

    key: str  # the destination
    event_id: str  # the digest's event (kind "digest")
    config: str | None  # the configuration that merged it (sweeps find its deliveries)
    digests: Sequence[DigestRow]
    merged: dict[str, str]  # merged delivery id -> the id of the digest that carries it
    carried_events: Sequence[str]  # the events the digests stand for, oldest first


_LEASE = "SELECT lease_owner FROM destinations WHERE key = :key"
_STILL_PENDING = (
    "SELECT id FROM deliveries WHERE id IN {marks} AND status = 'pending' AND destination = :key"
)
_INSERT_EVENT = """
INSERT INTO events (id, kind, workflow, task_id, status, idempotency_key, created_at, config,
    snapshot, scope)
VALUES (:id, 'digest', NULL, NULL, NULL, NULL, :now, :config, NULL, :scope::json)
"""
_INSERT_DIGEST = """
INSERT INTO deliveries (id, event_id, channel, destination, source, address, label, request,
    status, attempts, next_attempt_at, expires_at, created_at, updated_at, lane)
VALUES (:id, :event_id, :channel, :destination, :source, :address, :label, :request::json,
    'pending', 0, :now, :expires_at, :now, :now, 0)
"""
_MERGE = """
UPDATE deliveries SET status = 'coalesced', digest_id = :digest_id, updated_at = :now,
    finished_at = :now
WHERE id = :id AND status = 'pending'
"""


def record(store: Store, owner: str, coalescing: Coalescing, now: float) -> bool:
    """Record a coalescing, if `owner` still holds the destination and every merged delivery
    is still pending (a `retry` or a sweep may have touched one); False: nothing written."""

    def work() -> bool:
        ids = sorted(coalescing.merged)
        with store.transaction() as tx:
            if tx.value(_LEASE, {"key": coalescing.key}) != owner:
                return False
            # PostgreSQL: lock them, so no `retry` or sweep changes one before this commits.
            lock = " FOR UPDATE" if store.dialect == "postgresql" else ""
            still = 0
            for start in range(0, len(ids), 500):
                marks, params = in_list(ids[start : start + 500])
                sql = _STILL_PENDING.format(marks=marks) + lock
                still += len(tx.run(sql, {**params, "key": coalescing.key}))
            if still != len(ids):
                return False
            scope = {"digest": [row["id"] for row in coalescing.digests]}
            scope["events"] = list(coalescing.carried_events)
            tx.run(
                _INSERT_EVENT,
                {
                    "id": coalescing.event_id,
                    "now": now,
                    "config": coalescing.config,
                    "scope": to_json(scope),
                },
            )
            tx.run(
                _INSERT_DIGEST,
                [
                    {**row, "event_id": coalescing.event_id, "now": now}
                    for row in coalescing.digests
                ],
            )
            tx.run(
                _MERGE,
                [{"id": i, "digest_id": coalescing.merged[i], "now": now} for i in ids],
            )
        return True

    return retry_on_conflict(work)


@dataclass(frozen=True)
class Carried:
    """A delivery a digest carries: the notification it was, and its event."""

    id: str
    event_id: str
    workflow: str | None
    task_id: int | None
    status: str | None
    source: str
    entry: dict[str, Any] | None  # the digest line it made (channels.digest.entry)


_CARRIED = """
SELECT d.id, d.event_id, e.workflow, e.task_id, e.status, d.source, d.request
FROM deliveries d JOIN events e ON e.id = d.event_id
WHERE d.digest_id IN {marks} ORDER BY d.seq
"""


def carried(store: Store, digest_ids: Sequence[str]) -> list[Carried]:
    """The deliveries merged into these digests, oldest first."""
    if not digest_ids:
        return []
    marks, params = in_list(list(digest_ids))
    with store.transaction(write=False) as tx:
        rows = tx.run(_CARRIED.format(marks=marks), params)
    return [
        Carried(r[0], r[1], r[2], r[3], r[4], r[5], (from_json(r[6]) or {}).get("digest"))
        for r in rows
    ]


def digest_of(store: Store, delivery_id: str) -> tuple[str | None, list[str]]:
    """(the digest a delivery was merged into, the other deliveries of its digest's event):
    a digest's deliveries share one event (its @all or mentions message beside it)."""
    with store.transaction(write=False) as tx:
        row = tx.run(
            "SELECT digest_id, event_id FROM deliveries WHERE id = :id", {"id": delivery_id}
        )
        if not row:
            return None, []
        digest_id, event_id = row[0]
        siblings = tx.run(
            "SELECT id FROM deliveries WHERE event_id = :e AND lane = 0 ORDER BY seq",
            {"e": event_id},
        )
    return digest_id, [s[0] for s in siblings]
