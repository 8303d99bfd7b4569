"""The console's queries (store/browse.py) on SQLite and PostgreSQL: keyset pages that cover
every row once in order, filters, a task's deliveries, the 24-hour health, errors and the
queue; hostile filter values are only values."""

from __future__ import annotations

import time

from tidings.store import browse
from tidings.store.db import Store

NOW = 1_800_000_000.0


def _fill(store: Store) -> list[str]:
    """Three workflows' events with deliveries in every state; their ids, oldest first."""
    ids: list[str] = []
    rows = []
    with store.transaction() as tx:
        for n in range(30):
            workflow = ("release", "nightly", "hotfix")[n % 3]
            event = f"ev-{n:04d}"
            tx.run(
                "INSERT INTO events (id, kind, workflow, task_id, status, created_at) "
                "VALUES (:id, 'task', :w, :t, 'failed', :at)",
                {"id": event, "w": workflow, "t": n // 3 + 1, "at": NOW - 3600 + n},
            )
            status = ("sent", "sent", "failed", "dead", "pending")[n % 5]
            attempts = 0 if (status == "pending" and n % 2) else 1
            delivery = f"00000000-0000-7000-8000-{n:012d}"
            ids.append(delivery)
            rows.append(
                {
                    "id": delivery,
                    "event": event,
                    "channel": ("dingding", "webhook")[n % 2],
                    "status": status,
                    "attempts": attempts,
                    "code": "310000" if status in ("failed", "dead") else None,
                    "error": "keywords not in content — put the keyword in the title"
                    if status in ("failed", "dead")
                    else None,
                    "at": NOW - 3600 + n,
                }
            )
        tx.run(
            "INSERT INTO deliveries (id, event_id, channel, destination, source, address, label, "
            "request, status, attempts, next_attempt_at, expires_at, created_at, updated_at, "
            "last_code, last_error) VALUES (:id, :event, :channel, 'k', 's', 'a', 'l', '{}', "
            ":status, :attempts, :at, :at, :at, :at, :code, :error)",
            rows,
        )
    return ids


def test_keyset_pages_cover_every_row_once_newest_first(database_url):
    store = Store(database_url).open()
    try:
        ids = _fill(store)
        seen: list[str] = []
        before = None
        while True:
            page = browse.page(store, before=before, limit=7)
            seen += [row["id"] for row in page.rows]
            if not page.more:
                break
            before = page.rows[-1]["seq"]
        assert seen == ids[::-1]
        # Back from the second page to the first.
        first = browse.page(store, limit=7)
        second = browse.page(store, before=first.rows[-1]["seq"], limit=7)
        assert second.newer and second.more
        back = browse.page(store, after=second.rows[0]["seq"], limit=7)
        assert [r["id"] for r in back.rows] == [r["id"] for r in first.rows] and not back.newer
        dead = browse.page(store, status="dead", workflow="release", channel="webhook")
        assert {(r["status"], r["workflow"], r["channel"]) for r in dead.rows} == {
            ("dead", "release", "webhook")
        }
        late = browse.page(store, since=NOW - 3600 + 25, until=NOW - 3600 + 28)
        assert [r["id"] for r in late.rows] == ids[25:28][::-1]
        hostile = browse.page(store, workflow="x' OR '1'='1", status="sent'; DROP TABLE events;--")
        assert hostile.rows == [] and browse.page(store, limit=1).rows
        assert [r["id"] for r in browse.task_deliveries(store, "nightly", 1)] == [ids[1]]
    finally:
        store.close()


def test_health_errors_queue_and_task_version(database_url):
    store = Store(database_url).open()
    try:
        _fill(store)
        health = browse.health(store, NOW - 7200)
        assert sum(sum(c.values()) for c in health.values()) == 30
        assert health["dingding"] == {"sent": 6, "failed": 3, "dead": 3, "retrying": 3}
        assert health["webhook"] == {"sent": 6, "failed": 3, "dead": 3, "waiting": 3}
        assert browse.health(store, NOW) == {}
        errors = browse.common_errors(store, NOW - 7200)
        assert errors[0]["last_code"] == "310000" and errors[0]["n"] == 6
        assert "— put the keyword" in errors[0]["error"]
        assert browse.queue(store) == (6, NOW - 3600 + 4)
        assert browse.task_version(store, "release", 1) is None  # no such task in `tasks`
        assert browse.workers(store, time.time() - 60, time.time()) == []
    finally:
        store.close()


def test_task_pages_cover_every_task_once_latest_first_with_creator_and_runner(database_url):
    store = Store(database_url).open()
    try:
        with store.transaction() as tx:
            for n in range(12):
                workflow = ("release", "nightly", "hotfix")[n % 3]
                snapshot = f'{{"task_creator": "dev{n}", "stages": []}}'
                tx.run(
                    "INSERT INTO tasks (workflow, task_id, status, snapshot, created_at, "
                    "updated_at) VALUES (:w, :t, :s, :snap::json, :at, :at)",
                    {
                        "w": workflow,
                        "t": n // 3 + 1,
                        "s": ("passed", "failed")[n % 2],
                        "snap": snapshot,
                        "at": NOW + n,
                    },
                )
            tx.run(  # tidings ran release#1; the others were sent from elsewhere
                "INSERT INTO runs (workflow, task_id, pid, host, heartbeat_at, run_dir, "
                "created_at) VALUES ('release', 1, 1, 'h', :at, '/tmp', :at)",
                {"at": NOW},
            )
        seen: list[str] = []
        before = None
        while True:
            found = browse.task_page(store, before=before, limit=5)
            seen += [f"{r['workflow']}#{r['task_id']}" for r in found.rows]
            if not found.more:
                break
            before = found.rows[-1]["seq"]
        expected = [f"{('release', 'nightly', 'hotfix')[n % 3]}#{n // 3 + 1}" for n in range(12)]
        assert seen == expected[::-1]
        first = browse.task_page(store, limit=5)
        second = browse.task_page(store, before=first.rows[-1]["seq"], limit=5)
        back = browse.task_page(store, after=second.rows[0]["seq"], limit=5)
        assert [r["seq"] for r in back.rows] == [r["seq"] for r in first.rows]
        failed = browse.task_page(store, workflow="nightly", status="failed")
        assert [(r["workflow"], r["task_id"], r["creator"]) for r in failed.rows] == [
            ("nightly", 3, "dev7"),
            ("nightly", 1, "dev1"),
        ]
        ran = {(r["workflow"], r["task_id"]): r["ran"] for r in browse.task_page(store).rows}
        assert ran[("release", 1)] is True and sum(ran.values()) == 1
        hostile = browse.task_page(store, workflow="x' OR '1'='1", status="passed'--")
        assert hostile.rows == []
    finally:
        store.close()
