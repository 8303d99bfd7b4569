"""The outbox's statements: an event and all its deliveries recorded in ONE transaction, the
task's latest snapshot kept beside it, and each destination made due.

The delivery layer prepares the rows (ids, the serialised request, destination keys and what
they belong to: channels.identity); this module only writes them. Hot path: each delivery's
row is the INSERT's own parameter dict, built once and never copied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypedDict

from tidings.store.db import Store, Tx, in_list, retry_on_conflict, to_json


@dataclass(frozen=True)
class NewEvent:
    """Something to notify: a task status, or an ad-hoc notification (kind "notification")."""

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
class Enqueued:
    """What recording an event did: its id and its deliveries' ids, in the order given."""

    event_id: str
    delivery_ids: list[str]
    duplicate: bool = False  # the idempotency key was seen before: nothing new was recorded
    refused: str | None = None  # why nothing was recorded: the task is run by tidings itself


class DeliveryRow(TypedDict):
    """One new delivery, pending: the parameters of _INSERT_DELIVERY."""

    id: str
    event_id: str
    channel: str
    destination: str  # its destination key
    source: str  # the ctl it came from, for history
    address: str  # redacted, for people
    label: str
    request: str  # the request as JSON text, without secrets
    now: float  # recorded, and due, at
    expires_at: float


class DestinationRow(TypedDict):
    """A destination deliveries were recorded for: its key, the channel it was made for and
    its address key (what a configuration must hold to send to it)."""

    key: str
    channel: str
    address_key: str


class Recording(NamedTuple):
    """One event to record, with the rows of its deliveries and of their destinations."""

    event: NewEvent
    event_id: str
    deliveries: Sequence[DeliveryRow]
    destinations: Sequence[DestinationRow]


_INSERT_EVENT = """
INSERT INTO events (id, kind, workflow, task_id, status, idempotency_key, created_at, config,
    snapshot, scope)
VALUES (:id, :kind, :workflow, :task_id, :status, :idempotency_key, :created_at, :config,
    :snapshot::json, :scope::json)
"""
_INSERT_DELIVERY = """
INSERT INTO deliveries (id, event_id, channel, destination, source, address, label, request,
    status, attempts, next_attempt_at, expires_at, created_at, updated_at)
VALUES (:id, :event_id, :channel, :destination, :source, :address, :label, :request::json,
    'pending', 0, :now, :expires_at, :now, :now)
"""
_UPSERT_DESTINATION = """
INSERT INTO destinations (key, channel, address_key, next_due_at, recent)
VALUES (:key, :channel, :address_key, :now, NULL)
ON CONFLICT (key) DO UPDATE SET next_due_at = CASE
    WHEN destinations.next_due_at IS NULL OR destinations.next_due_at > excluded.next_due_at
    THEN excluded.next_due_at ELSE destinations.next_due_at END
"""
_SAVE_TASK = """
INSERT INTO tasks (workflow, task_id, status, snapshot, created_at, updated_at)
VALUES (:workflow, :task_id, :status, :snapshot::json, :now, :now)
ON CONFLICT (workflow, task_id) DO UPDATE SET status = excluded.status,
    snapshot = excluded.snapshot, updated_at = excluded.updated_at
WHERE NOT EXISTS (
    SELECT 1 FROM runs WHERE runs.workflow = tasks.workflow AND runs.task_id = tasks.task_id
)
"""


def upsert_destinations(tx: Tx, destinations: Iterable[DestinationRow], now: float) -> None:
    """Make each destination due now (or keep an earlier due time), creating it if new."""
    unique = {row["key"]: row for row in destinations}
    # A fixed order (by key, as the worker's writes): no deadlock between writers.
    rows = [{**unique[key], "now": now} for key in sorted(unique)]
    if rows:
        tx.run(_UPSERT_DESTINATION, rows)


