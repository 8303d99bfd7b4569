"""The history's statements: deliveries listed and shown with their attempts, put back in the
queue, and the events they came from (for `retry --replan`).

Rows come back as dicts keyed by column name (what `--json` and the API show) or as small
dataclasses; JSON columns are decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from tidings.store.db import Store, Tx, from_json, in_list, json_each, to_json
from tidings.store.outbox import DestinationRow, upsert_destinations

_CHUNK = 500  # ids per IN list: bounded statements, however many are asked for


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _by_ids(tx: Tx, select: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of `select` (whose `{ids}` is an IN list) for these ids."""
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(ids):
        marks, params = in_list(chunk)
        rows += tx.dicts(select.format(ids=marks), params)
    return rows


# Every attempt, also those before a `retry` (which gives d.attempts a fresh budget).
_ALL_ATTEMPTS = "(SELECT COUNT(*) FROM attempts a WHERE a.delivery_id = d.id) AS attempts"
_LIST = f"""
SELECT d.id, d.status, d.channel, d.destination, d.source, d.address, d.label,
    {_ALL_ATTEMPTS}, d.last_code, d.last_error, d.created_at, d.finished_at, e.workflow,
    e.task_id, e.status AS event_status, e.kind, d.digest_id, x.paused_until, x.paused_reason
FROM deliveries d JOIN events e ON e.id = d.event_id
LEFT JOIN destinations x ON x.key = d.destination{{where}}
ORDER BY d.seq DESC LIMIT :limit
"""
# The only text a filter adds: its value is always a bound parameter, never part of the SQL.
_FILTERS = {
    "status": "d.status = :status",
    "task_id": "e.task_id = :task_id",
    "workflow": "e.workflow = :workflow",
}


