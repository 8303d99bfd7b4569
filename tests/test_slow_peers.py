"""Slow and broken peers against the worker's leases (#20.6, #20.7): a mail server that takes
1.5 s to answer each SMTP command gets each mail once, whatever the lease; a receiver that
always times out pauses its destination instead of burning every message's retries."""

from __future__ import annotations

import asyncio
import textwrap
import time

import pytest

from helpers import enqueue_tasks, webhook_config
from tidings.config.loading import loads
from tidings.delivery.resolve import Resolver
from tidings.delivery.settings import limits_of, settings_of
from tidings.delivery.worker import Backoff, Worker
from tidings.sandbox import Sandbox
from tidings.store import queue
from tidings.store.db import Store

# The numbers: each command answered in 1.5 s, 3 s timeout, 5 s lease. A mail is
# about ten round trips (greeting, EHLO, MAIL, RCPT, DATA, the message, QUIT), 15 s or so.
SLOW_REPLY = 1.5


def mail_config(port: int, recipients: list[str]) -> str:
    targets = ", ".join(f"{{type: email, user_name: {r}}}" for r in recipients)
    return textwrap.dedent(
        f"""
        system:
          smtp: {{host: 127.0.0.1, port: {port}, security: none, sender: noreply@example.com}}
          delivery: {{timeout: 3, lease: 5}}
        workflows:
          - name: bulk
            notify_ctls:
              - webhook_type: mail
                notify_type: [passed]
                mail_notification_config:
                  target_users: [{targets}]
        """
    )


async def work_until_final(store: Store, config, ids: list[str], workers: int) -> dict[str, str]:
    """Run `workers` workers (each its own name and leases, as separate processes would)
    until every delivery is final; each finishes what it has in flight before it returns."""
    stop = asyncio.Event()
    running = []
    for _ in range(workers):
        worker = Worker(
            store, Resolver(config), settings=settings_of(config), limits=limits_of(config)
        )
        await worker.__aenter__()
        running.append((worker, asyncio.create_task(worker.run(stop))))
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            found = queue.statuses(store, ids)
            if all(found.get(i) in queue.FINAL for i in ids):
                break
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        for worker, task in running:
            await task
            await worker.__aexit__(None, None, None)
    return queue.statuses(store, ids)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_slow_mail_server_gets_each_mail_once(database_url, workers):
    """Every mail takes three times the lease; no worker sends it again meanwhile, neither
    the one sending it (concurrency 32: free to claim) nor another one."""
    store = Store(database_url).open()

    async def scenario():
        async with Sandbox(smtp={"security": "none", "reply_delay": SLOW_REPLY}) as sb:
            recipients = ["ada@example.com", "bob@example.com"]
            config = loads(mail_config(sb.smtp.port, recipients))
            ids = enqueue_tasks(store, config, 1)  # one mail to each of two addresses
            statuses = await work_until_final(store, config, ids, workers)
            return ids, statuses, sb.accepted("mail")

    ids, statuses, accepted = asyncio.run(scenario())
    assert set(statuses.values()) == {"sent"}, statuses
    per_mail = {}
    for row in accepted:
        key = (row.destination, row.headers["Message-ID"])
        per_mail[key] = per_mail.get(key, 0) + 1
    assert len(per_mail) == len(ids) == 2
    assert set(per_mail.values()) == {1}, per_mail  # each mail exactly once


def test_an_attempt_ends_at_its_deadline_however_slowly_the_server_answers(tmp_path):
    """Each reply comes within the per-command timeout, but the whole mail would take longer
    than system.delivery.attempt_timeout: the attempt is stopped there, and says why."""
    store = Store(f"sqlite:///{tmp_path}/tidings.db").open()

    async def scenario():
        async with Sandbox(smtp={"security": "none", "reply_delay": 0.6}) as sb:
            text = mail_config(sb.smtp.port, ["ada@example.com"]).replace(
                "{timeout: 3, lease: 5}",
                "{timeout: 1, lease: 3, attempt_timeout: 2, max_attempts: 2}",
            )
            config = loads(text)
            ids = enqueue_tasks(store, config, 1)
            statuses = await work_until_final(store, config, ids, 1)
            return ids, statuses, sb.accepted("mail")

    ids, statuses, accepted = asyncio.run(scenario())
    assert statuses == {ids[0]: "dead"} and accepted == []
    with store.transaction(write=False) as tx:
        details = [row[0] for row in tx.run("SELECT detail FROM attempts ORDER BY id")]
    assert len(details) == 2
    assert all(
        "within 2 s for the whole attempt (system.delivery.attempt_timeout)" in d for d in details
    ), details


