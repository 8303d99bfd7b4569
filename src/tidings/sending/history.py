"""Delivery history: listing, showing, and putting deliveries back in the queue (the
statements: store/history.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tidings.delivery.ids import short
from tidings.delivery.outbox import destination_rows
from tidings.delivery.worker import Final
from tidings.errors import InputError
from tidings.store import history as stored
from tidings.store import tasks
from tidings.store.db import Store
from tidings.store.outbox import DestinationRow

STATUSES = ("pending", "sent", "failed", "dead", "coalesced")


def previous_status(store: Store, workflow: str, task_id: int) -> str:
    """Zadig's `changed` compares a task with the one before it (task id - 1): its status as
    tidings last heard of it (sent, posted or run), "" when it never did, which counts as
    changed, as in Zadig."""
    return tasks.status_of(store, workflow, task_id - 1) or ""


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
    return stored.list_deliveries(
        store, status=status, task_id=task_id, workflow=workflow, limit=limit
    )


def summaries(store: Store, ids: list[str]) -> list[dict[str, Any]]:
    """Id, channel, destination, source, label and status of these deliveries, in order."""
    return stored.summaries(store, ids)


def find(store: Store, given: str, *, listed_by: str | None = None) -> str:
    """The full id of the delivery whose id starts or ends with `given` (at least 6
    characters): lists show the end of ids, whose beginning is their creation time.
    `listed_by`: what lists deliveries, said instead of which database was searched (which
    an API answer must not tell)."""
    if len(given) < 6:
        raise InputError(f"delivery id {given!r}: give at least 6 characters of it")
    ids = stored.find_ids(store, given)
    if not ids:
        if listed_by is not None:
            raise InputError(f"no delivery {given!r}; {listed_by} lists them")
        raise InputError(
            f"no delivery {given!r} in {store.display}; `tidings deliveries` lists them"
        )
    if len(ids) > 1:
        raise InputError(f"delivery id {given!r} is ambiguous: give more of it")
    return ids[0]


def show(store: Store, delivery_id: str) -> dict[str, Any]:
    """One delivery (`find` found it) with its event, stored request and attempts, and why
    its ctl left someone out when it was planned (`skipped`)."""
    data = stored.show(store, delivery_id)
    if data is None:
        raise InputError(f"no delivery {delivery_id!r} (it was just removed?)")
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

    def route(key: str) -> DestinationRow | None:
        return destination_rows([key])[0] if can_send(key) else None

    queued, left = stored.requeue(
        store, ids, dead=dead, now=now, expires_at=now + max_age, route=route
    )
    return queued, [Left(item.id, item.workflow is None) for item in left]


def dead_ids(store: Store) -> list[str]:
    """Every dead delivery, oldest first."""
    return stored.dead_ids(store)


def finals(store: Store, ids: list[str]) -> dict[str, Final]:
    """These deliveries as they ended (or stand), by id: what a worker elsewhere reported."""
    return {
        id_: Final(
            id=row.id,
            channel=row.channel,
            destination=row.destination,
            address=row.address,
            label=row.label,
            status=row.status,
            code=row.last_code,
            detail=row.last_error or "",
            attempts=row.attempts,
            source=row.source,
        )
        for id_, row in stored.states(store, ids).items()
    }
