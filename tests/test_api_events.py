"""POST /api/v1/events under concurrency: events posted together are recorded together (group
commit), each request answered with its own deliveries, each event delivered exactly once."""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import subprocess
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

from api_helpers import (
    READER,
    SENDER,
    Answer,
    ApiServer,
    serve_process,
    tokens_yaml,
    wait_for,
)
from runner_helpers import hook_ctl

POSTS = 40


def _config(tmp_path, hook: str) -> str:
    text = (
        "system:\n"
        + tokens_yaml()
        + textwrap.dedent(
            f"""\
        workflows:
          - name: wf
            notify_ctls: [{hook_ctl(hook, "passed, failed")}]
        """
        )
    )
    path = tmp_path / "tidings.yaml"
    path.write_text(text, "utf-8")
    return str(path)


def _event(task_id: int) -> dict:
    return {
        "object_kind": "workflow",
        "workflow": {"task_id": task_id, "workflow_name": "wf", "status": "passed"},
    }


def _post_together(api, bodies: list[dict], headers: list[dict]) -> list:
    """Every request sent at once: each thread waits at a barrier, then posts."""
    barrier = threading.Barrier(len(bodies))

    def post(index: int):
        barrier.wait()
        return api.call(
            "POST", "/api/v1/events", token=SENDER, body=bodies[index], headers=headers[index]
        )

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, range(len(bodies))))


def _sent(api) -> list[dict]:
    return api.call("GET", "/api/v1/deliveries?status=sent&limit=500", token=READER).json()


def _task_ids(sandbox) -> list[int]:
    return sorted(r.body["workflow"]["task_id"] for r in sandbox.accepted("webhook"))


