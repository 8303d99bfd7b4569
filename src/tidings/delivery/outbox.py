"""The outbox: an event and all its deliveries are recorded in ONE transaction, before any
network I/O. Nothing is sent that was not first recorded, and nothing recorded is lost."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson

from tidings.channels import identity
from tidings.channels.base import Request
from tidings.delivery.ids import new_id
from tidings.store.db import Store, Tx


@dataclass(frozen=True)
class NewEvent:
    kind: str  # "task" | "notification"
    workflow: str | None = None
    task_id: int | None = None
    status: str | None = None
    idempotency_key: str | None = None
    snapshot: dict[str, Any] | None = None  # the task's latest state, kept in `tasks`
    config: str | None = None  # Config.name of the configuration that planned it
    # What `retry --replan` plans again: the task as notified (default: `snapshot`), and the
    # scope of the ctls that fired ({"job": name}, with "note" for a notification job).
    notified: dict[str, Any] | None = None
    scope: dict[str, Any] | None = None


@dataclass(frozen=True)
class NewDelivery:
    request: Request
    address: str  # redacted, for people
    source: str = ""  # the ctl it came from, for history: "release/notify_ctls[0]"


@dataclass(frozen=True)
class Enqueued:
    event_id: str
    delivery_ids: list[str]
    duplicate: bool = False  # the idempotency key was seen before: nothing new was recorded


_REQUEST_FIELDS = tuple(f.name for f in fields(Request))


_INSERT_DELIVERY = """
INSERT INTO deliveries (id, event_id, channel, destination, source, address, label, request,
    status, attempts, next_attempt_at, expires_at, created_at, updated_at)
VALUES (:id, :event_id, :channel, :destination, :source, :address, :label, :request::json,
    'pending', 0, :now, :expires_at, :now, :now)
"""


def request_to_json(request: Request) -> dict[str, Any]:
    # Shallow: the body is already plain JSON data (asdict would deep-copy it, slowly).
    return {name: getattr(request, name) for name in _REQUEST_FIELDS}


def request_from_json(data: dict[str, Any]) -> Request:
    return Request(**data)


_UPSERT_DESTINATION = """
INSERT INTO destinations (key, channel, address_key, next_due_at, recent)
VALUES (:key, :channel, :address_key, :now, NULL)
ON CONFLICT (key) DO UPDATE SET next_due_at = CASE
    WHEN destinations.next_due_at IS NULL OR destinations.next_due_at > excluded.next_due_at
    THEN excluded.next_due_at ELSE destinations.next_due_at END
"""
_INSERT_EVENT = """
INSERT INTO events (id, kind, workflow, task_id, status, idempotency_key, created_at, config,
    snapshot, scope)
VALUES (:id, :kind, :workflow, :task_id, :status, :idempotency_key, :created_at, :config,
    :snapshot::json, :scope::json)
"""


def upsert_destinations(tx: Tx, keys: Iterable[str], now: float) -> None:
    """Make each destination due now (or keep an earlier due time), creating it if new."""
    rows = [
        {
            "key": key,
            "channel": identity.channel_of(key),
            "address_key": identity.address_of(key),
            "now": now,
        }
        for key in sorted(set(keys))  # a fixed order: no deadlock between writers
    ]
    if rows:
        tx.run(_UPSERT_DESTINATION, rows)


def enqueue(
    store: Store,
    event: NewEvent,
    deliveries: Iterable[NewDelivery],
    *,
    now: float,
    expires_in: float,
) -> Enqueued:
    """Record the event and its deliveries atomically; return their ids."""
    return enqueue_many(store, [(event, list(deliveries))], now=now, expires_in=expires_in)[0]


def enqueue_many(
    store: Store,
    batch: Sequence[tuple[NewEvent, Sequence[NewDelivery]]],
    *,
    now: float,
    expires_in: float,
) -> list[Enqueued]:
    """Record several events, each with all its deliveries, in ONE transaction (group commit:
    a service taking many events at once pays for one commit, not one each). All or none;
    results in the order given. An idempotency key seen before, or earlier in the same batch,
    records nothing new and answers with the first event's ids (`duplicate`)."""
    from tidings.store.db import retry_on_conflict

    return retry_on_conflict(lambda: _enqueue(store, batch, now, expires_in))


