"""The outbox: an event and all its deliveries are recorded in ONE transaction, before any
network I/O. Nothing is sent that was not first recorded, and nothing recorded is lost."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson
from sqlalchemy import Connection, select

from tidings.channels.base import Request
from tidings.delivery.ids import new_id
from tidings.store import tables
from tidings.store.db import Store


@dataclass(frozen=True)
class NewEvent:
    kind: str  # "task" | "notification"
    workflow: str | None = None
    task_id: int | None = None
    status: str | None = None
    idempotency_key: str | None = None
    snapshot: dict[str, Any] | None = None  # the task, kept in `tasks`


@dataclass(frozen=True)
class NewDelivery:
    request: Request
    address: str  # redacted, for people


@dataclass(frozen=True)
class Enqueued:
    event_id: str
    delivery_ids: list[str]
    duplicate: bool = False  # the idempotency key was seen before: nothing new was recorded


_REQUEST_FIELDS = tuple(f.name for f in fields(Request))


_INSERT_DELIVERY = """
INSERT INTO deliveries (id, event_id, channel, destination, address, label, request, status,
    attempts, next_attempt_at, expires_at, created_at, updated_at)
VALUES (:id, :event_id, :channel, :destination, :address, :label, :request::json, 'pending',
    0, :now, :expires_at, :now, :now)
"""


def request_to_json(request: Request) -> dict[str, Any]:
    # Shallow: the body is already plain JSON data (asdict would deep-copy it, slowly).
    return {name: getattr(request, name) for name in _REQUEST_FIELDS}


def request_from_json(data: dict[str, Any]) -> Request:
    return Request(**data)


_UPSERT_DESTINATION = """
INSERT INTO destinations (key, channel, next_due_at, recent) VALUES (:key, :channel, :now, NULL)
ON CONFLICT (key) DO UPDATE SET next_due_at = CASE
    WHEN destinations.next_due_at IS NULL OR destinations.next_due_at > excluded.next_due_at
    THEN excluded.next_due_at ELSE destinations.next_due_at END
"""
_INSERT_EVENT = """
INSERT INTO events (id, kind, workflow, task_id, status, idempotency_key, created_at)
VALUES (:id, :kind, :workflow, :task_id, :status, :idempotency_key, :created_at)
"""


def upsert_destinations(
    connection: Connection, store: Store, keys: dict[str, str], now: float
) -> None:
    """Make each destination due now (or keep an earlier due time), creating it if new."""
    rows = [
        {"key": key, "channel": channel, "now": now}
        for key, channel in sorted(keys.items())  # a fixed order: no deadlock between writers
    ]
    if rows:
        store.run(connection, _UPSERT_DESTINATION, rows)


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
    from tidings.delivery.queue import retry_on_conflict

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
    destinations: dict[str, str] = {}
    with store.engine.begin() as connection:
        for event, deliveries in batch:
            key = event.idempotency_key
            if key:
                earlier = seen.get(key) or _recorded(connection, key)
                if earlier is not None:
                    results.append(Enqueued(earlier.event_id, earlier.delivery_ids, True))
                    continue
            event_id = new_id()
            store.run(
                connection,
                _INSERT_EVENT,
                {
                    "id": event_id,
                    "kind": event.kind,
                    "workflow": event.workflow,
                    "task_id": event.task_id,
                    "status": event.status,
                    "idempotency_key": key,
                    "created_at": now,
                },
            )
            if event.snapshot is not None and event.workflow and event.task_id is not None:
                _save_task(connection, store, event, now)
            ids = []
            for d in deliveries:
                ids.append(new_id())
                rows.append(
                    {
                        "id": ids[-1],
                        "event_id": event_id,
                        "channel": d.request.channel,
                        "destination": d.request.destination,
                        "address": d.address,
                        "label": d.request.label,
                        "request": orjson.dumps(request_to_json(d.request)).decode("utf-8"),
                        "now": now,
                        "expires_at": now + expires_in,
                    }
                )
                destinations[d.request.destination] = d.request.channel
            results.append(Enqueued(event_id, ids))
            if key:
                seen[key] = results[-1]
        if rows:
            store.run(connection, _INSERT_DELIVERY, rows)
            upsert_destinations(connection, store, destinations, now)
    return results


def _recorded(connection: Connection, key: str) -> Enqueued | None:
    """The event already recorded under this idempotency key, with its delivery ids."""
    found = connection.execute(
        select(tables.events.c.id).where(tables.events.c.idempotency_key == key)
    ).scalar()
    if not found:
        return None
    ids = connection.execute(
        select(tables.deliveries.c.id)
        .where(tables.deliveries.c.event_id == found)
        .order_by(tables.deliveries.c.seq)
    ).scalars()
    return Enqueued(found, list(ids), duplicate=True)


def _save_task(connection: Connection, store: Store, event: NewEvent, now: float) -> None:
    table = tables.tasks
    statement = store.insert(table).values(
        workflow=event.workflow,
        task_id=event.task_id,
        status=event.status or "",
        snapshot=event.snapshot,
        created_at=now,
        updated_at=now,
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.workflow, table.c.task_id],
            set_={"status": event.status or "", "snapshot": event.snapshot, "updated_at": now},
        )
    )
