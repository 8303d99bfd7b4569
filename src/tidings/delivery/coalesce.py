"""The worker's coalescing step (issue #18): a rate-limited robot's backlog merged into digests.

A DingTalk or WeCom robot takes 20 messages a minute; a release train gives it 200 in one.
Paced one by one, the last would arrive ten minutes late. So when a destination's backlog
cannot be sent within `system.delivery.coalesce_after` at its platform's rate, the worker
merges it into digests (channels.digest; each channel lays them out within its size limit),
records them in place of the backlog in one transaction (store.digests), and sends them.

When, exactly:
- single messages keep to `pacing.reserved` limits (three quarters of each minute), so the
  rest of the minute is there for digests when a burst comes;
- the backlog is merged when it is longer than what those limits send within
  `coalesce_after`, starting from the head of the queue (a digest takes the place of its
  oldest message), and only deliveries whose request carries a digest entry (not webhooks,
  not mail, not a ctl with `coalesce: false`, not an ad-hoc note);
- a digest is made no sooner than `pacing.spread_time` allows, so a steady stream gets one
  every few seconds, each holding everything that came since the last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson

from tidings import channels
from tidings.channels import digest
from tidings.channels.base import Limits, RenderContext
from tidings.delivery import failpoints, pacing
from tidings.delivery.clock import Clock
from tidings.delivery.ids import new_id, short
from tidings.delivery.outbox import request_to_json
from tidings.store import digests, queue
from tidings.store.db import Store
from tidings.store.queue import Pending

T = TypeVar("T")


class CoalescingSettings(Protocol):
    @property
    def coalesce_after(self) -> float: ...
    @property
    def per_claim(self) -> int: ...


class Host(Protocol):
    """What the step needs of the worker that runs it (delivery.worker.Worker)."""

    @property
    def settings(self) -> CoalescingSettings: ...
    @property
    def store(self) -> Store: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def name(self) -> str: ...
    @property
    def config_name(self) -> str | None: ...
    async def run_db(self, func: Callable[..., T], *args: Any) -> T: ...
    def coalesced(self, merged: list[Pending], made: digests.Coalescing) -> None: ...


FAILPOINT = "coalesce-built"  # between building digests and recording them (crash tests)


@dataclass(frozen=True)
class Step:
    """What the coalescing step decided for one claim of a destination."""

    rows: list[Pending]  # what to send now, in order (digests first)
    hold_until: float | None = None  # send nothing before then: a digest is due then


def mergeable(row: Pending) -> bool:
    """A pending delivery a digest may carry."""
    return row.lane == 1 and row.request.get("digest") is not None


def coalesces(limits: Limits, channel: str, after: float) -> bool:
    """Whether this destination's backlog is ever merged."""
    if after <= 0 or not (limits.per_minute or limits.per_second):
        return False
    try:
        return channels.get(channel).render_digest is not None
    except ValueError:
        return False


def wait_time(
    row: Pending, recent: list[float], limits: Limits, now: float, coalescing: bool, alone: bool
) -> float:
    """Seconds before this single message may go. On a merging destination it keeps a
    quarter of each minute for digests; but a message with nothing behind it (`alone`) may
    take one of those when a digest could go now (a digest of one is the message itself)."""
    if not coalescing or not mergeable(row):
        return pacing.wait_time(recent, limits, now)
    wait = pacing.wait_time(recent, pacing.reserved(limits), now)
    if wait > 0 and alone:
        wait = min(wait, pacing.spread_time(recent, limits, now))
    return wait


def look_again(row: Pending, recent: list[float], limits: Limits, now: float, due: float) -> float:
    """When to look at a destination again whose next single message must wait until `due`.

    Events that arrive meanwhile make it due at once, but not those recorded while this
    worker held it: so it is looked at again when a digest could next go (at least a second
    from now), in case its backlog has grown past what single messages can send in time."""
    if not mergeable(row):
        return due
    return min(due, now + max(1.0, pacing.spread_time(recent, limits, now)))


async def step(
    worker: Host,
    claimed: queue.Claimed,
    rows: list[Pending],
    recent: list[float],
    limits: Limits,
) -> Step:
    """Merge the claimed destination's backlog into digests if it cannot be sent in time.
    Called only for a destination that `coalesces` (the worker asks once per claim)."""
    after = worker.settings.coalesce_after
    if not rows:
        return Step(rows)
    if rows[0].lane == 0:  # digests first; what follows them is looked at by the next claim
        return Step([row for row in rows if row.lane == 0])
    if not mergeable(rows[0]):
        return Step(rows)  # a message never merged goes first, as it is
    backlog = [row for row in rows if mergeable(row)]
    size = len(backlog)
    if len(rows) >= worker.settings.per_claim:  # a claim reads no more: count the rest
        size = max(size, await worker.run_db(digests.waiting, worker.store, claimed.key))
    now = worker.clock.now()
    fits = pacing.capacity(recent, pacing.reserved(limits), now, after, size)
    if size <= fits or len(backlog) < 2:
        return Step(rows)
    wait = pacing.spread_time(recent, limits, now)
    if wait > 0:
        return Step([], hold_until=now + wait)
    made = build(worker, claimed.key, backlog)
    failpoints.reach(FAILPOINT)
    recorded = await worker.run_db(digests.record, worker.store, worker.name, made, now)
    if not recorded:
        return Step(rows)  # something changed under us: send as usual, look again next claim
    worker.coalesced(backlog, made)
    fresh = await worker.run_db(queue.pending, worker.store, claimed.key, worker.settings.per_claim)
    # The digests now; what was not read with this backlog is looked at by the next claim.
    return Step([row for row in fresh if row.lane == 0])


def build(worker: Host, key: str, backlog: list[Pending]) -> digests.Coalescing:
    """The digests of a backlog (pure but for new ids): their rows, and what each carries."""
    channel = channels.get(backlog[0].channel)
    assert channel.render_digest is not None
    items = [digest.Item(row.event_id, row.request["digest"]) for row in backlog]
    row_of = {id(item): row for item, row in zip(items, backlog, strict=True)}
    language = str(items[0].entry.get("language", "zh-cn"))
    ctx = RenderContext(key, language)
    rendered = channel.render_digest(items, ctx)
    sources = sorted({row.source for row in backlog if row.source})
    source = sources[0] if len(sources) == 1 else f"{len(sources)} ctls"
    expires_at = max(row.expires_at for row in backlog)
    head = backlog[0]
    due = head.next_attempt_at  # in its place: a retry it was waiting for (130101) still holds
    rows: list[digests.DigestRow] = []
    merged: dict[str, str] = {}
    for requests, carried in rendered:
        ids = [new_id() for _ in requests]
        for request, delivery_id in zip(requests, ids, strict=True):
            rows.append(
                {
                    "id": delivery_id,
                    "channel": request.channel,
                    "destination": key,
                    "source": f"digest of {source}"[:512],
                    "address": head.address,
                    "label": request.label,
                    "request": orjson.dumps(request_to_json(request)).decode("utf-8"),
                    "due": due,
                    "expires_at": expires_at,
                }
            )
        for item in carried:
            merged[row_of[id(item)].id] = ids[0]
    events = list(dict.fromkeys(row.event_id for row in backlog))
    config = worker.config_name
    return digests.Coalescing(key, new_id(), config, rows, merged, events)


def merged_detail(digest_id: str) -> str:
    """What a merged delivery's history says of it."""
    return f"merged into digest {short(digest_id)}; `tidings deliveries show {short(digest_id)}`"
