"""Recording events in the outbox: one event or many in one transaction, idempotency keys,
all or nothing — checked in the database a worker reads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from helpers import seed_task, webhook_config
from tidings.config.loading import loads
from tidings.delivery.outbox import NewDelivery, NewEvent, enqueue_many
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task
from tidings.store import queue
from tidings.store.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path}/tidings.db").open()


def deliveries_of(config, task_id: int) -> list[NewDelivery]:
    task = parse_task({**seed_task(), "workflow_name": "w", "task_id": task_id})
    plan = plan_event(config, config.workflow("w"), task)
    return [NewDelivery(r, item.display) for item in plan.planned for r in item.requests]


def keys_of(config) -> list[str]:
    task = parse_task({**seed_task(), "workflow_name": "w", "task_id": 1})
    return [item.key for item in plan_event(config, config.workflow("w"), task).planned]


def test_a_batch_records_each_event_whole_and_in_order(store) -> None:
    config = loads(webhook_config(["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"], "w"))
    batch = [
        (NewEvent("task", "w", 1, "passed", idempotency_key="k1"), deliveries_of(config, 1)),
        (NewEvent("task", "w", 2, "passed", idempotency_key="k2"), deliveries_of(config, 2)),
        (NewEvent("task", "w", 3, "passed", idempotency_key="k1"), deliveries_of(config, 3)),
    ]
    first, second, again = enqueue_many(store, batch, now=time.time(), expires_in=60)
    assert len(first.delivery_ids) == 2 and len(second.delivery_ids) == 2
    assert again.duplicate and again.delivery_ids == first.delivery_ids  # same key in the batch
    later = enqueue_many(store, batch[1:2], now=time.time(), expires_in=60)[0]
    assert later.duplicate and later.delivery_ids == second.delivery_ids  # key seen before
    # Each destination sees task 1 before task 2, as a worker reads them.
    for key in keys_of(config):
        pending = queue.pending(store, key, 10)
        assert [p.request["body"]["workflow"]["task_id"] for p in pending] == [1, 2]


def test_a_failing_batch_records_nothing(store) -> None:
    config = loads(webhook_config(["http://127.0.0.1:9/a"], "w"))
    good = (NewEvent("task", "w", 1, "passed"), deliveries_of(config, 1))
    broken = NewDelivery(deliveries_of(config, 2)[0].request, None)  # address is required
    with pytest.raises(Exception, match="NOT NULL"):
        enqueue_many(store, [good, (NewEvent("task", "w", 2), [broken])], now=0, expires_in=60)
    assert queue.pending(store, "w/notify_ctls[0]", 10) == []
