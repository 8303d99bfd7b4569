"""How several workers share the outbox: three `tidings worker` processes on PostgreSQL.

    .venv/bin/python bench/scale_out.py [--workers 3] [--destinations 12 96] [--events 40]
        [--delay-ms 20] [--claim-batch N] [--admin postgresql+psycopg://...]

For each number of destinations: a fresh database, `--workers` worker processes started and
idle, then `--events` events recorded at once (one transaction, a backlog every worker sees
together), each with one webhook delivery to every destination (the receiver, in its own
process, answers each after `--delay-ms`, as a platform would). When every delivery is
recorded as sent, it prints how the destinations and deliveries were split between the
workers (from the attempts' `worker` column) and the rate.

`--claim-batch` writes system.delivery.claim_batch into the configuration (left out: the
default, or a tree from before the setting existed, run with PYTHONPATH=that/src).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from throughput import start_receiver

HERE = Path(__file__).resolve().parent


def config_text(base: str, destinations: int, url: str, claim_batch: int | None) -> str:
    batch = f", claim_batch: {claim_batch}" if claim_batch else ""
    ctls = "".join(
        f"      - {{webhook_type: webhook, notify_type: [passed], "
        f"webhook_notification_config: {{address: '{base}/d{i}'}}}}\n"
        for i in range(destinations)
    )
    return (
        f"system:\n  database_url: '{url}'\n  delivery: {{concurrency: 32{batch}}}\n"
        f"workflows:\n  - name: bulk\n    notify_ctls:\n{ctls}"
    )


def enqueue(store, config, events: int) -> list[str]:
    """The events recorded in one transaction: a backlog every worker sees at once."""
    from tidings.delivery.outbox import NewEvent, enqueue_many
    from tidings.dispatch.plan import plan_event
    from tidings.dispatch.task import parse_task
    from tidings.sending.record import deliveries_of, with_skips

    sys.path.insert(0, str(HERE.parent / "tests"))
    from helpers import seed_task

    batch = []
    base = seed_task()
    for task_id in range(1, events + 1):
        task = parse_task({**base, "workflow_name": "bulk", "task_id": task_id})
        plan = plan_event(config, config.workflow("bulk"), task)
        event = with_skips(NewEvent("task", "bulk", task_id, "passed"), plan)
        batch.append((event, deliveries_of(plan)))
    recorded = enqueue_many(store, batch, now=time.time(), expires_in=3600)
    return [i for enqueued in recorded for i in enqueued.delivery_ids]


def one_run(args: argparse.Namespace, base: str, destinations: int) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tidings.config.loading import loads
    from tidings.store import queue
    from tidings.store.db import Store

    name = f"tidings_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.admin).set(database=name).render_as_string(hide_password=False)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "tidings.yaml"
            path.write_text(config_text(base, destinations, url, args.claim_batch), "utf-8")
            config = loads(path.read_text("utf-8"), str(path), {})
            store = Store(url).open()
            logs = [Path(folder) / f"worker{i}.log" for i in range(args.workers)]
            for log in logs:
                with log.open("wb") as stderr:
                    workers.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "tidings", "worker", "-c", str(path)],
                            stderr=stderr,
                        )
                    )
            # Every worker started (it says so once it can claim), then a moment to poll.
            while not all(b"tidings worker " in log.read_bytes() for log in logs):
                time.sleep(0.1)
            time.sleep(0.5)
            started = time.perf_counter()
            ids = enqueue(store, config, args.events)
            while True:
                found = queue.statuses(store, ids)
                if all(found.get(i) == "sent" for i in ids):
                    break
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            with store.transaction(write=False) as tx:
                rows = tx.run(
                    "SELECT a.worker, count(DISTINCT d.destination), count(*) FROM attempts a "
                    "JOIN deliveries d ON d.id = a.delivery_id WHERE a.outcome = 'ok' "
                    "GROUP BY a.worker ORDER BY 3 DESC"
                )
            store.close()
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    share = ", ".join(f"{d} dest / {n} deliveries" for _w, d, n in rows)
    idle = args.workers - len(rows)
    print(
        f"{destinations:>4} destinations, {len(ids):>5} deliveries: {share}"
        + (f", {idle} worker(s) idle" if idle else "")
        + f"; {len(ids) / elapsed:,.0f} deliveries/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--destinations", type=int, nargs="+", default=[12, 96])
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--delay-ms", type=int, default=20)
    parser.add_argument("--claim-batch", type=int, default=None)
    parser.add_argument(
        "--admin",
        default=os.environ.get(
            "TIDINGS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    receiver, base = start_receiver(args.delay_ms)
    try:
        print(
            f"{args.workers} workers (concurrency 32 each), receiver answering after "
            f"{args.delay_ms} ms, claim_batch {args.claim_batch or 'default'}"
        )
        for destinations in args.destinations:
            one_run(args, base, destinations)
    finally:
        receiver.terminate()
        receiver.wait()


if __name__ == "__main__":
    main()
