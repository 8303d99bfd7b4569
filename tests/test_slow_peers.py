"""Slow and broken peers against the worker's leases (#20.6, #20.7): a mail server that takes
1.5 s to answer each SMTP command gets each mail once, whatever the lease; a receiver that
always times out pauses its destination instead of burning every message's retries."""

from __future__ import annotations

import asyncio
import textwrap
import time

import pytest

from helpers import enqueue_tasks
from tidings.config.loading import loads
from tidings.delivery.resolve import Resolver
from tidings.delivery.settings import limits_of, settings_of
from tidings.delivery.worker import Worker
from tidings.sandbox import Sandbox
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
    from tidings.store import queue

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
