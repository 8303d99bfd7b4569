"""Delivery history: listing, showing, and putting deliveries back in the queue."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from tidings.delivery.ids import short
from tidings.delivery.outbox import destination_rows
from tidings.delivery.worker import Final
from tidings.errors import InputError
from tidings.store import tables
from tidings.store.db import Store, in_list
from tidings.store.outbox import upsert_destinations

D = tables.deliveries
E = tables.events
T = tables.tasks
STATUSES = ("pending", "sent", "failed", "dead")


def previous_status(store: Store, workflow: str, task_id: int) -> str:
    """Zadig's `changed` compares a task with the one before it (task id - 1): its status as
    tidings last heard of it (sent, posted or run), "" when it never did, which counts as
    changed, as in Zadig."""
    with store.engine.connect() as connection:
        found = connection.execute(
            select(T.c.status).where(T.c.workflow == workflow, T.c.task_id == task_id - 1)
        ).scalar()
    return found or ""


def wants_previous(ctls: Any) -> bool:
    """Whether any of these notify_ctls fires on `changed` (only then is history read)."""
    return any(ctl.enabled and "changed" in ctl.notify_type for ctl in ctls)


def list_deliveries(
    store: Store,
    *,
    status: str | None = None,
    task_id: int | None = None,
    workflow: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Newest first."""
    query = (
        select(
            D.c.id,
            D.c.status,
            D.c.channel,
            D.c.destination,
            D.c.source,
            D.c.address,
            D.c.label,
            D.c.attempts,
            D.c.last_code,
            D.c.last_error,
            D.c.created_at,
            D.c.finished_at,
            E.c.workflow,
            E.c.task_id,
            E.c.status.label("event_status"),
            E.c.kind,
        )
        .join(E, E.c.id == D.c.event_id)
        .order_by(D.c.seq.desc())
        .limit(limit)
    )
    if status:
        query = query.where(D.c.status == status)
    if task_id is not None:
        query = query.where(E.c.task_id == task_id)
    if workflow:
        query = query.where(E.c.workflow == workflow)
    with store.read() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def summaries(store: Store, ids: list[str]) -> list[dict[str, Any]]:
    """Id, channel, destination, source, label and status of these deliveries, in order."""
    if not ids:
        return []
    query = select(D.c.id, D.c.channel, D.c.destination, D.c.source, D.c.label, D.c.status).where(
        D.c.id.in_(ids)
    )
    with store.read() as connection:
        found = {row.id: dict(row._mapping) for row in connection.execute(query)}
    return [found[i] for i in ids if i in found]


def find(store: Store, given: str) -> str:
    """The full id of the delivery whose id starts or ends with `given` (at least 6
    characters): lists show the end of ids, whose beginning is their creation time."""
    if len(given) < 6:
        raise InputError(f"delivery id {given!r}: give at least 6 characters of it")
    part = given.replace("%", "").replace("_", "").lower()
    with store.read() as connection:
        ids: list[str] = []
        for pattern in (f"{part}%", f"%{part}"):  # the first one uses the index
            query = select(D.c.id).where(D.c.id.like(pattern)).limit(2)
            ids = list(connection.execute(query).scalars())
            if ids:
                break
    if not ids:
        raise InputError(
            f"no delivery {given!r} in {store.display}; `tidings deliveries` lists them"
        )
    if len(ids) > 1:
        raise InputError(f"delivery id {given!r} is ambiguous: give more of it")
    return ids[0]