def test_concurrent_events_each_get_their_own_deliveries_and_arrive_once(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("ci")
    with ApiServer(_config(tmp_path, hook), tmp_path) as api:
        ids = list(range(1, POSTS + 1))
        answers = _post_together(
            api, [_event(i) for i in ids], [{"X-Zadig-Event-UUID": f"evt-{i}"} for i in ids]
        )
        assert [a.status for a in answers] == [202] * POSTS, answers
        bodies = [a.json() for a in answers]
        assert len({b["event_id"] for b in bodies}) == POSTS
        deliveries = [d["id"] for b in bodies for d in b["deliveries"]]
        assert len(deliveries) == len(set(deliveries)) == POSTS
        wait_for(lambda: len(_sent(api)) == POSTS, what="every delivery recorded as sent")
        # Each recorded as sent only once it was sent: nothing more can arrive now.
        assert _task_ids(sandbox) == ids
        assert {row["id"] for row in _sent(api)} == set(deliveries)
        for body, task_id in zip(bodies, ids, strict=True):
            (delivery,) = body["deliveries"]
            shown = api.call("GET", f"/api/v1/deliveries/{delivery['id']}", token=READER).json()
            assert (shown["task_id"], shown["status"]) == (task_id, "sent")


def test_the_same_event_posted_concurrently_is_recorded_and_delivered_once(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("ci")
    with ApiServer(_config(tmp_path, hook), tmp_path) as api:
        copies = 12
        answers = _post_together(
            api, [_event(7)] * copies, [{"X-Zadig-Event-UUID": "the-same-event"}] * copies
        )
        assert sorted(a.status for a in answers) == [200] * (copies - 1) + [202], answers
        bodies = [a.json() for a in answers]
        assert sorted(b["duplicate"] for b in bodies) == [False] + [True] * (copies - 1)
        assert len({b["event_id"] for b in bodies}) == 1
        assert len({tuple(d["id"] for d in b["deliveries"]) for b in bodies}) == 1
        wait_for(lambda: len(_sent(api)) == 1, what="the delivery recorded as sent")
        assert _task_ids(sandbox) == [7]


def test_the_same_event_without_an_event_id_is_notified_once(tmp_path, sandbox):
    """A CI that posts the same workflow, task and status twice (a re-run step, no
    X-Zadig-Event-UUID) gets the first event back; another status is another event."""
    hook = sandbox.webhook_inbox("ci")
    with ApiServer(_config(tmp_path, hook), tmp_path) as api:
        first = _post_together(api, [_event(9)], [{}])[0]
        again = _post_together(api, [_event(9)], [{}])[0]
        assert (first.status, again.status) == (202, 200)
        assert again.json()["duplicate"] is True
        assert again.json()["event_id"] == first.json()["event_id"]
        wait_for(lambda: len(_sent(api)) == 1, what="the delivery recorded as sent")
        assert _task_ids(sandbox) == [9]


def test_an_event_the_database_refuses_fails_alone_and_its_batch_is_recorded(tmp_path, sandbox):
    """Issue #20.5: one event the database refuses is answered 422 (posting it again fails
    again: not "post it again"), and the events committed with it are recorded all the same."""
    hook = sandbox.webhook_inbox("ci")
    with ApiServer(_config(tmp_path, hook), tmp_path) as api:
        # The database itself refuses one event, whatever shares its transaction.
        with sqlite3.connect(tmp_path / "tidings.db") as db:
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.task_id = 13 "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        ids = list(range(1, 21))
        answers = _post_together(
            api, [_event(i) for i in ids], [{"X-Zadig-Event-UUID": f"evt-{i}"} for i in ids]
        )
        by_task = dict(zip(ids, answers, strict=True))
        refused = by_task[13]
        assert refused.status == 422, refused
        assert "posting it again fails again" in refused.json()["error"]
        accepted = [i for i, a in by_task.items() if a.status == 202]
        assert accepted == [i for i in ids if i != 13], answers
        # All or nothing per event: not one of the refused event's deliveries was recorded.
        rows = api.call("GET", "/api/v1/deliveries?task=13", token=READER).json()
        assert rows == []
        wait_for(lambda: len(_sent(api)) == len(accepted), what="the accepted events sent")
        assert _task_ids(sandbox) == accepted
        with sqlite3.connect(tmp_path / "tidings.db") as db:
            db.execute("DROP TRIGGER refuse")
        # Nothing was recorded, so the same event id is new, not a duplicate.
        again = api.call(
            "POST",
            "/api/v1/events",
            token=SENDER,
            body=_event(13),
            headers={"X-Zadig-Event-UUID": "evt-13"},
        )
        assert again.status == 202 and again.json()["duplicate"] is False, again
        wait_for(lambda: 13 in _task_ids(sandbox), what="the event posted again")


def test_events_of_other_shapes_are_answered_alike(tmp_path, sandbox):
    """A +json media type or repeated query parameters (the shapes the fast path used to leave
    to FastAPI's route) take the one route and parser like any post: the same answer."""
    hook = sandbox.webhook_inbox("ci")
    with ApiServer(_config(tmp_path, hook), tmp_path) as api:
        fast = api.call("POST", "/api/v1/events?status=failed", token=SENDER, body=_event(1))
        routed = api.call(
            "POST",
            "/api/v1/events?status=passed&status=failed",
            token=SENDER,
            raw=b'{"object_kind": "workflow", "workflow": '
            b'{"task_id": 2, "workflow_name": "wf", "status": "passed"}}',
            headers={"Content-Type": "application/vnd.zadig+json"},
        )
        assert fast.status == routed.status == 202, (fast, routed)
        one, two = fast.json(), routed.json()
        assert set(one) == set(two) == {"event_id", "duplicate", "status", "deliveries", "skipped"}
        assert (one["status"], two["status"]) == ("failed", "failed")
        assert set(one["deliveries"][0]) == set(two["deliveries"][0])
        assert fast.headers["Content-Type"] == routed.headers["Content-Type"]
        wait_for(lambda: _task_ids(sandbox) == [1, 2], what="both events")


def _serve(config: str, database: str, home) -> tuple[subprocess.Popen, int]:
    env = {"TIDINGS_DATABASE_URL": database}
    return serve_process(config, home, env=env, stdout=subprocess.DEVNULL)


def _call(port: int, method: str, path: str, body: dict | None = None, **headers) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        sent = {"Authorization": f"Bearer {SENDER if method == 'POST' else READER}", **headers}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def _up(server: subprocess.Popen, port: int) -> bool:
    try:
        return _call(port, "GET", "/readyz").status == 200
    except OSError:
        assert server.poll() is None, server.stderr.read()
        return False


def test_two_servers_on_postgres_record_an_event_posted_to_both_once(
    tmp_path,
    pg_url,
    sandbox,
):
    config = _config(tmp_path, sandbox.webhook_inbox("ci"))
    servers = []
    try:
        for index in range(2):  # one after the other: the first one migrates the database
            servers.append(_serve(config, pg_url, tmp_path / f"home{index}"))
            wait_for(lambda: _up(*servers[-1]), what="tidings serve to answer")
        copies = 12
        barrier = threading.Barrier(copies)

        def post(index: int) -> Answer:
            barrier.wait()
            port = servers[index % 2][1]
            return _call(port, "POST", "/api/v1/events", _event(5), **{"X-Zadig-Event-UUID": "e5"})

        with ThreadPoolExecutor(copies) as pool:
            answers = list(pool.map(post, range(copies)))
        assert sorted(a.status for a in answers) == [200] * (copies - 1) + [202], answers
        assert len({a.json()["event_id"] for a in answers}) == 1
        assert len({tuple(d["id"] for d in a.json()["deliveries"]) for a in answers}) == 1

        def sent() -> list:
            return _call(servers[0][1], "GET", "/api/v1/deliveries?status=sent").json()

        wait_for(lambda: len(sent()) == 1, what="the delivery recorded as sent")
        assert _task_ids(sandbox) == [5]
    finally:
        for server, _port in servers:
            server.send_signal(signal.SIGTERM)
        for server, _port in servers:
            _out, err = server.communicate(timeout=30)
            assert server.returncode == 0, err
