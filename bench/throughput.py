"""Durable end-to-end throughput and latency of the outbox, against the raw aiohttp ceiling.

    .venv/bin/python bench/throughput.py [--deliveries 20000] [--destinations 64]
                                         [--database sqlite|postgresql+psycopg://...]

Measures, against a loopback receiver running in its own process:
  raw      a plain POST loop (64 in flight), with aiohttp and with tidings' own HTTP client:
           the ceiling on this machine; the latter is the same client the worker sends with
  durable  deliveries recorded in the outbox (one transaction per event of 10 deliveries),
           then sent by one worker until all are recorded as sent: accepted -> delivered
  latency  events enqueued at a fixed rate while a worker runs: accepted-to-delivered p50/p99
Each destination keeps event order, so deliveries are spread over --destinations URLs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_receiver(delay_ms: int = 0) -> tuple[subprocess.Popen, str]:
    """bench/receiver.py in its own process, answering each request after `delay_ms`."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(HERE / "receiver.py"), str(port), str(delay_ms)]
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
        except OSError:
            time.sleep(0.05)
    return process, f"http://127.0.0.1:{port}"


async def raw_tidings_loop(base: str, count: int, destinations: int, in_flight: int = 64) -> float:
    """The same loop with the HTTP client tidings sends with (tidings.delivery.http)."""
    from tidings.delivery.http import HttpClient

    body = b'{"object_kind":"workflow","event":"workflow","workflow":{"task_id":1}}' * 8
    headers = {"Content-Type": "application/json"}
    async with HttpClient() as client:
        numbers = iter(range(count))

        async def one() -> None:
            for i in numbers:
                answer = await client.request(
                    "POST", f"{base}/hook/{i % destinations}", headers, body, 10.0
                )
                assert answer.status == 200

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(in_flight)))
        return count / (time.perf_counter() - started)


async def raw_loop(base: str, count: int, destinations: int, in_flight: int = 64) -> float:
    import aiohttp

    body = b'{"object_kind":"workflow","event":"workflow","workflow":{"task_id":1}}' * 8
    async with aiohttp.ClientSession() as session:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def one() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                async with session.post(f"{base}/hook/{i % destinations}", data=body) as r:
                    await r.read()

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(in_flight)))
        return count / (time.perf_counter() - started)