def show(store: Store, delivery_id: str) -> dict[str, Any]:
    with store.read() as connection:
        row = connection.execute(
            select(
                D,
                E.c.workflow,
                E.c.task_id,
                E.c.status.label("event_status"),
                E.c.kind,
                E.c.scope,
            )
            .join(E, E.c.id == D.c.event_id)
            .where(D.c.id == delivery_id)
        ).one()
        attempts = connection.execute(
            select(tables.attempts)
            .where(tables.attempts.c.delivery_id == delivery_id)
            .order_by(tables.attempts.c.id)
        ).all()
    data = dict(row._mapping)
    data["attempts_log"] = [dict(a._mapping) for a in attempts]
    scope = data.pop("scope", None) or {}
    # Why its ctl left someone out when it was planned (the same ctl: its index in source).
    data["skipped"] = [
        skip["reason"]
        for skip in scope.get("skipped", [])
        if skip.get("ctl_index") is None
        or data["source"].endswith(f"notify_ctls[{skip['ctl_index']}]")
    ]
    return data


@dataclass(frozen=True)
class Left:
    """A delivery `requeue` could not put back: its destination is not in the configuration."""

    id: str
    ad_hoc: bool  # a notify's: its address and secret were never stored

    def explain(self, replan: str) -> str:
        """Why it was left, and what to do: `replan` says how to re-plan it here."""
        if self.ad_hoc:
            return (
                f"{short(self.id)} is an ad-hoc notify message: its address and secret were "
                "never stored, so only a new notify can send it"
            )
        return (
            f"{short(self.id)}: its destination is not in this configuration (removed, or its "
            f"address edited, since it was queued); {replan} sends its event to today's "
            "configuration"
        )


def requeue(
    store: Store,
    ids: list[str] | None = None,
    *,
    dead: bool = False,
    max_age: float = 86400.0,
    can_send: Callable[[str], bool] = lambda _key: True,
) -> tuple[list[str], list[Left]]:
    """Put failed or dead deliveries back in the queue, under their ids, with a fresh retry
    budget: (ids queued again, those left because `can_send` says their destination is not
    one this configuration has: removed or edited since, or an ad-hoc notify's).

    Sent and pending deliveries are left alone.
    """
    now = time.time()
    if ids:
        marks, names = in_list(ids)
        where = f"id IN {marks}"
    elif dead:
        names, where = {}, "status = 'dead'"
    else:
        return [], []
    with store.transaction() as tx:
        found = tx.run(
            "SELECT d.id, d.destination, d.status, e.workflow FROM deliveries d "
            f"JOIN events e ON e.id = d.event_id WHERE d.{where}",
            names,
        )
        failed = [row for row in found if row[2] in ("failed", "dead")]
        rows = [(id_, key) for id_, key, _, _ in failed if can_send(key)]
        left = [
            Left(id_, workflow is None) for id_, key, _, workflow in failed if not can_send(key)
        ]
        if not rows:
            return [], left
        tx.run(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = :now, "
            "expires_at = :expires_at, finished_at = NULL, updated_at = :now WHERE id = :id",
            [{"id": id_, "now": now, "expires_at": now + max_age} for id_, _ in sorted(rows)],
        )
        upsert_destinations(tx, destination_rows(key for _, key in rows), now)
    return [id_ for id_, _ in rows], left


def dead_ids(store: Store) -> list[str]:
    """Every dead delivery, oldest first."""
    with store.transaction(write=False) as tx:
        rows = tx.run("SELECT id FROM deliveries WHERE status = 'dead' ORDER BY seq")
    return [row[0] for row in rows or []]


def finals(store: Store, ids: list[str]) -> dict[str, Final]:
    """These deliveries as they ended (or stand), by id: what a worker elsewhere reported."""
    if not ids:
        return {}
    marks, params = in_list(ids)
    with store.transaction(write=False) as tx:
        rows = tx.run(
            "SELECT id, channel, destination, address, label, status, last_code, last_error, "
            f"attempts, source FROM deliveries WHERE id IN {marks}",
            params,
        )
    return {
        row[0]: Final(
            id=row[0],
            channel=row[1],
            destination=row[2],
            address=row[3],
            label=row[4],
            status=row[5],
            code=row[6],
            detail=row[7] or "",
            attempts=row[8],
            source=row[9],
        )
        for row in rows or []
    }
