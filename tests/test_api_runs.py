"""Workflow runs over the API: start, follow, approve, reject, cancel, logs; and `tidings serve`."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

from api_helpers import (
    ADMIN,
    READER,
    RUNNER,
    ApiServer,
    serve_process,
    tokens_yaml,
    wait_for,
)
from runner_helpers import hook_ctl, statuses


def _config(tmp_path, hook: str) -> str:
    text = (
        "system:\n"
        + tokens_yaml()
        + textwrap.dedent(
            f"""\
        users: [{{id: alice}}, {{id: mallory}}]
        workflows:
          - name: wf
            notify_ctls: [{hook_ctl(hook, "created, wait_for_approval, passed, reject, cancelled")}]
            stages:
              - name: gate
                jobs:
                  - {{name: gate, type: approval, timeout: 20, spec: {{users: [alice]}}}}
              - name: ship
                jobs:
                  - name: ship
                    type: freestyle
                    spec: {{script: "echo shipped $TIDINGS_JOB $V"}}
          - name: external
          - name: manual
            stages:
              - {{name: a, jobs: [{{name: a, type: freestyle, spec: {{script: "true"}}}}]}}
              - name: b
                manual_exec: {{enabled: true, manual_exec_users: [{{type: user, user_id: alice}}]}}
                jobs: [{{name: b, type: freestyle, spec: {{script: "true"}}}}]
        """
        )
    )
    path = tmp_path / "tidings.yaml"
    path.write_text(text, "utf-8")
    return str(path)


def _job_status(api, task_id: int, job: str) -> str:
    task = api.call("GET", f"/api/v1/tasks/wf/{task_id}", token=READER).json()["task"]
    return next(j["status"] for s in task["stages"] for j in s["jobs"] if j["name"] == job)


def _ended(api, task_id: int) -> str | None:
    status = api.call("GET", f"/api/v1/tasks/wf/{task_id}", token=READER).json()["status"]
    return status if status not in ("created", "running") else None


def test_start_approve_and_logs(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("runs")
    with ApiServer(_config(tmp_path, hook), tmp_path) as api:
        body = {"creator": "alice", "remark": "from the API", "vars": {"V": "v1"}}
        started = api.call("POST", "/api/v1/workflows/wf/tasks", token=RUNNER, body=body)
        assert started.status == 202, started
        assert started.json()["task_id"] == 1 and started.json()["url"] == "/api/v1/tasks/wf/1"
        wait_for(lambda: _job_status(api, 1, "gate") == "wait_for_approval", what="the approval")
        task = api.call("GET", "/api/v1/tasks/wf/1", token=READER).json()
        assert task["run_here"] and task["waiting"]["approvers"] == ["alice"]
        refused = api.call(
            "POST", "/api/v1/tasks/wf/1/approve", token=RUNNER, body={"user": "mallory"}
        )
        assert refused.status == 422 and refused.json()["problems"][0]["path"] == "user"
        approved = api.call(
            "POST", "/api/v1/tasks/wf/1/approve", token=RUNNER, body={"user": "alice"}
        )
        assert approved.status == 200 and approved.json()["result"] == "approved by alice"
        assert wait_for(lambda: _ended(api, 1), what="the run to end") == "passed"
        logs = api.call("GET", "/api/v1/tasks/wf/1/logs?job=ship", token=READER).json()
        assert logs["jobs"] == [{"name": "ship", "log": "shipped ship v1\n"}]
        wait_for(lambda: len(sandbox.accepted("webhook")) == 3, what="the run's notifications")
        assert statuses(sandbox.received("webhook")) == ["created", "wait_for_approval", "passed"]
        listed = api.call("GET", "/api/v1/tasks?workflow=wf&status=passed", token=READER).json()
        assert [t["task_id"] for t in listed] == [1]
        again = api.call("POST", "/api/v1/tasks/wf/1/cancel", token=RUNNER)
        assert again.status == 409 and "already ended" in again.json()["error"]


def test_a_manual_stage_is_run_over_the_api_by_one_of_its_executors(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("runs")
    with ApiServer(_config(tmp_path, hook), tmp_path) as api:
        start = api.call("POST", "/api/v1/workflows/manual/tasks", token=RUNNER, body={})
        assert start.status == 202

        def status() -> str:
            return api.call("GET", "/api/v1/tasks/manual/1", token=READER).json()["status"]

        wait_for(lambda: status() == "pause", what="the pause before stage b")
        task = api.call("GET", "/api/v1/tasks/manual/1", token=READER).json()
        assert task["waiting"] == {"stage": "b", "executors": ["alice"]}
        url = "/api/v1/tasks/manual/1"
        approve = api.call("POST", f"{url}/approve", token=RUNNER, body={"user": "alice"})
        assert approve.status == 409 and "not waiting for an approval" in approve.json()["error"]
        refused = api.call("POST", f"{url}/run-stage", token=RUNNER, body={"user": "mallory"})
        assert refused.status == 422 and refused.json()["problems"][0]["path"] == "user"
        ran = api.call("POST", f"{url}/run-stage", token=RUNNER, body={"user": "alice"})
        assert ran.status == 200 and ran.json()["result"] == "stage b run by alice"
        assert wait_for(lambda: status() not in ("pause", "running") and status()) == "passed"


def test_reject_cancel_and_refusals(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("runs")
    with ApiServer(_config(tmp_path, hook), tmp_path) as api:
        for _ in range(2):
            assert (
                api.call("POST", "/api/v1/workflows/wf/tasks", token=ADMIN, body={}).status == 202
            )
        wait_for(lambda: _job_status(api, 1, "gate") == "wait_for_approval")
        wait_for(lambda: _job_status(api, 2, "gate") == "wait_for_approval")
        rejected = api.call(
            "POST",
            "/api/v1/tasks/wf/1/reject",
            token=ADMIN,
            body={"user": "alice", "comment": "no"},
        )
        assert rejected.status == 200
        cancel = api.call("POST", "/api/v1/tasks/wf/2/cancel", token=ADMIN, body={"user": "ops"})
        assert cancel.status == 202
        assert wait_for(lambda: _ended(api, 1)) == "reject"
        assert wait_for(lambda: _ended(api, 2)) == "cancelled"
        not_runnable = api.call("POST", "/api/v1/workflows/external/tasks", token=ADMIN, body={})
        assert not_runnable.status == 409
        unknown = api.call("POST", "/api/v1/workflows/nope/tasks", token=ADMIN, body={})
        assert unknown.status == 404
        bad = api.call(
            "POST",
            "/api/v1/workflows/wf/tasks",
            token=ADMIN,
            body={"creator": "bob", "vars": {"1x": "y"}, "colour": "red"},
        )
        assert bad.status == 422
        assert {p["path"] for p in bad.json()["problems"]} == {"colour"}
        bad = api.call(
            "POST",
            "/api/v1/workflows/wf/tasks",
            token=ADMIN,
            body={"creator": "bob", "vars": {"1x": "y"}},
        )
        assert {p["path"] for p in bad.json()["problems"]} == {"creator", "vars.1x"}
        missing_user = api.call("POST", "/api/v1/tasks/wf/1/approve", token=ADMIN, body={})
        assert missing_user.status == 422 and missing_user.json()["problems"][0]["path"] == "user"
        # A misspelt field is named with the one meant (as `tidings check` does).
        misspelt = api.call("POST", "/api/v1/tasks/wf/1/approve", token=ADMIN, body={"usr": "a"})
        problems = {p["path"]: p["message"] for p in misspelt.json()["problems"]}
        assert problems["usr"].startswith("unknown field; did you mean user?"), problems
        misspelt = api.call(
            "POST", "/api/v1/tasks/wf/2/cancel", token=ADMIN, body={"user": "a", "reson": "x"}
        )
        assert "did you mean" not in misspelt.json()["problems"][0]["message"]  # none is close
        remark = api.call("POST", "/api/v1/workflows/wf/tasks", token=ADMIN, body={"remrk": "x"})
        assert "did you mean remark?" in remark.json()["problems"][0]["message"]


def test_serve_command_starts_and_stops_gracefully(tmp_path, sandbox):
    config = _config(tmp_path, sandbox.webhook_inbox("serve"))
    server, port = serve_process(config, tmp_path / "home")
    try:

        def up():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return server.poll() is not None and (_ for _ in ()).throw(
                    AssertionError(server.stderr.read())
                )

        wait_for(up, what="tidings serve to answer")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/workflows",
            headers={"Authorization": f"Bearer {READER}"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert [w["name"] for w in __import__("json").load(answer)] == [
                "wf",
                "external",
                "manual",
            ]
    finally:
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
    assert "with a delivery worker" in err and READER not in err


def test_other_commands_do_not_import_fastapi(tmp_path, sandbox):
    config = _config(tmp_path, sandbox.webhook_inbox("lazy"))
    code = (
        "import sys; from tidings.cli import main\n"
        "try:\n    main(['check', '-c', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
        "assert 'fastapi' not in sys.modules and 'uvicorn' not in sys.modules, 'loaded'\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code, config], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30


def test_every_run_of_a_server_is_delivered_by_its_one_worker(tmp_path, sandbox):
    """Three runs started at once share the server's one delivery worker (one pool, one token
    cache, one pacing state): every attempt of their deliveries names the same worker."""
    hook = sandbox.webhook_inbox("one-worker")
    with ApiServer(_config(tmp_path, hook), tmp_path) as api:
        for _ in range(3):
            started = api.call("POST", "/api/v1/workflows/wf/tasks", token=RUNNER, body={})
            assert started.status == 202, started

        def sent() -> list[dict]:
            rows = api.call("GET", "/api/v1/deliveries?workflow=wf", token=READER).json()
            return [r for r in rows if r["status"] == "sent"]

        wait_for(lambda: len(sent()) >= 6, what="created and wait_for_approval of three runs")
        workers = {
            attempt["worker"]
            for row in sent()
            for attempt in api.call("GET", f"/api/v1/deliveries/{row['id']}", token=READER).json()[
                "attempts_log"
            ]
        }
    assert len(workers) == 1, workers
