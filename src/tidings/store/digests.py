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
from typing import TypedDict

from tidings.store.db import Store, in_list, retry_on_conflict, to_json


class DigestRow(TypedDict):
    """One delivery of a digest, pending: the parameters of _INSERT_DIGEST."""

    id: str
    channel: str
    destination: str
    source: str
    address: str
    label: str
    request: str  # the request as JSON text, without secrets
    due: float  # its first attempt: when its oldest message was next due (a retry's wait kept)
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
    'pending', 0, :due, :expires_at, :now, :now, 0)
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


def waiting(store: Store, key: str) -> int:
    """How many deliveries of this destination are pending (its whole backlog)."""
    with store.transaction(write=False) as tx:
        return int(
            tx.value(
                "SELECT count(*) FROM deliveries WHERE destination = :key AND status = 'pending'",
                {"key": key},
            )
        )


_MERGED_INTO = """
SELECT m.id FROM deliveries m
WHERE m.digest_id IN (
    SELECT s.id FROM deliveries s JOIN deliveries d ON d.event_id = s.event_id
    WHERE d.id = :id AND d.lane = 0 AND s.lane = 0
)
ORDER BY m.seq
"""


def unmerged(store: Store, delivery_ids: Sequence[str]) -> list[str]:
    """These deliveries, each digest among them replaced by the deliveries merged into it."""
    found: list[str] = []
    with store.transaction(write=False) as tx:
        for delivery_id in delivery_ids:
            merged = [row[0] for row in tx.run(_MERGED_INTO, {"id": delivery_id})]
            found += merged or [delivery_id]
    return list(dict.fromkeys(found))