def list_deliveries(
    store: Store,
    *,
    status: str | None = None,
    task_id: int | None = None,
    workflow: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Deliveries with their event's workflow, task id, status and kind, newest first;
    each filter given (a non-empty status or workflow, a task id) narrows the list."""
    given = {"status": status or None, "task_id": task_id, "workflow": workflow or None}
    params: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
    where = " AND ".join(_FILTERS[name] for name in params)
    sql = _LIST.format(where=f" WHERE {where}" if where else "")
    params["limit"] = limit
    with store.transaction(write=False) as tx:
        return tx.dicts(sql, params)


_SUMMARIES = (
    "SELECT id, channel, destination, source, label, status FROM deliveries WHERE id IN {ids}"
)


def summaries(store: Store, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Id, channel, destination, source, label and status of these deliveries, in the order
    given (ids not found are left out)."""
    if not ids:
        return []
    with store.transaction(write=False) as tx:
        found = {row["id"]: row for row in _by_ids(tx, _SUMMARIES, ids)}
    return [found[i] for i in ids if i in found]


def find_ids(store: Store, part: str) -> list[str]:
    """At most two ids of deliveries that start with `part`, else that end with it (lists
    show the end of ids, whose beginning is their creation time). `part` matches only
    itself: LIKE's wildcards in it are escaped."""
    escaped = part.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with store.transaction(write=False) as tx:
        for pattern in (f"{escaped}%", f"%{escaped}"):  # the first one uses the index
            rows = tx.run(
                "SELECT id FROM deliveries WHERE id LIKE :pattern ESCAPE '\\' LIMIT 2",
                {"pattern": pattern},
            )
            if rows:
                return [row[0] for row in rows]
    return []


_SHOW = f"""
SELECT d.seq, d.id, d.event_id, d.channel, d.destination, d.source, d.address, d.label,
    d.request, d.status, {_ALL_ATTEMPTS}, d.next_attempt_at, d.expires_at, d.created_at,
    d.updated_at, d.finished_at, d.last_code, d.last_error, d.digest_id, d.lane,
    e.workflow, e.task_id, e.status AS event_status, e.kind, e.scope
FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = :id
"""
_ATTEMPTS = """
SELECT id, delivery_id, at, duration_ms, outcome, http_status, code, detail, worker
FROM attempts WHERE delivery_id = :id ORDER BY id
"""


_CARRIES = """
SELECT d.id, d.status, d.source, e.id AS event_id, e.workflow, e.task_id,
    e.status AS event_status
FROM deliveries d JOIN events e ON e.id = d.event_id
WHERE d.digest_id IN (SELECT id FROM deliveries WHERE event_id = :event AND lane = 0)
ORDER BY d.seq
"""


def show(store: Store, delivery_id: str) -> dict[str, Any] | None:
    """One delivery with its event's workflow, task id, status, kind and scope, its stored
    request and every attempt (`attempts_log`, oldest first); None if there is no such
    delivery."""
    with store.transaction(write=False) as tx:
        found = tx.dicts(_SHOW, {"id": delivery_id})
        if not found:
            return None
        (data,) = found
        data["attempts_log"] = tx.dicts(_ATTEMPTS, {"id": delivery_id})
        # A digest's deliveries (its @all or mentions beside it) share its event: what the
        # digest carries was merged into the first of them.
        data["carries"] = (
            tx.dicts(_CARRIES, {"event": data["event_id"]}) if data["lane"] == 0 else []
        )
    data["request"] = from_json(data["request"])
    data["scope"] = from_json(data["scope"])
    return data


class NotQueued(NamedTuple):
    """A failed or dead delivery `requeue` left, because its destination cannot be sent."""

    id: str
    workflow: str | None  # None: an ad-hoc notification's


# Where `requeue` puts a delivery back: the row of its destination, None if it cannot.
Route = Callable[[str], DestinationRow | None]

_RETRYABLE = (
    "SELECT d.id, d.destination, d.status, e.workflow FROM deliveries d "
    "JOIN events e ON e.id = d.event_id WHERE d.{where}"
)
_REQUEUE = """
UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = :now,
    expires_at = :expires_at, finished_at = NULL, updated_at = :now
WHERE id = :id
"""

# Someone asked for these to be sent again (the receiver was fixed, say): their destinations
# are tried now, not after the rest of a circuit-breaker pause.
_RESUME = """
UPDATE destinations SET failures = 0, paused_until = NULL, paused_reason = NULL
WHERE key = :key AND paused_until IS NOT NULL
"""


def requeue(
    store: Store,
    ids: Sequence[str] | None,
    *,
    dead: bool,
    now: float,
    expires_at: float,
    route: Route,
) -> tuple[list[str], list[NotQueued]]:
    """Put failed or dead deliveries (these ids, else with `dead` every dead one) back in the
    queue under their ids, with a fresh retry budget, due now: (ids queued again, those left
    because `route` gave no destination for their key). Sent and pending ones are left alone.

    Read and written in one transaction, so what is put back is what was found failed. A
    paused destination (circuit breaker) is resumed: a person asked for it to be tried now.
    """
    if ids:
        marks, params = in_list(ids)
        where = f"id IN {marks}"
    elif dead:
        params, where = {}, "status = 'dead'"
    else:
        return [], []
    with store.transaction() as tx:
        found = tx.run(_RETRYABLE.format(where=where), params)
        queued: list[tuple[str, DestinationRow]] = []
        left: list[NotQueued] = []
        for id_, key, status, workflow in found:
            if status not in ("failed", "dead"):
                continue
            place = route(key)
            if place is None:
                left.append(NotQueued(id_, workflow))
            else:
                queued.append((id_, place))
        if not queued:
            return [], left
        tx.run(
            _REQUEUE,
            [{"id": id_, "now": now, "expires_at": expires_at} for id_, _ in sorted(queued)],
        )
        upsert_destinations(tx, (place for _, place in queued), now)
        tx.run(_RESUME, [{"key": key} for key in sorted({place["key"] for _, place in queued})])
    return [id_ for id_, _ in queued], left


def dead_ids(store: Store) -> list[str]:
    """Every dead delivery, oldest first."""
    with store.transaction(write=False) as tx:
        rows = tx.run("SELECT id FROM deliveries WHERE status = 'dead' ORDER BY seq")
    return [row[0] for row in rows]


@dataclass(frozen=True)
class DeliveryState:
    """A delivery as it ended (or stands)."""

    id: str
    channel: str
    destination: str
    address: str
    label: str
    status: str
    last_code: str | None
    last_error: str | None
    attempts: int
    source: str


_STATES = (
    "SELECT id, channel, destination, address, label, status, last_code, last_error, "
    "attempts, source FROM deliveries WHERE id IN {ids}"
)


def states(store: Store, ids: Sequence[str]) -> dict[str, DeliveryState]:
    """These deliveries' states, by id (ids not found are left out)."""
    if not ids:
        return {}
    with store.transaction(write=False) as tx:
        rows = _by_ids(tx, _STATES, ids)
    return {row["id"]: DeliveryState(**row) for row in rows}


@dataclass(frozen=True)
class StoredEvent:
    """An event as recorded: what `retry --replan` plans again."""

    id: str
    kind: str
    workflow: str | None
    task_id: int | None
    status: str | None
    snapshot: dict[str, Any] | None  # the task as notified
    scope: dict[str, Any]  # the scope of the ctls that fired ({} for the workflow's own)


_EVENTS = """
SELECT id, kind, workflow, task_id, status, snapshot, scope FROM events
WHERE id IN (SELECT event_id FROM deliveries WHERE id IN {each})
ORDER BY created_at, id
"""
_TASK_SNAPSHOT = "SELECT snapshot FROM tasks WHERE workflow = :w AND task_id = :t"


def events_of(store: Store, delivery_ids: Sequence[str]) -> list[StoredEvent]:
    """The events these deliveries belong to, each once, oldest first."""
    # The ids as one JSON array parameter: any number of them (`retry --dead --replan`).
    sql = _EVENTS.format(each=json_each(store.dialect, "ids"))
    events = []
    with store.transaction(write=False) as tx:
        for id_, kind, workflow, task_id, status, snapshot, scope in tx.run(
            sql, {"ids": to_json(list(delivery_ids))}
        ):
            notified = from_json(snapshot)
            if notified is None and workflow and task_id is not None:
                # Recorded before events kept their snapshot: the task's latest one.
                notified = from_json(tx.value(_TASK_SNAPSHOT, {"w": workflow, "t": task_id}))
            events.append(
                StoredEvent(id_, kind, workflow, task_id, status, notified, from_json(scope) or {})
            )
    return events


def reached(store: Store, event_id: str) -> set[str]:
    """The destination keys this event was sent to, or is on its way to."""
    with store.transaction(write=False) as tx:
        rows = tx.run(
            "SELECT destination FROM deliveries WHERE event_id = :e "
            "AND status IN ('sent', 'pending')",
            {"e": event_id},
        )
    return {row[0] for row in rows}
