"""Recording a plan in the outbox, then (unless told not to) delivering it right away.

Shared by `send`, `notify` and, later, the API and the runner: the event and its deliveries
are committed first; only then does anything leave the machine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tidings.channels.base import Destination
from tidings.delivery.clock import Clock
from tidings.delivery.outbox import Enqueued, NewDelivery, NewEvent, enqueue
from tidings.delivery.resolve import Resolver
from tidings.delivery.settings import limits_of, settings_of
from tidings.delivery.worker import Final, Retrying, Worker
from tidings.dispatch.plan import Plan
from tidings.errors import InputError
from tidings.redact import Redactor
from tidings.store import queue
from tidings.store.db import Store

if TYPE_CHECKING:  # types only: `tidings notify` never loads the configuration models
    from tidings.config.models import Config


def task_event_key(
    config: str, workflow: str, task_id: int, status: str, event_id: str | None = None
) -> str:
    """The idempotency key of a task event from outside (`tidings send`, `POST /events`): one
    notification per configuration, workflow, task and status, or per the CI's own event id
    when it gives one. Hashed: it may hold a long path, and keys are at most 255 characters."""
    import hashlib

    if event_id:
        return f"event-id:{hashlib.sha256(event_id.encode('utf-8')).hexdigest()[:40]}"
    parts = "\0".join((config, workflow, str(task_id), status))
    return f"event:{hashlib.sha256(parts.encode('utf-8')).hexdigest()[:40]}"


def deliveries_of(plan: Plan) -> list[NewDelivery]:
    """The deliveries a plan records: one per request, with its redacted address and the
    ctl it came from."""
    return [
        NewDelivery(request, item.display, item.source)
        for item in plan.planned
        for request in item.requests
    ]


def with_skips(event: NewEvent, plan: Plan) -> NewEvent:
    """The event with why parts of the plan sent nothing (people left out, entries without a
    value), kept with it so that `tidings deliveries show` says so beside its deliveries."""
    if not plan.skipped:
        return event
    skipped = [
        {"webhook_type": s.webhook_type, "ctl_index": s.ctl_index, "reason": s.reason}
        for s in plan.skipped
    ]
    return dataclasses.replace(event, scope={**(event.scope or {}), "skipped": skipped})


def record(store: Store, plan: Plan, event: NewEvent, *, now: float, expires_in: float) -> Enqueued:
    event = with_skips(event, plan)
    enqueued = enqueue(store, event, deliveries_of(plan), now=now, expires_in=expires_in)
    if enqueued.refused:
        raise InputError(enqueued.refused)
    return enqueued


@dataclass
class Outcome:
    enqueued: Enqueued
    finals: list[Final] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    # Deliveries merged into a digest (delivery.coalesce): their digest, and how it ended.
    digests: dict[str, str] = field(default_factory=dict)
    digest_statuses: dict[str, str] = field(default_factory=dict)

    def arrived(self, delivery_id: str) -> bool:
        """Sent, or merged into a digest that was sent."""
        status = self.statuses.get(delivery_id)
        if status == "coalesced":
            return self.digest_statuses.get(self.digests.get(delivery_id, "")) == "sent"
        return status == "sent"

    @property
    def failed(self) -> int:
        return sum(1 for i in self.statuses if not self.arrived(i))


async def deliver_now(
    store: Store,
    config: Config | None,
    enqueued: Enqueued,
    *,
    deadline: float,
    extra: dict[str, Destination] | None = None,
    redactor: Redactor | None = None,
    on_final: Callable[[Final], None] | None = None,
    on_retry: Callable[[Retrying], None] | None = None,
    clock: Clock | None = None,
) -> Outcome:
    """Work the outbox until these deliveries are final or the deadline (seconds) passes.

    Older deliveries to the same destinations go first: event order is kept per destination.
    """
    clock = clock or Clock()
    outcome = Outcome(enqueued)
    mine = set(enqueued.delivery_ids)

    def collect(final: Final) -> None:
        if final.id in mine:
            outcome.finals.append(final)
            if on_final is not None:
                on_final(final)
            if final.digest_id:  # its news goes out in this digest: report that too
                outcome.digests[final.id] = final.digest_id
                mine.add(final.digest_id)

    worker = Worker(
        store,
        Resolver(config, extra),
        clock=clock,
        settings=settings_of(config),
        limits=limits_of(config),
        redactor=redactor,
        on_final=collect,
        on_retry=on_retry,
    )
    async with worker:
        # A little past the deliveries' own deadline, so they can be marked dead by it.
        outcome.statuses = await worker.run_until(enqueued.delivery_ids, clock.now() + deadline + 2)
    if outcome.digests:
        outcome.digest_statuses = queue.statuses(store, sorted(set(outcome.digests.values())))
    return outcome


def left_pending(store: Store, ids: list[str], keep_until: float | None = None) -> list[str]:
    """Which of these deliveries are not final yet (Ctrl-C while sending them); with
    `keep_until`, they stay queued until then, for a worker to send."""
    return queue.keep_pending(store, ids, keep_until)
