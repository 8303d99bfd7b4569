"""Browsing history a page at a time, and its aggregates: what `tidings serve`'s pages read.

Every statement is bounded: a page of deliveries is found by keyset (`seq` below or above
the last one seen, never an OFFSET), so the 1,000th page costs what the first does; the
aggregates read only the last day through an index that holds every column they count.
Filters are bound parameters, never part of the SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tidings.store.db import Store, Tx

MAX_PAGE = 200  # rows of one page, whatever is asked

_COLUMNS = """d.seq, d.id, d.status, d.channel, d.destination, d.source, d.address, d.label,
    d.attempts, d.last_code, d.last_error, d.created_at, d.finished_at, e.workflow, e.task_id,
    e.status AS event_status, e.kind"""

# The only text a filter adds: its value is always a bound parameter.
_FILTERS = {
    "status": "d.status = :status",
    "channel": "d.channel = :channel",
    # A subquery through ix_events_workflow_task: deliveries are then read newest first and
    # kept when their event is in it, so a page stops as soon as it is full.
    "workflow": "d.event_id IN (SELECT id FROM events WHERE workflow = :workflow)",
    "since": "d.created_at >= :since",
    "until": "d.created_at < :until",
    "before": "d.seq < :before",
    "after": "d.seq > :after",
}


@dataclass(frozen=True)
class Page:
    """Deliveries newest first, and whether there are older (`more`) or newer (`newer`) ones
    than those shown."""

    rows: list[dict[str, Any]]
    more: bool
    newer: bool


def _keyset(given: dict[str, Any], before: int | None, after: int | None) -> dict[str, Any]:
    """The filters given, and where the page starts: below `before`, else above `after`."""
    if before is not None:
        given["before"] = before
    elif after is not None:
        given["after"] = after
    return {name: value for name, value in given.items() if value is not None}


def _page_of(rows: list[dict[str, Any]], limit: int, ascending: bool, before: int | None) -> Page:
    """A page from `limit` + 1 rows read in keyset order (the extra one: another page)."""
    extra = len(rows) > limit
    rows = rows[:limit]
    if ascending:
        rows.reverse()
        return Page(rows, more=True, newer=extra)
    return Page(rows, more=extra, newer=before is not None)


def page(
    store: Store,
    *,
    status: str | None = None,
    channel: str | None = None,
    workflow: str | None = None,
    since: float | None = None,
    until: float | None = None,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> Page:
    """One page of deliveries with their event's workflow, task id, status and kind, newest
    first: those older than `before` (a `seq`), or else the oldest ones newer than `after`,
    or else the newest; each filter given narrows it."""
    limit = max(1, min(limit, MAX_PAGE))
    given: dict[str, Any] = {
        "status": status or None,
        "channel": channel or None,
        "workflow": workflow or None,
        "since": since,
        "until": until,
    }
    params = _keyset(given, before, after)
    where = " AND ".join(_FILTERS[name] for name in params)
    ascending = "after" in params
    order = "ASC" if ascending else "DESC"
    # The page's seqs first, from the indexes alone; then only their rows are read and joined
    # (a filter that matches many rows never sorts them whole).
    sql = (
        f"SELECT {_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id "
        f"WHERE d.seq IN (SELECT d.seq FROM deliveries d"
        + (f" WHERE {where}" if where else "")
        + f" ORDER BY d.seq {order} LIMIT :limit) ORDER BY d.seq {order}"
    )
    params["limit"] = limit + 1  # one more tells whether there is another page
    with store.transaction(write=False) as tx:
        rows = tx.dicts(sql, params)
    return _page_of(rows, limit, ascending, before)


_TASK_FILTERS = {
    "workflow": "t.workflow = :workflow",
    "status": "t.status = :status",
    "before": "t.id < :before",
    "after": "t.id > :after",
}
# The creator from the snapshot, read by the database: a snapshot may be megabytes.
_CREATOR = {
    "sqlite": "json_extract(t.snapshot, '$.task_creator')",
    "postgresql": "(t.snapshot ->> 'task_creator')",
}


def task_page(
    store: Store,
    *,
    workflow: str | None = None,
    status: str | None = None,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> Page:
    """One page of tasks of every workflow, the latest first (by when tidings first heard of
    each: its row id, `seq` on the page), as `page` pages deliveries: before / after a row
    id, each filter narrowing it. Each row: workflow, task_id, status, creator, created_at,
    updated_at, and `ran` (whether tidings ran it, or it was sent from elsewhere)."""
    limit = max(1, min(limit, MAX_PAGE))
    params = _keyset({"workflow": workflow or None, "status": status or None}, before, after)
    where = " AND ".join(_TASK_FILTERS[name] for name in params)
    ascending = "after" in params
    order = "ASC" if ascending else "DESC"
    sql = (
        f"SELECT t.id AS seq, t.workflow, t.task_id, t.status, {_CREATOR[store.dialect]} AS "
        "creator, t.created_at, t.updated_at, EXISTS (SELECT 1 FROM runs r WHERE "
        "r.workflow = t.workflow AND r.task_id = t.task_id) AS ran FROM tasks t"
        + (f" WHERE {where}" if where else "")
        + f" ORDER BY t.id {order} LIMIT :limit"
    )
    params["limit"] = limit + 1
    with store.transaction(write=False) as tx:
        rows = tx.dicts(sql, params)
    for row in rows:
        row["ran"] = bool(row["ran"])
    return _page_of(rows, limit, ascending, before)


_TASK_DELIVERIES = f"""
SELECT {_COLUMNS} FROM events e JOIN deliveries d ON d.event_id = e.id
WHERE e.workflow = :workflow AND e.task_id = :task_id ORDER BY d.seq LIMIT :limit
"""


def task_deliveries(
    store: Store, workflow: str, task_id: int, limit: int = MAX_PAGE
) -> list[dict[str, Any]]:
    """The deliveries of a task's notifications, oldest first (at most `limit`)."""
    with store.transaction(write=False) as tx:
        return tx.dicts(
            _TASK_DELIVERIES, {"workflow": workflow, "task_id": task_id, "limit": limit}
        )