def config_text(base: str, destinations: int, per_event: int) -> tuple[str, int]:
    """Workflows of `per_event` webhook ctls each, covering all destinations."""
    workflows = []
    for w in range(destinations // per_event):
        ctls = "".join(
            f"      - {{webhook_type: webhook, notify_type: [passed], "
            f"webhook_notification_config: {{address: '{base}/hook/{w * per_event + c}'}}}}\n"
            for c in range(per_event)
        )
        workflows.append(f"  - name: w{w}\n    notify_ctls:\n{ctls}")
    text = "system:\n  delivery: {concurrency: 64}\nworkflows:\n" + "".join(workflows)
    return text, destinations // per_event


def plans(config, workflows: int, events: int):
    """Rendered plans for `events` passed tasks spread over the workflows."""
    from tidings.dispatch.plan import plan_event
    from tidings.dispatch.task import parse_task

    out = []
    for i in range(events):
        name = f"w{i % workflows}"
        task = parse_task({"task_id": i + 1, "workflow_name": name, "status": "passed"})
        out.append((name, i + 1, plan_event(config, config.workflow(name), task)))
    return out


async def durable(store, config, prepared) -> tuple[float, int]:
    from tidings.delivery.outbox import NewEvent
    from tidings.delivery.resolve import Resolver
    from tidings.delivery.settings import settings_of
    from tidings.delivery.worker import Worker
    from tidings.sending.record import record

    started = time.perf_counter()
    ids: list[str] = []
    for name, task_id, plan in prepared:
        event = NewEvent("task", name, task_id, "passed")
        ids += record(store, plan, event, now=time.time(), expires_in=3600).delivery_ids
    async with Worker(store, Resolver(config), settings=settings_of(config)) as worker:
        statuses = await worker.run_until(ids, time.time() + 600)
    elapsed = time.perf_counter() - started
    assert set(statuses.values()) == {"sent"}, "not everything was delivered"
    return len(ids) / elapsed, len(ids)


async def latency(store, config, prepared, rate: float, seconds: float) -> list[float]:
    """Enqueue events at `rate`/s while one worker runs; accepted-to-delivered per delivery."""
    from tidings.delivery.outbox import NewEvent
    from tidings.delivery.resolve import Resolver
    from tidings.delivery.settings import settings_of
    from tidings.delivery.worker import Worker
    from tidings.sending.record import record

    accepted: dict[str, float] = {}
    delivered: dict[str, float] = {}  # may come before `accepted` is filled in (a race)

    def done(final) -> None:
        delivered[final.id] = time.perf_counter()

    stop = asyncio.Event()
    worker = Worker(store, Resolver(config), settings=settings_of(config), on_final=done)
    async with worker:
        runner = asyncio.create_task(worker.run(stop))
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        count = int(rate * seconds)
        for n, (name, task_id, plan) in enumerate(prepared[:count]):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            event = NewEvent("task", name, task_id, "passed")
            now = time.perf_counter()
            enqueued = await loop.run_in_executor(
                None, lambda p=plan, e=event: record(store, p, e, now=time.time(), expires_in=3600)
            )
            for delivery_id in enqueued.delivery_ids:
                accepted[delivery_id] = now
            worker.wake()
        while len(delivered) < len(accepted) and time.perf_counter() - started < seconds + 30:
            await asyncio.sleep(0.05)
        stop.set()
        await runner
    return [delivered[i] - accepted[i] for i in accepted if i in delivered]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--destinations", type=int, default=64)
    parser.add_argument("--per-event", type=int, default=8)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    sys.path.insert(0, str(HERE.parent / "src"))
    from tidings.config.loading import loads
    from tidings.store.db import Store

    receiver, base = start_receiver()
    folder = tempfile.mkdtemp(prefix="tidings-bench-")
    try:
        url = f"sqlite:///{folder}/bench.db" if args.database == "sqlite" else args.database
        text, workflows = config_text(base, args.destinations, args.per_event)
        config = loads(text)
        events = args.deliveries // args.per_event
        prepared = plans(config, workflows, events)
        raw = asyncio.run(raw_loop(base, args.deliveries, args.destinations))
        raw_ours = asyncio.run(raw_tidings_loop(base, args.deliveries, args.destinations))
        store = Store(url).open()
        rate, count = asyncio.run(durable(store, config, prepared))
        lat_store = (
            Store(f"sqlite:///{folder}/latency.db").open() if args.database == "sqlite" else store
        )
        lat_prepared = plans(config, workflows, int(args.rate * args.seconds))
        samples = asyncio.run(latency(lat_store, config, lat_prepared, args.rate, args.seconds))
    finally:
        receiver.terminate()
    quantiles = statistics.quantiles(samples, n=100)
    cores = os.cpu_count()
    print(f"machine: {cores} cores, Python {sys.version.split()[0]}, database {args.database}")
    print(f"raw aiohttp POST loop (64 in flight)     {raw:9.0f} req/s")
    print(f"raw loop, tidings' own client (64 in flight) {raw_ours:9.0f} req/s")
    print(
        f"durable outbox -> delivered ({count} over {args.destinations} destinations) "
        f"{rate:9.0f} deliveries/s  ({rate / raw_ours:.0%} of the raw loop with the same "
        f"client, {rate / raw:.0%} of aiohttp's)"
    )
    print(
        f"latency at {args.rate:g} events/s x {args.per_event} deliveries, {len(samples)} "
        f"samples: p50 {quantiles[49] * 1000:.1f} ms, p99 {quantiles[98] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
