"""The runner from several shells: cancel, Ctrl-C, approve, a crashed runner, logs, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from runner_helpers import hook_ctl, statuses, write_config


def _start(tmp_path, *args: str) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    environ.update(NO_COLOR="1", TIDINGS_HOME=str(tmp_path / "home"))
    return subprocess.Popen(
        [sys.executable, "-m", "tidings", "run", *args],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(cli, config: str, status: str, timeout: float = 15) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = cli("tasks", "-c", config, "--json").json()
        jobs = [j for t in found for s in t["task"]["stages"] for j in s["jobs"]]
        if any(j["status"] == status for j in jobs):
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no job reached {status}")


def _slow_config(tmp_path, hook: str) -> str:
    return write_config(
        tmp_path,
        f"""
        users: [{{id: alice}}]
        workflows:
          - name: wf
            notify_ctls: [{hook_ctl(hook, "created, cancelled, failed")}]
            stages:
              - name: s
                jobs:
                  - {{name: slow, type: freestyle, spec: {{script: "echo started; sleep 30"}}}}
              - name: after
                jobs:
                  - {{name: never, type: freestyle, spec: {{script: "echo never"}}}}
        """,
    )


def test_cancel_from_another_shell_gives_cancelled_notified_once(tmp_path, sandbox, cli):
    hook = sandbox.webhook_inbox("cancel")
    config = _slow_config(tmp_path, hook)
    runner = _start(tmp_path, "-c", config, "wf")
    _wait_for(cli, config, "running")
    cancelled = cli("cancel", "-c", config, "wf#1", "--user", "lead2", "--json")
    assert cancelled.code == 0, cancelled.output
    assert cancelled.json()["result"].startswith("cancel requested by lead2")
    out, err = runner.communicate(timeout=20)
    assert runner.returncode == 1, err
    assert out.strip() == "wf#1 cancelled: cancelled by lead2"  # who asked is recorded
    assert statuses(sandbox.received("webhook")) == ["created", "cancelled"]
    (task,) = cli("tasks", "-c", config, "--json").json()
    jobs = [j["status"] for s in task["task"]["stages"] for j in s["jobs"]]
    assert task["status"] == "cancelled" and jobs == ["cancelled", "skipped"]
    assert task["task"]["error"] == "cancelled by lead2"
    again = cli("cancel", "-c", config, "wf")
    assert again.code == 1 and "already ended" in again.stderr


def test_ctrl_c_cancels(tmp_path, sandbox, cli):
    hook = sandbox.webhook_inbox("sigint")
    config = _slow_config(tmp_path, hook)
    runner = _start(tmp_path, "-c", config, "wf")
    _wait_for(cli, config, "running")
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=20)
    assert runner.returncode == 1 and "cancelled" in out, err
    assert statuses(sandbox.received("webhook")) == ["created", "cancelled"]


def test_a_runner_that_died_is_marked_failed(tmp_path, sandbox, cli):
    hook = sandbox.webhook_inbox("dead")
    config = _slow_config(tmp_path, hook)
    runner = _start(tmp_path, "-c", config, "wf")
    _wait_for(cli, config, "running")
    runner.kill()
    runner.wait()
    (task,) = cli("tasks", "-c", config, "--json").json()
    assert task["status"] == "failed" and "stopped without finishing" in task["task"]["error"]
    listed = cli("tasks", "-c", config)
    assert "wf#1" in listed.stdout and "failed" in listed.stdout
    # Its `failed` notification was recorded once (not per look at the tasks), and a worker
    # delivers it.
    pending = cli("deliveries", "-c", config, "--status", "pending", "--json").json()
    assert [(d["event_status"], d["status"]) for d in pending] == [("failed", "pending")]
    assert cli("worker", "-c", config, "--once").code == 0
    assert [r.body["workflow"]["status"] for r in sandbox.accepted("webhook")] == [
        "created",
        "failed",
    ]


def test_approve_from_another_shell_then_logs(tmp_path, sandbox, cli):
    hook = sandbox.webhook_inbox("approve")
    config = write_config(
        tmp_path,
        f"""
        users: [{{id: alice}}, {{id: mallory}}]
        workflows:
          - name: wf
            notify_ctls: [{hook_ctl(hook, "wait_for_approval, passed")}]
            stages:
              - name: gate
                jobs:
                  - {{name: gate, type: approval, timeout: 20, spec: {{users: [alice]}}}}
              - name: ship
                jobs:
                  - {{name: ship, type: freestyle, spec: {{script: "echo shipped $TIDINGS_JOB"}}}}
        """,
    )
    runner = _start(tmp_path, "-c", config, "wf", "--json")
    _wait_for(cli, config, "wait_for_approval")
    refused = cli("approve", "-c", config, "wf", "--user", "mallory")
    assert refused.code == 2 and "may not approve" in refused.stderr
    approved = cli("approve", "-c", config, "wf#1", "--user", "alice", "--comment", "ok", "--json")
    assert approved.code == 0, approved.output
    assert approved.json() == {
        "workflow": "wf",
        "task_id": 1,
        "result": "job gate approved by alice",
    }
    out, err = runner.communicate(timeout=20)
    assert runner.returncode == 0, err
    ran = json.loads(out)  # `run --json`: the task as `tasks --json` shows it, and its news
    assert (ran["workflow"], ran["task_id"], ran["status"]) == ("wf", 1, "passed")
    assert ran["notifications"] == {"sent": 2, "not_sent": 0}
    assert [j["status"] for s in ran["task"]["stages"] for j in s["jobs"]] == ["passed"] * 2
    assert statuses(sandbox.received("webhook")) == ["wait_for_approval", "passed"]
    logs = cli("logs", "-c", config, "wf#1")
    assert "==> gate <==" in logs.stdout and "approved by alice" in logs.stdout
    one = cli("logs", "-c", config, "wf", "ship")
    assert one.stdout.strip() == "shipped ship"
    assert cli("logs", "-c", config, "wf", "ship", "--json").json() == {
        "workflow": "wf",
        "task_id": 1,
        "jobs": [{"name": "ship", "log": "shipped ship\n"}],
    }
    assert cli("logs", "-c", config, "wf", "nope").code == 2


def test_a_workflow_whose_tasks_reached_the_largest_id_says_so_and_runs_nothing(
    tmp_path, sandbox, cli
):
    """A task sent from elsewhere under the workflow's name with the largest id (2^63 - 1):
    `tidings run` has no next id; it says why and what to do, exit 2, no traceback."""
    from helpers import seed_task, write_json

    config = write_config(
        tmp_path,
        """
        workflows:
          - name: wf
            notify_ctls: [{hook}]
            stages: [{name: s, jobs: [{name: a, type: freestyle, spec: {script: "true"}}]}]
        """.replace("{hook}", hook_ctl(sandbox.webhook_inbox("ids"), "passed")),
    )
    last = 2**63 - 1
    task = write_json(
        tmp_path / "task.json", {**seed_task(), "workflow_name": "wf", "task_id": last}
    )
    assert cli("send", "-c", config, "-t", task).code == 0
    result = cli("run", "-c", config, "wf")
    assert result.code == 2, result.stderr
    assert f"workflow wf has a task numbered {last}, the largest task id" in result.stderr
    assert "run this workflow under another name" in result.stderr
    assert "Traceback" not in result.stderr
    assert [t["task_id"] for t in cli("tasks", "-c", config, "--json").json()] == [last]


def test_bad_input_exits_2_with_a_clear_message(tmp_path, cli):
    config = write_config(
        tmp_path,
        """
        users: [{id: alice}]
        workflows:
          - name: wf
            stages:
              - name: s
                jobs:
                  - {name: a, type: freestyle, spec: {script: "true"}}
                  - {name: a, type: compile}
                  - {name: n, type: notification, spec: {webhook_type: dingding, content: x}}
                  - {name: g, type: approval, spec: {users: [ghost]}}
        """,
    )
    result = cli("run", "-c", config, "wf")
    assert result.code == 2
    assert "workflows[0].stages[0].jobs[1].type: must be one of" in result.stderr
    good = write_config(
        tmp_path,
        """
        users: [{id: alice}]
        groups: [{id: g1, members: [alice]}]
        workflows:
          - name: wf
            stages:
              - name: s
                jobs:
                  - {name: a, type: freestyle, spec: {script: "true"}}
                  - {name: a, type: freestyle, spec: {script: "true"}}
                  - {name: n, type: notification, spec: {webhook_type: dingding, content: x}}
                  - {name: g, type: approval, spec: {users: [ghost], groups: [g2]}}
                  - name: t
                    type: notification
                    spec:
                      webhook_type: webhook
                      content: "{{.job.zz.status}}"
                      webhook_notification_config: {address: "http://127.0.0.1:1/h"}
        """,
    )
    result = cli("check", "-c", good)
    assert result.code == 2
    for expected in (
        "jobs[1].name: duplicate job name 'a'",
        "jobs[2].spec.dingding_notification_config: field required",
        "jobs[3].spec.users[0]: unknown user 'ghost'",
        "jobs[3].spec.groups[0]: unknown group 'g2'",
        "jobs[4].spec.content: {{.job.zz.status}}: no job 'zz'",
    ):
        assert expected in result.stderr, result.stderr
    valid = write_config(
        tmp_path,
        """
        workflows:
          - {name: wf, stages: [{name: s, jobs: [{name: a, type: freestyle, spec: {script: x}}]}]}
          - {name: bare}
        """,
    )
    for args, expected in (
        (("nope",), "workflow 'nope' is not in"),
        (("bare",), "has no stages"),
        (("wf", "--var", "1x"), "--var '1x': write NAME=VALUE"),
        (("wf", "--creator", "zed"), "--creator 'zed' is not a configured user"),
    ):
        result = cli("run", "-c", valid, *args)
        assert result.code == 2 and expected in result.stderr, result.stderr
    assert "WORKFLOW#ID" in cli("logs", "-c", valid, "wf#x").stderr


def test_demo_runs_the_release_workflow(cli):
    result = cli("demo")
    assert result.code == 0, result.output
    assert "== release #1 passed" in result.stdout
    assert "工作流 发布流水线 #1 请测试" in result.stdout  # the notification job's message
    assert "qa approved" in result.stderr
