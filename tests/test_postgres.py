"""Several workers sharing one PostgreSQL database (the real server; skipped with a reason
when none is reachable, required in CI via TIDINGS_REQUIRE_POSTGRES=1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from helpers import enqueue_tasks, first_arrivals, seed_task, webhook_config, write_json
from tidings.config.loading import loads
from tidings.sandbox import SandboxThread
from tidings.store.db import Store


def wait_for_logs(folder, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not all(text in (folder / f"w{i}.log").read_text() for i in range(2)):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.05)


def test_send_and_history_on_postgres(tmp_path, pg_url, sandbox, cli):
    hook = sandbox.webhook_inbox("pg", script=(503,))
    (tmp_path / "tidings.yaml").write_text(webhook_config([hook], "demo-workflow-dev"), "utf-8")
    task = write_json(tmp_path / "task.json", seed_task())
    env = {"TIDINGS_DATABASE_URL": pg_url}
    sent = cli("send", "-t", task, env=env)
    assert sent.code == 0, sent.output
    (row,) = cli("deliveries", "--json", env=env).json()
    assert row["status"] == "sent" and row["attempts"] == 2
    assert "postgres" not in sent.output or "***" in sent.output or "@" not in pg_url


def test_two_workers_share_5000_deliveries_exactly_once_in_order(tmp_path, pg_url):
    store = Store(pg_url).open()
    with SandboxThread() as sb:
        addresses = [sb.webhook_inbox(f"pg{i}") for i in range(20)]
        text = webhook_config(addresses, extra="concurrency: 8")
        path = tmp_path / "tidings.yaml"
        path.write_text(text, "utf-8")
        env = {**os.environ, "TIDINGS_DATABASE_URL": pg_url, "NO_COLOR": "1"}
        command = [sys.executable, "-m", "tidings", "worker", "-c", str(path)]
        logs = [(tmp_path / f"w{i}.log").open("w") for i in range(2)]
        # Both workers are up and polling before the work arrives, as in production.
        workers = [subprocess.Popen(command, env=env, stderr=log) for log in logs]
        try:
            wait_for_logs(tmp_path, "tidings worker ")
            ids = enqueue_tasks(store, loads(text), 250)
            assert len(ids) == 5000
            deadline = time.monotonic() + 180
            while len({r.headers["X-Zadig-Event-UUID"] for r in sb.received()}) < 5000:
                assert time.monotonic() < deadline, "timed out"
                assert all(w.poll() is None for w in workers), "a worker exited"
                time.sleep(0.05)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=30)
            for log in logs:
                log.close()
        received = sb.received()
    assert [w.returncode for w in workers] == [0, 0]
    uuids = [r.headers["X-Zadig-Event-UUID"] for r in received]
    assert len(uuids) == len(set(uuids)) == 5000  # each exactly once: no crash, no duplicate
    assert set(uuids) == set(ids)
    for destination, task_ids in first_arrivals(received).items():
        assert task_ids == list(range(1, 251)), destination
    from sqlalchemy import func, select

    from tidings.store import tables

    with store.engine.connect() as connection:
        by_worker = dict(
            connection.execute(
                select(tables.attempts.c.worker, func.count()).group_by(tables.attempts.c.worker)
            ).all()
        )
    assert len(by_worker) == 2 and min(by_worker.values()) > 0  # both did part of the work
    store.close()
