"""Coalescing (issue #18): a rate-limited robot's backlog becomes digests within its limits,
against the sandbox's robots (which enforce 20 a minute) on a scaled clock."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from helpers import seed_task
from tidings.config.loading import loads
from tidings.delivery.clock import ScaledClock
from tidings.delivery.outbox import NewEvent
from tidings.delivery.resolve import Resolver
from tidings.delivery.settings import limits_of, settings_of
from tidings.delivery.worker import Worker
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task
from tidings.sandbox import Sandbox
from tidings.sending.record import record
from tidings.store.db import Store

SECRET = "SECcoalesce0123"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path}/tidings.db").open()


def robot_config(ctls: str, extra: str = "") -> str:
    return (
        f"system:\n  delivery: {{lease: 600{extra}}}\n"
        "workflows:\n  - name: bulk\n    notify_ctls:\n" + ctls
    )


def dingtalk_ctl(url: str, mobiles: str = "[]", coalesce: str = "") -> str:
    return (
        "      - {webhook_type: dingding, notify_type: [created, passed, failed], "
        f"{coalesce}dingding_notification_config: {{hook_address: '{url}', secret: {SECRET}, "
        f"at_mobiles: {mobiles}}}}}\n"
    )


def enqueue(store: Store, config, events: list[tuple[int, str]], creator: str = "") -> list[str]:
    """Record task events (task id, status) of workflow `bulk`, as `send --no-wait` would."""
    ids: list[str] = []
    base = seed_task()
    for task_id, status in events:
        snapshot = {**base, "workflow_name": "bulk", "task_id": task_id, "status": status}
        if creator:
            snapshot["task_creator"] = creator
        task = parse_task(snapshot)
        plan = plan_event(config, config.workflow("bulk"), task, status=status)
        event = NewEvent("task", "bulk", task_id, status)
        ids += record(store, plan, event, now=time.time(), expires_in=3600).delivery_ids
    return ids


def statuses(store: Store) -> list[tuple[str, str | None, int, str]]:
    with store.transaction(write=False) as tx:
        return tx.run("SELECT status, digest_id, lane, id FROM deliveries ORDER BY seq")


def work(store: Store, config, clock, ids: list[str]) -> dict[str, str]:
    async def run() -> dict[str, str]:
        worker = Worker(
            store,
            Resolver(config),
            clock=clock,
            limits=limits_of(config),
            settings=settings_of(config),
        )
        async with worker:
            return await worker.run_until(ids, clock.now() + 3600)

    return asyncio.run(run())


TASK = re.compile(r"\[#(\d+)\]")


def test_a_dingtalk_backlog_becomes_digests_within_the_limit(store):
    """200 events for one robot at once: a few digests, never throttled, every task once."""
    clock = ScaledClock(scale=30)  # one platform minute is two seconds here

    async def scenario():
        async with Sandbox(clock=clock) as sb:
            url = sb.dingtalk_robot("backlog", secret=SECRET, keywords=("工作流",))
            config = loads(robot_config(dingtalk_ctl(url, "['13800000001', '13800000002']")))
            # Tasks 1-100 created then passed: 200 events, one line per task in the digests.
            events = [(i, "created") for i in range(1, 101)]
            events += [(i, "passed") for i in range(1, 101)]
            ids = enqueue(store, config, events)
            started = clock.now()
            worker = Worker(
                store,
                Resolver(config),
                clock=clock,
                limits=limits_of(config),
                settings=settings_of(config),
            )
            async with worker:
                finals = await worker.run_until(ids, clock.now() + 3600)
            return finals, sb.received("dingtalk"), clock.now() - started

    finals, received, took = asyncio.run(scenario())
    assert set(finals.values()) == {"coalesced"}
    assert [r.code for r in received] == [0] * len(received)  # never "too fast"
    assert 1 <= len(received) <= 20
    assert took < 60  # everything arrived within the platform minute
    lines = [int(n) for r in received for n in TASK.findall(r.text)]
    assert sorted(lines) == list(range(1, 101))  # each task once, in exactly one digest
    for r in received:
        assert "工作流" in r.text  # the robot's keyword is in every digest
        assert r.text.count("@13800000001") == 1 and r.text.count("@13800000002") == 1
        assert set(r.mentions) == {"13800000001", "13800000002"}
        assert len(r.text.encode()) < 20000
    # The final status superseded the task's own `created`, and says so.
    assert "执行成功" in received[-1].text and "开始执行" not in "".join(r.text for r in received)
    assert "（2 条通知）" in received[0].text
    rows = statuses(store)
    merged = [row for row in rows if row[2] == 1]
    digests = [row for row in rows if row[2] == 0]
    assert {row[0] for row in merged} == {"coalesced"} and len(merged) == 200
    assert {row[0] for row in digests} == {"sent"} and len(digests) == len(received)
    assert {row[1] for row in merged} <= {row[3] for row in digests}  # each names its digest


def test_a_short_backlog_is_sent_message_by_message(store):
    """Five events fit the robot's rate: each arrives as itself, in order, no digest."""
    clock = ScaledClock(scale=30)

    async def scenario():
        async with Sandbox(clock=clock) as sb:
            url = sb.dingtalk_robot("short", secret=SECRET, keywords=("工作流",))
            config = loads(robot_config(dingtalk_ctl(url)))
            ids = enqueue(store, config, [(i, "passed") for i in range(1, 6)])
            async with Worker(
                store,
                Resolver(config),
                clock=clock,
                limits=limits_of(config),
                settings=settings_of(config),
            ) as worker:
                finals = await worker.run_until(ids, clock.now() + 3600)
            return finals, sb.accepted("dingtalk")

    finals, received = asyncio.run(scenario())
    assert set(finals.values()) == {"sent"}
    assert [int(r.text.split("#")[1].split()[0]) for r in received] == [1, 2, 3, 4, 5]
    assert {row[0] for row in statuses(store)} == {"sent"}
