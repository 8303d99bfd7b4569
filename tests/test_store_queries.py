"""The queries of store/ on SQLite and PostgreSQL: the filters of `tidings deliveries`, `GET
/api/v1/deliveries` and the task lists are bound values — a hostile one matches nothing and
changes nothing, a workflow named with quotes is found as it is."""

from __future__ import annotations

import textwrap
import time
import urllib.parse

import pytest

from api_helpers import READER, ApiServer, tokens_yaml
from tidings.channels import identity
from tidings.channels.base import Request
from tidings.delivery.outbox import NewDelivery, NewEvent, enqueue
from tidings.store import history, queue, tables, tasks
from tidings.store.db import Store

QUOTED = "rel'ease\"; --"  # a legal workflow name with quotes: a value like any other
HOSTILE = [
    "' OR '1'='1",
    "x'; DROP TABLE deliveries; --",
    "pending' --",
    '" OR 1=1 --',
    "') OR 1=1 --",
    "' UNION SELECT id, id, id, id, id, id, id, id, id, id, id, id, id, id, id, id FROM events --",
    "%",
    "_",
    "\\",
    ":status",  # the store's own parameter spelling
    "%(status)s",  # psycopg's
    "?",  # sqlite3's
]


def _record(store: Store, workflow: str, task_id: int, status: str) -> list[str]:
    url = f"http://127.0.0.1:9/{workflow}/{task_id}"  # a destination of its own
    key = identity.key(identity.address_key("webhook", [url]))
    request = Request(channel="webhook", destination=key, body={"task_id": task_id})
    snapshot = {"workflow_name": workflow, "task_id": task_id, "status": status}
    event = NewEvent("task", workflow, task_id, status, snapshot=snapshot)
    done = enqueue(store, event, [NewDelivery(request, url)], now=time.time(), expires_in=60)
    return done.delivery_ids


@pytest.fixture
def store(database_url):
    store = Store(database_url).open()
    try:
        yield store
    finally:
        store.close()


def test_hostile_filter_values_are_only_values(store):
    mine = _record(store, "release", 1, "passed") + _record(store, "release", 2, "failed")
    quoted = _record(store, QUOTED, 1, "passed")
    everything = {row["id"] for row in history.list_deliveries(store)}
    assert everything == {*mine, *quoted}
    for value in HOSTILE:
        assert history.list_deliveries(store, workflow=value) == [], value
        assert history.list_deliveries(store, status=value) == [], value
        assert history.list_deliveries(store, status=value, workflow=value, task_id=1) == []
        assert tasks.list_tasks(store, value, 10) == [], value
        assert tasks.list_tasks(store, None, 10, status=value) == [], value
        assert tasks.get_task(store, value, 1) is None
        assert history.find_ids(store, value * 6) == [], value
    # Nothing was dropped or changed, and quotes in a name are part of the name.
    assert {row["id"] for row in history.list_deliveries(store)} == everything
    assert [r["id"] for r in history.list_deliveries(store, workflow=QUOTED)] == quoted
    (task,) = tasks.list_tasks(store, QUOTED, 10)
    assert task["snapshot"]["workflow_name"] == QUOTED and task["pid"] is None


def test_filters_combine(store):
    first = _record(store, "release", 1, "passed")
    second = _record(store, "release", 2, "failed")
    other = _record(store, "build", 1, "passed")
    newest_first = [*other, *second, *first]
    assert [r["id"] for r in history.list_deliveries(store)] == newest_first
    assert [r["id"] for r in history.list_deliveries(store, workflow="release")] == second + first
    assert [r["id"] for r in history.list_deliveries(store, task_id=1)] == other + first
    assert [r["id"] for r in history.list_deliveries(store, workflow="build", task_id=1)] == other
    assert [r["id"] for r in history.list_deliveries(store, status="pending", limit=1)] == other
    assert history.list_deliveries(store, workflow="release", task_id=3) == []
    (row,) = history.list_deliveries(store, workflow="release", task_id=2)
    assert (row["workflow"], row["task_id"], row["event_status"], row["kind"]) == (
        "release",
        2,
        "failed",
        "task",
    )
    listed = [(t["workflow"], t["task_id"]) for t in tasks.list_tasks(store, None, 10)]
    assert sorted(listed) == [("build", 1), ("release", 1), ("release", 2)]
    assert [t["task_id"] for t in tasks.list_tasks(store, "release", 10, "failed")] == [2]
    # An id is found from either end, and a LIKE wildcard is not a wildcard.
    assert history.find_ids(store, first[0][-8:]) == first
    assert history.find_ids(store, first[0].upper()) == first
    assert history.find_ids(store, first[0][:12] + "%") == []
    assert history.find_ids(store, "_" * 36) == []


