"""The outbox: an event and all its deliveries are recorded in ONE transaction, before any
network I/O. Nothing is sent that was not first recorded, and nothing recorded is lost.

This module turns requests into rows (ids, the request as JSON, each destination's channel
and address key); store.outbox writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson

from tidings.channels import identity
from tidings.channels.base import Request
from tidings.delivery.ids import new_id
from tidings.store import outbox as stored
from tidings.store.db import Store
from tidings.store.outbox import Enqueued, NewEvent

# NewEvent and Enqueued are the outbox's words: callers of enqueue() find them here too.
__all__ = [
    "Enqueued",
    "NewDelivery",
    "NewEvent",
    "add_deliveries",
    "destination_rows",
    "enqueue",
    "enqueue_many",
    "request_from_json",
    "request_to_json",
]


@dataclass(frozen=True)
class NewDelivery:
    request: Request
    address: str  # redacted, for people
    source: str = ""  # the ctl it came from, for history: "release/notify_ctls[0]"


_REQUEST_FIELDS = tuple(f.name for f in fields(Request))


def request_to_json(request: Request) -> dict[str, Any]:
    # Shallow: the body is already plain JSON data (asdict would deep-copy it, slowly).
    return {name: getattr(request, name) for name in _REQUEST_FIELDS}


def request_from_json(data: dict[str, Any]) -> Request:
    return Request(**data)


def destination_rows(keys: Iterable[str]) -> list[stored.DestinationRow]:
    """What the store keeps of each destination: its key, channel and address key."""
    return [
        {"key": key, "channel": identity.channel_of(key), "address_key": identity.address_of(key)}
        for key in set(keys)
    ]


def _delivery_rows(
    event_id: str, deliveries: Sequence[NewDelivery], now: float, expires_in: float
) -> list[stored.DeliveryRow]:
    """The rows of an event's deliveries, each with a new id."""
    return [
        {
            "id": new_id(),
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
        for d in deliveries
    ]


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
    recordings = []
    for event, deliveries in batch:
        event_id = new_id()
        recordings.append(
            stored.Recording(
                event,
                event_id,
                _delivery_rows(event_id, deliveries, now, expires_in),
                destination_rows(d.request.destination for d in deliveries),
            )
        )
    return stored.record(store, recordings, now)


def add_deliveries(
    store: Store,
    event_id: str,
    deliveries: Sequence[NewDelivery],
    *,
    now: float,
    expires_in: float,
) -> list[str]:
    """Record more deliveries of an event already recorded (`retry --replan`); their ids."""
    new = _delivery_rows(event_id, deliveries, now, expires_in)
    keys = (d.request.destination for d in deliveries)
    stored.add_deliveries(store, new, destination_rows(keys), now)
    return [row["id"] for row in new]