def test_a_send_stops_when_another_worker_takes_its_destination(tmp_path):
    """Whoever holds the lease sends: a worker that finds its lease taken (here by a claim
    written as another worker would after the lease ran out) stops its send mid-mail."""
    store = Store(f"sqlite:///{tmp_path}/tidings.db").open()

    async def scenario():
        async with Sandbox(smtp={"security": "none", "reply_delay": 1.0}) as sb:
            config = loads(mail_config(sb.smtp.port, ["ada@example.com"]))
            enqueue_tasks(store, config, 1)
            worker = Worker(store, Resolver(config), settings=settings_of(config))
            async with worker:
                task = asyncio.create_task(worker.step())
                await asyncio.sleep(2.5)  # the mail is under way (a greeting and EHLO)
                with store.transaction() as tx:
                    tx.run("UPDATE destinations SET lease_owner = 'other:1:abcdef'")
                await task
            return sb.accepted("mail")

    accepted = asyncio.run(scenario())
    assert accepted == []
    with store.transaction(write=False) as tx:
        (detail,) = [row[0] for row in tx.run("SELECT detail FROM attempts")]
    assert detail.startswith("stopped before this worker's lease on the destination could end")


def test_a_receiver_that_times_out_pauses_its_destination_until_it_answers(database_url):
    """Three timeouts in a row pause the destination: its other deliveries spend nothing
    meanwhile, another destination is not held up; after the pause one delivery tries it, its
    success resumes the destination and the rest follow in order."""
    store = Store(database_url).open()
    broken_script = [("delay", 1.0)] * 3  # no answer within the timeout, three times; then 200

    async def scenario():
        async with Sandbox() as sb:
            broken = sb.webhook_inbox("broken", script=broken_script)
            healthy = sb.webhook_inbox("healthy")
            extra = "timeout: 0.3, lease: 2, breaker_failures: 3, breaker_pause: 2"
            config = loads(webhook_config([broken, healthy], extra=extra))
            settings = settings_of(config)
            settings.backoff = Backoff(base=0.01, cap=0.05)
            ids = enqueue_tasks(store, config, 5)
            stop = asyncio.Event()
            async with Worker(store, Resolver(config), settings=settings) as worker:
                run = asyncio.create_task(worker.run(stop))
                paused = await wait_for(store, PAUSED)
                while_paused = per_destination(store)
                await wait_for(
                    store,
                    "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM deliveries WHERE status = 'pending')",
                )
                stop.set()
                await run
            return paused, while_paused, sb.received(), ids

    paused, while_paused, received, ids = asyncio.run(scenario())
    failures, pauses, reason = paused
    assert (failures, pauses) == (3, 1)
    assert reason.startswith("network error: no answer within 0.3 s"), reason
    # While paused: three attempts, all on its first delivery; the other four untouched.
    broken, healthy = sorted(while_paused, key=lambda d: d["address"].endswith("healthy"))
    assert broken["attempts"] == [3, 0, 0, 0, 0], broken
    assert healthy["statuses"] == ["sent"] * 5  # the other destination went on
    # Resumed: in event order; the first one came late three times (the receiver took it
    # after the worker had stopped waiting), each of the others once.
    accepted = [r for r in received if r.accepted and r.destination == "broken"]
    assert [r.body["workflow"]["task_id"] for r in accepted] == [1, 1, 1, 1, 2, 3, 4, 5]
    assert set(queue.statuses(store, ids).values()) == {"sent"}
    with store.transaction(write=False) as tx:
        state = tx.run("SELECT failures, pauses, paused_until FROM destinations")
    assert set(state) == {(0, 0, None)}


PAUSED = "SELECT failures, pauses, paused_reason FROM destinations WHERE paused_until IS NOT NULL"


async def wait_for(store: Store, sql: str) -> tuple:
    """The first row `sql` gives, polling until it gives one (at most a minute)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with store.transaction(write=False) as tx:
            rows = tx.run(sql)
        if rows:
            return tuple(rows[0])
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing from {sql} within a minute")


def per_destination(store: Store) -> list[dict]:
    """Each destination's deliveries in event order: their attempts and statuses."""
    with store.transaction(write=False) as tx:
        rows = tx.run("SELECT address, attempts, status FROM deliveries ORDER BY seq")
    found: dict[str, dict] = {}
    for address, attempts, status in rows:
        entry = found.setdefault(address, {"address": address, "attempts": [], "statuses": []})
        entry["attempts"].append(attempts)
        entry["statuses"].append(status)
    return list(found.values())