def test_the_api_takes_hostile_filters_as_values(tmp_path):
    config = tmp_path / "tidings.yaml"
    config.write_text(
        "system:\n"
        + tokens_yaml()
        + textwrap.dedent(
            """\
            workflows:
              - name: release
                notify_ctls:
                  - webhook_type: webhook
                    notify_type: [passed]
                    webhook_notification_config: {address: "http://127.0.0.1:9/hook"}
            """
        ),
        "utf-8",
    )
    with ApiServer(str(config), tmp_path, worker=False) as api:
        ids = _record(api.store, "release", 1, "passed")
        for value in HOSTILE:
            query = urllib.parse.urlencode({"workflow": value})
            answer = api.call("GET", f"/api/v1/deliveries?{query}", token=READER)
            assert (answer.status, answer.json()) == (200, []), (value, answer)
            answer = api.call("GET", f"/api/v1/tasks?{query}", token=READER)
            assert (answer.status, answer.json()) == (200, []), (value, answer)
        listed = api.call("GET", "/api/v1/deliveries", token=READER).json()
        assert [row["id"] for row in listed] == ids


def test_a_run_from_start_to_end(store):
    """The runner's statements: ids allocated in turn, heartbeat, what a run waits for, one
    decision per user (the second is refused by the unique key), cancel, a dead run ended."""

    def new(task_id: int) -> tasks.NewRun:
        return tasks.NewRun("created", {"task_id": task_id, "status": "created"}, f"/r/{task_id}")

    assert [tasks.start(store, "release", new, pid=7, host="h", now=1.0) for _ in "ab"] == [1, 2]
    assert tasks.latest_run(store, "release") == 2 and tasks.latest_run(store, "release", 1) == 1
    assert tasks.latest_run(store, "release", 3) is None and tasks.latest_run(store, "x") is None
    tasks.save(store, "release", 1, "running", {"task_id": 1, "status": "running"}, 2.0)
    assert tasks.status_of(store, "release", 1) == "running"
    assert tasks.snapshot_of(store, "release", 2) == {"task_id": 2, "status": "created"}
    assert tasks.status_of(store, "release", 0) is None

    waiting = {"job": "approve", "approvers": ["qa", "ops"], "needed": 1}
    tasks.set_waiting(store, "release", 1, waiting)
    row = tasks.beat(store, "release", 1, 3.0)
    assert (row.pid, row.host, row.heartbeat_at, row.run_dir) == (7, "h", 3.0, "/r/1")
    assert row.waiting == waiting and row.finished_at is None
    assert tasks.get_task(store, "release", 1)["waiting"] == waiting
    assert tasks.add_decision(store, "release", 1, "approve", "qa", "approve", "ok", 4.0)
    assert not tasks.add_decision(store, "release", 1, "approve", "qa", "reject", "", 5.0)
    assert tasks.add_decision(store, "release", 1, "approve", "ops", "reject", "no", 6.0)
    assert tasks.decisions(store, "release", 1, "approve") == [
        {"user_id": "qa", "decision": "approve", "comment": "ok", "at": 4.0},
        {"user_id": "ops", "decision": "reject", "comment": "no", "at": 6.0},
    ]
    tasks.request_cancel(store, "release", 2, "qa", 7.0)
    assert tasks.run_of(store, "release", 2).cancel_requested_by == "qa"
    assert tasks.run_of(store, "release", 3) is None

    judged = []

    def judge(found: tasks.ActiveRun) -> tasks.Ended | None:
        judged.append((found.run.task_id, found.snapshot["status"]))
        if found.run.task_id != 2:
            return None
        return tasks.Ended("failed", {**found.snapshot, "status": "failed"})

    assert tasks.end_runs(store, ("created", "running"), 8.0, judge) == [("release", 2)]
    assert sorted(judged) == [(1, "running"), (2, "created")]
    assert tasks.status_of(store, "release", 2) == "failed"
    assert tasks.run_of(store, "release", 2).finished_at == 8.0
    assert tasks.end_runs(store, ("created", "running"), 9.0, judge) == []  # nothing twice


