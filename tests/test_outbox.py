"""The outbox and the worker on SQLite: recorded before sent, history, retry, crash recovery,
flaky receivers, pacing — over real sockets against the sandbox."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from helpers import enqueue_tasks, first_arrivals, seed_task, wait_until, webhook_config, write_json
from tidings.config.loading import loads
from tidings.delivery.clock import ScaledClock
from tidings.delivery.resolve import Resolver
from tidings.delivery.settings import limits_of
from tidings.delivery.worker import Backoff, Settings, Worker
from tidings.sandbox import Sandbox
from tidings.store.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path}/tidings.db").open()


def test_send_records_every_delivery_and_its_attempts(tmp_path, sandbox, cli):
    hook = sandbox.webhook_inbox("h", script=(503,))
    (tmp_path / "tidings.yaml").write_text(webhook_config([hook], "demo-workflow-dev"), "utf-8")
    task = write_json(tmp_path / "task.json", seed_task())
    assert cli("send", "-t", task).code == 0
    listed = cli("deliveries", "--json").json()
    assert [row["status"] for row in listed] == ["sent"]
    shown = cli("deliveries", "show", listed[0]["id"][-8:], "--json").json()
    log = shown["attempts_log"]
    assert [a["outcome"] for a in log] == ["retry", "ok"]
    assert [a["http_status"] for a in log] == [503, 200]
    assert shown["request"]["body"]["workflow"]["task_id"] == 47
    text = cli("deliveries", "show", listed[0]["id"]).stdout
    assert "HTTP 503" in text and "HTTP 200" in text
    # Lists show the end of an id (its beginning is the time); either end finds it.
    assert cli("deliveries").stdout.startswith(listed[0]["id"][-8:] + "  ")
    assert cli("deliveries", "show", listed[0]["id"][:13], "--json").json()["id"] == shown["id"]
    assert uuid.UUID(shown["id"]).version == 7


def test_no_wait_then_worker_delivers(tmp_path, sandbox, cli):
    hook = sandbox.webhook_inbox("later")
    (tmp_path / "tidings.yaml").write_text(webhook_config([hook], "demo-workflow-dev"), "utf-8")
    task = write_json(tmp_path / "task.json", seed_task())
    queued = cli("send", "-t", task, "--no-wait")
    assert queued.code == 0 and "queued 1 deliveries" in queued.stderr
    assert sandbox.received() == []  # recorded, not sent
    assert cli("deliveries", "--status", "pending", "--json").json()[0]["status"] == "pending"
    worked = cli("worker", "--once")
    assert worked.code == 0 and "status=sent" in worked.stderr
    assert len(sandbox.accepted("webhook")) == 1


def test_retry_sends_a_dead_delivery_again_under_its_id(tmp_path, sandbox, cli):
    hook = sandbox.webhook_inbox("down", script=(503,) * 30)
    (tmp_path / "tidings.yaml").write_text(webhook_config([hook], "demo-workflow-dev"), "utf-8")
    task = write_json(tmp_path / "task.json", seed_task())
    first = cli("send", "-t", task, "--deadline", "0.5")
    assert first.code == 1 and "DEAD" in first.stdout
    (dead,) = cli("deliveries", "--status", "dead", "--json").json()
    sandbox.webhook_inbox("down", script=())  # the receiver is back
    again = cli("retry", "--dead", "--json")
    assert again.code == 0, again.output
    assert [(d["delivery_id"], d["outcome"]) for d in again.json()] == [(dead["id"], "sent")]
    ids = {r.headers["X-Zadig-Event-UUID"] for r in sandbox.received("webhook")}
    assert ids == {dead["id"]}
    (listed,) = cli("deliveries", "--json").json()
    assert listed["status"] == "sent"
    # Every attempt counts, those before the retry too.
    assert dead["attempts"] >= 1 and listed["attempts"] == dead["attempts"] + 1
    shown = cli("deliveries", "show", dead["id"])
    assert f"status:      sent after {dead['attempts'] + 1} attempt(s)" in shown.stdout
    # Nothing dead is left: a script still reads a JSON list, an empty one.
    nothing = cli("retry", "--dead", "--json")
    assert (nothing.code, nothing.json()) == (0, [])


def test_unknown_delivery_id_is_bad_input(tmp_path, cli):
    result = cli("deliveries", "show", "abcdef12")
    assert result.code == 2 and "no delivery 'abcdef12'" in result.stderr


def test_sigkill_mid_queue_loses_nothing(tmp_path, store):
    """1,000 deliveries to 10 destinations, the worker killed -9 halfway, then restarted."""
    with_sandbox = SandboxThreadWithSlowInboxes(10, delay=0.004)
    with with_sandbox as sb:
        # A short lease, so the destinations the killed worker held are free again soon.
        config_text = webhook_config(sb.addresses, extra="concurrency: 10, lease: 2, timeout: 0.5")
        path = tmp_path / "tidings.yaml"
        path.write_text(config_text, "utf-8")
        config = loads(config_text)
        ids = enqueue_tasks(store, config, 100)
        assert len(ids) == 1000
        env = {**os.environ, "TIDINGS_DATABASE_URL": store.url, "NO_COLOR": "1"}
        command = [sys.executable, "-m", "tidings", "worker", "-c", str(path)]
        worker = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: len(sb.received()) >= 300, timeout=60)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        received_at_kill = len(sb.received())
        assert received_at_kill < 1000, "the kill came too late to test anything"
        log_path = tmp_path / "worker.log"
        with log_path.open("w") as log_file:
            restarted = subprocess.Popen(command, env=env, stderr=log_file)
            try:
                wait_until(lambda: len(unique_ids(sb.received())) >= 1000, timeout=60)
            finally:
                restarted.send_signal(signal.SIGTERM)  # graceful: finishes what is in flight
                restarted.wait(timeout=30)
        log = log_path.read_text()
        assert restarted.returncode == 0, log
        assert "tidings worker stopped" in log
        received = sb.received()
    uuids = [r.headers["X-Zadig-Event-UUID"] for r in received]
    assert set(uuids) == set(ids)  # every delivery arrived, under its own stable id
    duplicates = len(uuids) - len(set(uuids))
    # Only what was in flight at the kill comes twice: at most a couple per destination.
    assert duplicates <= 2 * 10, duplicates
    for destination, task_ids in first_arrivals(received).items():
        assert task_ids == sorted(task_ids), destination  # event order kept
    assert {row for row in _statuses(store)} == {"sent"}


def test_flaky_receiver_still_gets_everything(store):
    """30% of answers are 5xx, timeouts or connection resets: every delivery arrives."""
    rng = random.Random(7)
    failures = ("reset", "timeout", 500, 502, 503)
    script = [rng.choice(failures) if rng.random() < 0.3 else 200 for _ in range(2000)]

    async def scenario() -> list:
        async with Sandbox() as sb:
            addresses = [sb.webhook_inbox(f"flaky{i}", script=script[i::8]) for i in range(8)]
            config = loads(webhook_config(addresses, extra="timeout: 0.3, lease: 2"))
            ids = enqueue_tasks(store, config, 50)
            # Time scaled down: backoff and the circuit breaker's pauses (five failures in a
            # row happen here) in hundredths of a second.
            settings = Settings(
                timeout=0.3,
                backoff=Backoff(base=0.01, cap=0.05),
                max_attempts=50,
                breaker_pause=0.05,
                breaker_max_pause=0.2,
            )
            async with Worker(store, Resolver(config), settings=settings) as worker:
                statuses = await worker.run_until(ids, time.time() + 120)
            assert set(statuses.values()) == {"sent"}
            return sb.received()

    received = asyncio.run(scenario())
    failed = [r for r in received if not r.accepted]
    assert len(failed) / len(received) > 0.2  # the receiver really was that bad
    delivered = {r.headers["X-Zadig-Event-UUID"] for r in received if r.accepted}
    assert len(delivered) == 400


def test_pacing_keeps_a_dingtalk_robot_under_its_limit(store):
    """100 events for one robot (20/min, throttled 10 min beyond): never a 130101."""
    clock = ScaledClock(scale=600)  # one platform minute is 0.1 s here

    async def scenario() -> list:
        async with Sandbox(clock=clock) as sb:
            url = sb.dingtalk_robot("paced", secret="SECpaced0123", keywords=("工作流",))
            config = loads(
                "workflows:\n  - name: bulk\n    notify_ctls:\n"
                "      - {webhook_type: dingding, notify_type: [passed], "
                f"dingding_notification_config: {{hook_address: '{url}', secret: SECpaced0123}}}}\n"
            )
            ids = enqueue_tasks(store, config, 100)
            worker = Worker(
                store,
                Resolver(config),
                clock=clock,
                limits=limits_of(config),
                # One message each, as with `coalesce_after: 0` (tests/test_coalesce.py
                # has the robot's backlog merged into digests instead).
                settings=Settings(lease=600, coalesce_after=0),
            )
            async with worker:
                statuses = await worker.run_until(ids, clock.now() + 3600)
            assert set(statuses.values()) == {"sent"}
            return sb.received("dingtalk")

    received = asyncio.run(scenario())
    assert [r.code for r in received] == [0] * 100
    span = received[-1].at - received[0].at
    assert span >= 4 * 60  # 100 messages at 20 a minute take at least four platform minutes
    titles = [int(r.text.split("#")[1].split()[0]) for r in received]
    assert titles == list(range(1, 101))  # in event order


def _statuses(store: Store) -> list[str]:
    from sqlalchemy import select

    from tidings.store import tables

    with store.engine.connect() as connection:
        return list(connection.execute(select(tables.deliveries.c.status)).scalars())


def unique_ids(received) -> set[str]:
    return {r.headers["X-Zadig-Event-UUID"] for r in received if r.accepted}


class SandboxThreadWithSlowInboxes:
    """A sandbox whose webhook inboxes answer after a short delay, like real receivers."""

    def __init__(self, count: int, delay: float) -> None:
        from tidings.sandbox import SandboxThread

        self.sb = SandboxThread()
        self.count, self.delay = count, delay

    def __enter__(self):
        self.sb.__enter__()
        self.sb.addresses = [
            self.sb.webhook_inbox(f"in{i}", script=[("delay", self.delay)] * 500)
            for i in range(self.count)
        ]
        return self.sb

    def __exit__(self, *exc):
        return self.sb.__exit__(*exc)


def test_worker_serves_prometheus_metrics(tmp_path, sandbox):
    import socket
    import urllib.request

    hook = sandbox.webhook_inbox("metrics", script=(503,))
    config_text = webhook_config([hook], extra="timeout: 1, lease: 3")
    path = tmp_path / "tidings.yaml"
    path.write_text(config_text, "utf-8")
    store = Store(f"sqlite:///{tmp_path}/m.db").open()
    enqueue_tasks(store, loads(config_text), 3)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "TIDINGS_DATABASE_URL": store.url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "tidings", "worker", "-c", str(path), "--metrics-port", str(port)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: len(unique_ids(sandbox.received())) == 3, timeout=30)

        def scrape() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    return r.read().decode()
            except OSError:  # not listening yet
                return ""

        wait_until(lambda: 'status="sent"} 3.0' in scrape(), timeout=10)
        text = scrape()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert 'tidings_deliveries_total{channel="webhook",status="sent"} 3.0' in text
    assert 'tidings_attempts_total{channel="webhook",outcome="retry"} 1.0' in text
    assert "tidings_queue_depth 0.0" in text
    assert "tidings_oldest_pending_age_seconds 0.0" in text
    assert "tidings_send_seconds_count" in text


def test_db_upgrade_creates_the_schema_where_the_environment_says(tmp_path, cli):
    from tidings.store.db import HEAD

    result = cli("db", "upgrade")
    assert result.code == 0, result.output
    assert f"schema at revision {HEAD}" in result.stdout
    assert (tmp_path / "home" / "tidings.db").exists()  # $TIDINGS_HOME/tidings.db
    bad = cli("db", "upgrade", env={"TIDINGS_DATABASE_URL": "nonsense://"})
    assert bad.code == 1 and "database" in bad.stderr and "Traceback" not in bad.output


def test_an_ad_hoc_message_is_not_retried_from_history(tmp_path, cli):
    (tmp_path / "tidings.yaml").write_text("workflows: []\n", "utf-8")
    dead = cli(
        "notify",
        "--type",
        "webhook",
        "--hook-address",
        "http://127.0.0.1:1/x",
        "--content",
        "hello",
        "--deadline",
        "0.5",
    )
    assert dead.code == 1 and "deliveries --status dead" in dead.stderr
    (row,) = cli("deliveries", "--status", "dead", "--json").json()
    again = cli("retry", row["id"])
    assert again.code == 1 and "ad-hoc notify message" in again.stderr
    assert cli("deliveries", "--status", "dead", "--json").json()[0]["id"] == row["id"]