def test_tidings_deliveries_and_the_metrics_show_a_paused_destination(tmp_path, cli):
    """What an operator looks at: `tidings deliveries` names the paused destination, until
    when and why, on each of its waiting deliveries; the metrics count it."""
    from tidings.delivery.metrics import Metrics

    database = tmp_path / "tidings.db"

    async def scenario() -> str:
        async with Sandbox() as sb:
            broken = sb.webhook_inbox("broken", script=[("delay", 1.0)] * 10)
            extra = "timeout: 0.3, lease: 2, breaker_failures: 2, breaker_pause: 600"
            text = webhook_config([broken], extra=extra).replace(
                "system:\n", f"system:\n  database_url: 'sqlite:///{database}'\n"
            )
            config = loads(text)
            store = Store(f"sqlite:///{database}").open()
            settings = settings_of(config)
            settings.backoff = Backoff(base=0.01, cap=0.05)
            enqueue_tasks(store, config, 3)
            stop = asyncio.Event()
            async with Worker(store, Resolver(config), settings=settings) as worker:
                run = asyncio.create_task(worker.run(stop))
                await wait_for(store, PAUSED)
                stop.set()
                await run
            metrics = Metrics(store)
            assert metrics.registry.get_sample_value("tidings_paused_destinations") == 1.0
            path = tmp_path / "tidings.yaml"
            path.write_text(text, "utf-8")
            return str(path)

    config_path = asyncio.run(scenario())
    done = cli("deliveries", "-c", config_path)
    assert done.code == 0, done.stderr
    (notice,) = [line for line in done.stderr.splitlines() if line.startswith("paused: ")]
    assert "webhook" in notice and "(3 pending) after 2 failures in a row (pause 1)" in notice
    assert "network error: no answer within 0.3 s" in notice
    waiting = [line for line in done.stdout.splitlines() if "pending" in line]
    assert len(waiting) == 3
    assert all("destination paused until" in line for line in waiting), done.stdout


def test_retry_tries_a_paused_destination_now(tmp_path, sandbox, cli):
    """A person who fixed the receiver and runs `tidings retry` sees it sent at once, not
    after the rest of the destination's pause."""
    from helpers import seed_task, write_json

    hook = sandbox.webhook_inbox("down", script=(503, 503))
    config = tmp_path / "tidings.yaml"
    extra = "max_attempts: 2, breaker_failures: 2, breaker_pause: 600"
    config.write_text(webhook_config([hook], "demo-workflow-dev", extra=extra), "utf-8")
    task = write_json(tmp_path / "task.json", seed_task())
    sent = cli("send", "-c", str(config), "-t", task, "--json")
    assert sent.code == 1, sent.output
    (dead,) = sent.json()["deliveries"]
    assert dead["outcome"] == "dead"
    (listed,) = cli("deliveries", "-c", str(config), "--json").json()
    assert listed["paused_until"], listed  # the destination is paused for ten minutes
    retried = cli("retry", "-c", str(config), dead["delivery_id"], "--deadline", "10", "--json")
    assert retried.code == 0, retried.output
    assert [d["outcome"] for d in retried.json()] == ["sent"]
    (listed,) = cli("deliveries", "-c", str(config), "--json").json()
    assert listed["status"] == "sent" and not listed["paused_until"]


def test_the_worker_log_says_when_a_destination_is_paused_and_when_it_answers_again(
    tmp_path, sandbox
):
    """An operator tailing `tidings worker --log-format json` sees the pause (until when,
    why) when it starts, and the resumption when the receiver answers again."""
    import json
    import os
    import signal
    import subprocess
    import sys
    from datetime import datetime

    from helpers import wait_until

    hook = sandbox.webhook_inbox("flaky", script=[("delay", 1.0)] * 2)  # then 200
    database = tmp_path / "tidings.db"
    extra = "timeout: 0.3, lease: 2, breaker_failures: 2, breaker_pause: 1"
    text = webhook_config([hook], extra=extra)
    path = tmp_path / "tidings.yaml"
    path.write_text(text, "utf-8")
    store = Store(f"sqlite:///{database}").open()
    ids = enqueue_tasks(store, loads(text), 1)
    env = {**os.environ, "TIDINGS_DATABASE_URL": store.url, "NO_COLOR": "1"}
    command = [sys.executable, "-m", "tidings", "worker", "-c", str(path), "--log-format", "json"]
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log_file:
        worker = subprocess.Popen(command, env=env, stderr=log_file)
        try:
            wait_until(lambda: queue.statuses(store, ids) == {ids[0]: "sent"}, timeout=30)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line[:1] == "{"]
    events = [line for line in lines if line.get("event") in ("paused", "resumed")]
    assert [e["event"] for e in events] == ["paused", "resumed"], lines
    paused, resumed = events
    assert paused["level"] == "warning" and paused["failures"] == 2
    assert paused["reason"].startswith("network error: no answer within 0.3 s"), paused
    assert paused["address"] == resumed["address"] and "flaky" in paused["address"]
    assert resumed["level"] == "info"
    # Paused for breaker_pause (1 s) from when it was logged, in the same notation as `ts`.
    logged_at, until = (
        datetime.strptime(paused[key], "%Y-%m-%dT%H:%M:%S%z") for key in ("ts", "until")
    )
    assert 0 <= (until - logged_at).total_seconds() <= 2, paused