def test_deliveries_retried_shown_and_their_events(store):
    ids = _record(store, "release", 1, "passed") + _record(store, "release", 2, "passed")
    assert history.reached(store, "no such event") == set()
    states = history.states(store, ids)
    assert [states[i].status for i in ids] == ["pending", "pending"]
    with store.transaction() as tx:  # as a worker would have left them
        tx.run(
            "UPDATE deliveries SET status = 'dead', last_error = 'gone' WHERE id = :id",
            {"id": ids[0]},
        )
        tx.run("UPDATE deliveries SET status = 'failed' WHERE id = :id", {"id": ids[1]})
    assert history.dead_ids(store) == [ids[0]]
    attempt: queue.AttemptRow = {
        "delivery_id": ids[0],
        "at": 5.0,
        "duration_ms": 1.5,
        "outcome": "retry",
        "http_status": 503,
        "code": None,
        "detail": "HTTP 503",
        "worker": "w",
    }
    queue.write(store, [], [attempt], [], "w")

    shown = history.show(store, ids[0])
    assert shown["request"]["body"] == {"task_id": 1}
    (logged,) = shown["attempts_log"]
    assert list(logged) == [c.name for c in tables.attempts.columns]
    assert {name: logged[name] for name in attempt} == attempt
    assert (shown["status"], shown["last_error"]) == ("dead", "gone")
    assert (shown["workflow"], shown["task_id"], shown["event_status"]) == ("release", 1, "passed")
    assert history.show(store, "no such delivery") is None
    assert shown["carries"] == [] and shown["digest_id"] is None
    # Every column of the delivery, then these of its event, its attempts, what it carries
    # (a digest: the deliveries merged into it; none here).
    event = ["workflow", "task_id", "event_status", "kind", "scope", "attempts_log", "carries"]
    assert list(shown) == [c.name for c in tables.deliveries.columns] + event

    events = history.events_of(store, ids)
    assert [(e.workflow, e.task_id, e.snapshot["task_id"], e.scope) for e in events] == [
        ("release", 1, 1, {}),
        ("release", 2, 2, {}),
    ]
    assert history.events_of(store, []) == []

    key = states[ids[0]].destination
    place = {"key": key, "channel": "webhook", "address_key": key}
    queued, left = history.requeue(
        store,
        ids,
        dead=False,
        now=10.0,
        expires_at=20.0,
        route=lambda k: place if k == key else None,
    )
    assert queued == [ids[0]] and left == [history.NotQueued(ids[1], "release")]
    assert history.states(store, ids)[ids[0]].status == "pending"
    assert history.reached(store, events[0].id) == {key}
    with store.transaction(write=False) as tx:
        due = tx.run("SELECT next_due_at FROM destinations WHERE key = :k", {"k": key})
    assert due == [(10.0,)]
    queued, left = history.requeue(
        store, None, dead=True, now=11.0, expires_at=21.0, route=lambda _k: place
    )
    assert (queued, left) == ([], [])  # nothing is dead any more
    summaries = history.summaries(store, [ids[1], "x", ids[0]])
    assert [(row["id"], row["status"]) for row in summaries] == [
        (ids[1], "failed"),
        (ids[0], "pending"),
    ]