def record(store: Store, batch: Sequence[Recording], now: float) -> list[Enqueued]:
    """Record several events, each with all its deliveries, in ONE transaction (group commit:
    a service taking many events at once pays for one commit, not one each). All or none;
    results in the order given. An idempotency key seen before, or earlier in the same batch,
    records nothing new and answers with the first event's ids (`duplicate`); the ids
    prepared for it are not used."""
    return retry_on_conflict(lambda: _record(store, batch, now))


def _record(store: Store, batch: Sequence[Recording], now: float) -> list[Enqueued]:
    results: list[Enqueued] = []
    seen: dict[str, Enqueued] = {}  # idempotency keys recorded by this batch
    rows: list[DeliveryRow] = []
    destinations: list[DestinationRow] = []
    owned: set[tuple[str | None, int | None]] | None = None  # tasks the runner owns
    with store.transaction() as tx:
        for event, event_id, deliveries, places in batch:
            key = event.idempotency_key
            if key:
                earlier = seen.get(key) or _recorded(tx, key)
                if earlier is not None:
                    results.append(Enqueued(earlier.event_id, earlier.delivery_ids, True))
                    continue
            snapshot = to_json(event.snapshot)
            if owned is None:  # once per batch: one statement, not one per event
                owned = _runs_among(tx, batch)
            if snapshot is not None and (event.workflow, event.task_id) in owned:
                # A snapshot from outside (`send`, POST /events) for a task the runner owns:
                # its status, stages and jobs (and the log files they name) are the runner's.
                results.append(Enqueued("", [], refused=_owned(event)))
                continue
            notified = snapshot if event.notified is None else to_json(event.notified)
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
                    "scope": to_json(event.scope),
                },
            )
            if snapshot is not None and event.workflow and event.task_id is not None:
                _save_task(tx, event, snapshot, now)
            rows += deliveries
            destinations += places
            results.append(Enqueued(event_id, [row["id"] for row in deliveries]))
            if key:
                seen[key] = results[-1]
        if rows:
            tx.run(_INSERT_DELIVERY, rows)
            upsert_destinations(tx, destinations, now)
    return results


def add_deliveries(
    store: Store,
    deliveries: Sequence[DeliveryRow],
    destinations: Sequence[DestinationRow],
    now: float,
) -> None:
    """Record more deliveries of events already recorded (`retry --replan`)."""
    if deliveries:
        with store.transaction() as tx:
            tx.run(_INSERT_DELIVERY, list(deliveries))
            upsert_destinations(tx, destinations, now)


def _recorded(tx: Tx, key: str) -> Enqueued | None:
    """The event already recorded under this idempotency key, with its delivery ids."""
    found = tx.value("SELECT id FROM events WHERE idempotency_key = :key", {"key": key})
    if not found:
        return None
    rows = tx.run("SELECT id FROM deliveries WHERE event_id = :id ORDER BY seq", {"id": found})
    return Enqueued(found, [row[0] for row in rows], duplicate=True)


def _runs_among(tx: Tx, batch: Sequence[Recording]) -> set[tuple[str | None, int | None]]:
    """The (workflow, task id) of the batch's task snapshots that tidings runs itself."""
    pairs = {
        (r.event.workflow, r.event.task_id)
        for r in batch
        if r.event.snapshot is not None and r.event.workflow and r.event.task_id is not None
    }
    if not pairs:
        return set()
    workflows, workflow_params = in_list(sorted({w for w, _ in pairs}))
    ids = {f"t{n}": task_id for n, task_id in enumerate(sorted({t for _, t in pairs}))}
    tasks = "(" + ", ".join(f":{name}" for name in ids) + ")"
    rows = tx.run(
        f"SELECT workflow, task_id FROM runs WHERE workflow IN {workflows} AND task_id IN {tasks}",
        {**workflow_params, **ids},
    )
    return {(w, t) for w, t in rows} & pairs


def _owned(event: NewEvent) -> str:
    return (
        f"task {event.workflow}#{event.task_id} is run by tidings itself: its status, stages "
        "and jobs come from its runner, and an event from outside cannot change them; send "
        "events only for tasks another system runs (its own task ids)"
    )


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
