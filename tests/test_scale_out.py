"""Scale-out shares the work (#20.9): three workers, each free to send to 32 destinations at
once, split twelve busy destinations between them instead of the first to look taking all."""

from __future__ import annotations

import asyncio
import time

from helpers import enqueue_tasks, webhook_config
from tidings.config.loading import loads
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
            assert set(queue.statuses(store, ids).values()) == {"sent"}
            with store.transaction(write=False) as tx:
                rows = tx.run(
                    "SELECT a.worker, count(DISTINCT d.destination) FROM attempts a "
                    "JOIN deliveries d ON d.id = a.delivery_id GROUP BY a.worker"
                )
            return {name: 0 for name in (w.name for w in workers)} | dict(rows)

    split = asyncio.run(scenario())
    # Each worker claims at most 4 destinations at a time (system.delivery.claim_batch):
    # every worker sends, none to more than two claims' worth.
    assert all(1 <= count <= 8 for count in split.values()), split
    assert sum(split.values()) >= DESTINATIONS, split