def _enqueue(
    store: Store,
    batch: Sequence[tuple[NewEvent, Sequence[NewDelivery]]],
    now: float,
    expires_in: float,
) -> list[Enqueued]:
    results: list[Enqueued] = []
    seen: dict[str, Enqueued] = {}  # idempotency keys recorded by this batch
    rows: list[dict[str, Any]] = []
    destinations: set[str] = set()
    with store.transaction() as tx:
        for event, deliveries in batch:
            key = event.idempotency_key
            if key:
                earlier = seen.get(key) or _recorded(tx, key)
                if earlier is not None:
                    results.append(Enqueued(earlier.event_id, earlier.delivery_ids, True))
                    continue
            event_id = new_id()
            snapshot = _json_text(event.snapshot)
            notified = snapshot if event.notified is None else _json_text(event.notified)
            tx.run(
                _INSERT_EVENT,
                {
                    "id": event_id,
                    "kind": event.kind,
                    "workflow": event.workflow,
                    "task_id": event.task_id,
                    "status": event.status,
                    "idempotency_key": key,
                    "created_at": now,
                    "config": event.config,
                    "snapshot": notified,
                    "scope": _json_text(event.scope),
                },
            )
            if snapshot is not None and event.workflow and event.task_id is not None:
                _save_task(tx, event, snapshot, now)
            ids = _delivery_rows(event_id, deliveries, now, expires_in, rows)
            destinations.update(d.request.destination for d in deliveries)
            results.append(Enqueued(event_id, ids))
            if key:
                seen[key] = results[-1]
        if rows:
            tx.run(_INSERT_DELIVERY, rows)
            upsert_destinations(tx, destinations, now)
    return results


def _delivery_rows(
    event_id: str,
    deliveries: Sequence[NewDelivery],
    now: float,
    expires_in: float,
    rows: list[dict[str, Any]],
) -> list[str]:
    """Add the rows of an event's deliveries to `rows`; their new ids."""
    ids = []
    for d in deliveries:
        ids.append(new_id())
        rows.append(
            {
                "id": ids[-1],
                "event_id": event_id,
                "channel": d.request.channel,
                "destination": d.request.destination,
                "source": d.source,
                "address": d.address,
                "label": d.request.label,
                "request": orjson.dumps(request_to_json(d.request)).decode("utf-8"),
                "now": now,
                "expires_at": now + expires_in,
            }
        )
    return ids


def add_deliveries(
    store: Store,
    event_id: str,
    deliveries: Sequence[NewDelivery],
    *,
    now: float,
    expires_in: float,
) -> list[str]:
    """Record more deliveries of an event already recorded (`retry --replan`); their ids."""
    rows: list[dict[str, Any]] = []
    ids = _delivery_rows(event_id, deliveries, now, expires_in, rows)
    if rows:
        with store.transaction() as tx:
            tx.run(_INSERT_DELIVERY, rows)
            upsert_destinations(tx, (d.request.destination for d in deliveries), now)
    return ids


def _recorded(tx: Tx, key: str) -> Enqueued | None:
    """The event already recorded under this idempotency key, with its delivery ids."""
    found = tx.value("SELECT id FROM events WHERE idempotency_key = :key", {"key": key})
    if not found:
        return None
    rows = tx.run("SELECT id FROM deliveries WHERE event_id = :id ORDER BY seq", {"id": found})
    return Enqueued(found, [row[0] for row in rows], duplicate=True)


_SAVE_TASK = """
INSERT INTO tasks (workflow, task_id, status, snapshot, created_at, updated_at)
VALUES (:workflow, :task_id, :status, :snapshot::json, :now, :now)
ON CONFLICT (workflow, task_id) DO UPDATE SET status = excluded.status,
    snapshot = excluded.snapshot, updated_at = excluded.updated_at
"""


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode("utf-8")


def _save_task(tx: Tx, event: NewEvent, snapshot: str, now: float) -> None:
    """Keep the latest snapshot of the task (history and `tasks` show it)."""
    tx.run(
        _SAVE_TASK,
        {
            "workflow": event.workflow,
            "task_id": event.task_id,
            "status": event.status or "",
            "snapshot": snapshot,
            "now": now,
        },
    )