_TASK_VERSION = """
SELECT t.status, t.updated_at, r.waiting, r.finished_at, r.cancel_requested_at
FROM tasks t LEFT OUTER JOIN runs r ON r.workflow = t.workflow AND r.task_id = t.task_id
WHERE t.workflow = :workflow AND t.task_id = :task_id
"""
_TASK_DELIVERY_VERSION = """
SELECT count(*), max(d.updated_at), sum(CASE WHEN d.status = 'pending' THEN 1 ELSE 0 END)
FROM events e JOIN deliveries d ON d.event_id = e.id
WHERE e.workflow = :workflow AND e.task_id = :task_id
"""


def task_version(store: Store, workflow: str, task_id: int) -> tuple[Any, ...] | None:
    """What changes when anything a task's page shows changes (its snapshot, what it waits
    for, its deliveries; not its runner's heartbeat), and how many of its deliveries are
    pending (last); None when there is no such task. Two small indexed reads."""
    key = {"workflow": workflow, "task_id": task_id}
    with store.transaction(write=False) as tx:
        task = tx.run(_TASK_VERSION, key)
        if not task:
            return None
        deliveries = tx.run(_TASK_DELIVERY_VERSION, key)
    count, updated, pending = deliveries[0]
    return (*(str(value) for value in task[0]), int(count), updated, int(pending or 0))


_RECENT_TASKS = """
SELECT workflow, task_id, status, created_at, updated_at FROM tasks
WHERE workflow = :workflow ORDER BY task_id DESC LIMIT :limit
"""


def recent_tasks(
    store: Store, workflows: Sequence[str], per_workflow: int = 5
) -> dict[str, list[dict[str, Any]]]:
    """The latest tasks of each of these workflows (newest first), without their snapshots."""
    with store.transaction(write=False) as tx:
        return {
            name: tx.dicts(_RECENT_TASKS, {"workflow": name, "limit": per_workflow})
            for name in workflows
        }


# Through ix_deliveries_channel_status_created: the index alone, in its order (no sort).
_HEALTH = """
SELECT channel, status, count(*) FROM deliveries WHERE created_at >= :since
GROUP BY channel, status
"""
# The pending ones that were tried already (few: the status index finds them).
_RETRYING = """
SELECT channel, count(*) FROM deliveries
WHERE status = 'pending' AND attempts > 0 AND created_at >= :since GROUP BY channel
"""


