"""Scale-out shares the work (#20.9): three workers, each free to send to 32 destinations at
once, split twelve busy destinations between them instead of the first to look taking all."""

from __future__ import annotations

import asyncio
import time

import pytest

from helpers import enqueue_tasks, webhook_config
from tidings.config.loading import loads
from tidings.delivery.clock import ScaledClock
from tidings.delivery.metrics import Metrics
from tidings.delivery.resolve import Resolver
from tidings.delivery.settings import limits_of, settings_of
from tidings.delivery.worker import Worker
from tidings.sandbox import Sandbox
from tidings.store import queue
from tidings.store.db import Store

DESTINATIONS = 12
EVENTS = 3


def test_three_workers_share_twelve_destinations(database_url):
    store = Store(database_url).open()

    async def scenario() -> dict[str, int]:
        async with Sandbox() as sb:
            # Each answer takes 0.2 s: a destination keeps its worker busy for a while.
            addresses = [
                sb.webhook_inbox(f"inbox{i}", script=[("delay", 0.2)] * EVENTS)
                for i in range(DESTINATIONS)
            ]
            config = loads(webhook_config(addresses))
            settings = settings_of(config)
            assert settings.concurrency == 32 > DESTINATIONS
            workers = [
                Worker(store, Resolver(config), settings=settings, limits=limits_of(config))
                for _ in range(3)
            ]
            stop = asyncio.Event()
            for worker in workers:
                await worker.__aenter__()
            metrics = Metrics(store, settings.lease)
            assert metrics.registry.get_sample_value("tidings_workers") == 3  # heartbeats
            runs = [asyncio.create_task(worker.run(stop)) for worker in workers]
            ids = enqueue_tasks(store, config, EVENTS)  # while all three are looking
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if set(queue.statuses(store, ids).values()) == {"sent"}:
                    break
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.gather(*runs)
            for worker in workers:
                await worker.__aexit__(None, None, None)
            assert metrics.registry.get_sample_value("tidings_workers") == 0  # all stopped
            assert set(queue.statuses(store, ids).values()) == {"sent"}
            with store.transaction(write=False) as tx:
                rows = tx.run(
                    "SELECT a.worker, count(DISTINCT d.destination) FROM attempts a "
                    "JOIN deliveries d ON d.id = a.delivery_id GROUP BY a.worker"
                )
            return {name: 0 for name in (w.name for w in workers)} | dict(rows)

    split = asyncio.run(scenario())
    # Beside two others, each claim takes a third of what is due (at least claim_batch, 4):
    # every worker sends, none to more than two claims' worth.
    assert all(1 <= count <= 8 for count in split.values()), split
    assert sum(split.values()) >= DESTINATIONS, split


@pytest.mark.parametrize("beside", ["nobody", "a live worker", "a worker that died"])
def test_one_claim_takes_all_that_is_due_when_alone_and_a_share_beside_others(database_url, beside):
    """Twelve destinations due at once: a worker alone sends to all twelve together (no
    waiting between claims of four); beside another live worker it takes its half; a worker
    whose heartbeat is older than a lease (it died without stopping) is not left a share."""
    store = Store(database_url).open()

    async def scenario() -> int:
        async with Sandbox() as sb:
            addresses = [sb.webhook_inbox(f"inbox{i}") for i in range(DESTINATIONS)]
            config = loads(webhook_config(addresses))
            settings = settings_of(config)
            assert settings.claim_batch == 4 < DESTINATIONS // 2
            enqueue_tasks(store, config, 1)
            others = []
            if beside == "a live worker":
                others.append(Worker(store, Resolver(config), settings=settings))
            elif beside == "a worker that died":
                # Its last heartbeat an hour ago: as a process killed then would have left it.
                an_hour_ago = ScaledClock(1.0, start=time.time() - 3600)
                others.append(Worker(store, Resolver(config), settings=settings, clock=an_hour_ago))
            for other in others:
                await other.__aenter__()
            try:
                async with Worker(store, Resolver(config), settings=settings) as worker:
                    return await worker.step()
            finally:
                for other in others:
                    await other.__aexit__(None, None, None)

    worked_on = asyncio.run(scenario())
    assert worked_on == (DESTINATIONS // 2 if beside == "a live worker" else DESTINATIONS)