def health(store: Store, since: float) -> dict[str, dict[str, int]]:
    """Per channel, the deliveries recorded since `since` by state: sent, failed, dead,
    retrying (pending after an attempt) and waiting (pending, not tried yet)."""
    found: dict[str, dict[str, int]] = {}
    with store.transaction(write=False) as tx:
        if store.dialect == "postgresql":
            # One pass over one index: parallel workers would choose a scan of the whole
            # table instead, three times slower on a small machine (bench/README.md).
            tx.run("SET LOCAL max_parallel_workers_per_gather = 0")
        for channel, status, count in tx.run(_HEALTH, {"since": since}):
            state = "waiting" if status == "pending" else status
            found.setdefault(channel, {})[state] = int(count)
        for channel, count in tx.run(_RETRYING, {"since": since}):
            counts = found[channel]
            counts["retrying"] = int(count)
            counts["waiting"] -= int(count)
            if not counts["waiting"]:
                del counts["waiting"]
    return found


_ERRORS = """
SELECT channel, last_code, count(*) AS n, max(seq) AS latest FROM deliveries
WHERE created_at >= :since AND status IN ('failed', 'dead', 'pending') AND attempts > 0
    AND last_error IS NOT NULL
GROUP BY channel, last_code ORDER BY n DESC, latest DESC LIMIT :limit
"""


def common_errors(store: Store, since: float, limit: int = 5) -> list[dict[str, Any]]:
    """The most common errors of deliveries recorded since `since` that were refused or are
    being retried: channel, platform code, how many, and the latest one's error (which holds
    the hint)."""
    with store.transaction(write=False) as tx:
        rows = tx.dicts(_ERRORS, {"since": since, "limit": limit})
        for row in rows:
            row["error"] = tx.value(
                "SELECT last_error FROM deliveries WHERE seq = :seq", {"seq": row["latest"]}
            )
    return rows


def queue(store: Store) -> tuple[int, float | None]:
    """How many deliveries are pending, and when the oldest of them was recorded."""
    with store.transaction(write=False) as tx:
        count, oldest = tx.run(
            "SELECT count(*), min(created_at) FROM deliveries WHERE status = 'pending'"
        )[0]
    return int(count), oldest


_PAUSED = """
SELECT x.key, x.channel, x.failures, x.pauses, x.paused_until, x.paused_reason,
    (SELECT d.address FROM deliveries d WHERE d.destination = x.key ORDER BY d.seq DESC LIMIT 1)
        AS address,
    (SELECT count(*) FROM deliveries d WHERE d.destination = x.key AND d.status = 'pending')
        AS pending
FROM destinations x WHERE x.paused_until > :now ORDER BY x.paused_until LIMIT :limit
"""


def paused(store: Store, now: float, limit: int = 50) -> list[dict[str, Any]]:
    """The destinations whose circuit breaker has paused them (#20.7), soonest to resume
    first: channel, address, failures and pauses in a row, until when, why, pending count."""
    with store.transaction(write=False) as tx:
        return tx.dicts(_PAUSED, {"now": now, "limit": limit})


def paused_count(store: Store, now: float) -> int:
    """How many destinations are paused now."""
    with store.transaction(write=False) as tx:
        found = tx.value(
            "SELECT count(*) FROM destinations WHERE paused_until > :now", {"now": now}
        )
    return int(found or 0)


_WORKERS = """
SELECT worker, count(*) AS attempts, max(at) AS last_at FROM attempts WHERE at >= :since
GROUP BY worker ORDER BY max(at) DESC LIMIT :limit
"""
_LEASES = """
SELECT lease_owner, count(*) AS destinations FROM destinations
WHERE lease_owner IS NOT NULL AND lease_until >= :now GROUP BY lease_owner LIMIT :limit
"""


_HEARTBEATS = """
SELECT name, seen_at FROM workers WHERE seen_at >= :since ORDER BY seen_at DESC LIMIT :limit
"""


def workers(store: Store, since: float, now: float, limit: int = 20) -> list[dict[str, Any]]:
    """The workers seen lately: each whose heartbeat (seen_at) is since `since`, that made
    attempts since then (how many, the last one's time) or holds a destination's lease now
    (how many destinations)."""
    with store.transaction(write=False) as tx:
        seen = {row["worker"]: row for row in tx.dicts(_WORKERS, {"since": since, "limit": limit})}
        for owner, count in _leases(tx, now, limit):
            row = seen.setdefault(owner, {"worker": owner, "attempts": 0, "last_at": None})
            row["destinations"] = int(count)
        for name, seen_at in tx.run(_HEARTBEATS, {"since": since, "limit": limit}):
            row = seen.setdefault(name, {"worker": name, "attempts": 0, "last_at": None})
            row["seen_at"] = seen_at
    return list(seen.values())[:limit]


def _leases(tx: Tx, now: float, limit: int) -> list[tuple[Any, ...]]:
    return tx.run(_LEASES, {"now": now, "limit": limit})
