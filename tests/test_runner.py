"""`tidings run` and the task state machine, against the sandbox over real sockets, real bash."""

from __future__ import annotations

from collections import Counter

from runner_helpers import hook_ctl, run_workflow, statuses, write_config
from tidings.runner import state
from tidings.runner.observer import Observer


def test_created_then_passed_in_order_at_every_destination_once(tmp_path, sandbox, cli):
    one = sandbox.webhook_inbox("one")
    two = sandbox.webhook_inbox("two")
    ding = sandbox.dingtalk_robot("dt-run", keywords=("工作流",))
    config = write_config(
        tmp_path,
        f"""
        users: [{{id: alice, name: Alice, email: alice@example.com, phone: "13800000009"}}]
        workflows:
          - name: wf
            notify_ctls:
              - {hook_ctl(one, "created, passed")}
              - {hook_ctl(two, "created, passed, failed")}
              - webhook_type: dingding
                notify_type: [created, passed]
                dingding_notification_config: {{hook_address: "{ding}"}}
            stages:
              - name: build
                jobs:
                  - {{name: compile, type: freestyle, spec: {{script: "echo compiling"}}}}
        """,
    )
    result = cli("run", "-c", config, "wf", "--creator", "alice", "--remark", "first")
    assert result.code == 0, result.output
    assert result.stdout.strip() == "wf#1 passed"
    assert "build / compile  passed" in result.stderr
    assert statuses(sandbox.received("webhook", "one")) == ["created", "passed"]
    assert statuses(sandbox.received("webhook", "two")) == ["created", "passed"]
    ding_texts = [r.text for r in sandbox.received("dingtalk")]
    assert len(ding_texts) == 2 and "开始执行" in ding_texts[0] and "执行成功" in ding_texts[1]
    passed = sandbox.received("webhook", "one")[1].body["workflow"]
    assert passed["task_creator"] == "Alice" and passed["task_creator_phone"] == "13800000009"
    assert passed["remark"] == "first"
    assert [j["status"] for s in passed["stages"] for j in s["jobs"]] == ["passed"]
    listed = cli("tasks", "-c", config, "--json").json()
    assert [(t["workflow"], t["task_id"], t["status"]) for t in listed] == [("wf", 1, "passed")]
    again = cli("run", "-c", config, "wf")
    assert again.stdout.strip() == "wf#2 passed"  # ids increase per workflow


def test_failing_job_fails_the_task_skips_later_stages_and_notifies_the_error(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("f")
    config = write_config(
        tmp_path,
        f"""
        workflows:
          - name: wf
            notify_ctls: [{hook_ctl(hook, "failed, passed")}]
            stages:
              - name: build
                jobs:
                  - {{name: ok, type: freestyle, spec: {{script: "echo fine"}}}}
                  - {{name: bad, type: freestyle, spec: {{script: "echo boom-happened; exit 3"}}}}
              - name: deploy
                jobs:
                  - {{name: later, type: freestyle, spec: {{script: "echo never"}}}}
        """,
    )
    result = run_workflow(tmp_path, config)
    task = result.task
    assert task.status == "failed"
    assert [(j.name, j.status) for j in task.jobs()] == [
        ("ok", "passed"),
        ("bad", "failed"),
        ("later", "skipped"),
    ]
    assert [s.status for s in task.stages] == ["failed", "skipped"]
    assert "exit" in task.error and "boom-happened" in task.error
    (message,) = sandbox.accepted("webhook")
    sent = message.body["workflow"]
    assert sent["status"] == "failed" and "boom-happened" in sent["error"]
    bad = sent["stages"][0]["jobs"][1]
    assert bad["status"] == "failed" and "code 3" in bad["error"]
    log = (tmp_path / "home" / "runs" / "wf" / "1" / "logs" / "bad.log").read_text()
    assert "boom-happened" in log


def test_job_timeout_and_workflow_timeout_give_timeout_notified_once(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("t")
    config = write_config(
        tmp_path,
        f"""
        workflows:
          - name: job-timeout
            notify_ctls: [{hook_ctl(hook, "timeout, failed")}]
            stages:
              - name: s
                jobs:
                  - {{name: slow, type: freestyle, timeout: 0.3, spec: {{script: "sleep 5"}}}}
          - name: wf-timeout
            timeout: 0.5
            notify_ctls: [{hook_ctl(hook, "timeout, failed")}]
            stages:
              - name: s
                jobs:
                  - {{name: slow, type: freestyle, spec: {{script: "sleep 5"}}}}
        """,
    )
    first = run_workflow(tmp_path, config, "job-timeout").task
    assert first.status == "timeout"
    assert first.jobs()[0].status == "timeout" and "0.3" in first.jobs()[0].error
    second = run_workflow(tmp_path, config, "wf-timeout").task
    assert second.status == "timeout" and "timed out" in second.error
    assert second.jobs()[0].status == "timeout"
    assert second.end_time - second.start_time < 3  # the script was stopped, not waited for
    assert statuses(sandbox.received("webhook")) == ["timeout", "timeout"]


def test_changed_fires_only_when_the_status_differs(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("c")
    config = write_config(
        tmp_path,
        f"""
        workflows:
          - name: wf
            notify_ctls: [{hook_ctl(hook, "changed")}]
            stages:
              - name: s
                jobs:
                  - {{name: j, type: freestyle, spec: {{script: 'test "$MODE" != fail'}}}}
        """,
    )
    outcomes = [
        run_workflow(tmp_path, config, variables={"MODE": mode}).task.status
        for mode in ("ok", "ok", "fail", "fail", "ok")
    ]
    assert outcomes == ["passed", "passed", "failed", "failed", "passed"]
    # #1 (no previous task), #3 (passed -> failed), #5 (failed -> passed)
    got = [r.body["workflow"]["task_id"] for r in sandbox.accepted("webhook")]
    assert got == [1, 3, 5]


def test_notification_job_with_variables_and_a_refusal_that_fails_the_task(tmp_path, sandbox):
    strict = sandbox.dingtalk_robot("dt-strict", keywords=("发布",))
    hook = sandbox.webhook_inbox("n")
    config = write_config(
        tmp_path,
        f"""
        workflows:
          - name: wf
            notify_ctls: [{hook_ctl(hook, "failed")}]
            stages:
              - name: build
                jobs:
                  - name: build
                    type: zadig-build
                    spec:
                      script: 'echo "IMAGE=reg/app:$TIDINGS_TASK_ID-$TAG" >> $TIDINGS_OUTPUT'
                      env: {{TAG: "{{{{.var.tag}}}}"}}
              - name: tell
                jobs:
                  - name: notify-qa
                    type: notification
                    spec:
                      webhook_type: dingding
                      dingding_notification_config: {{hook_address: "{strict}"}}
                      title: "{{{{.workflow.name}}}} #{{{{.task.id}}}}"
                      content: "image {{{{.job.build.output.IMAGE}}}} by {{{{.var.who}}}}"
        """,
    )
    result = run_workflow(tmp_path, config, variables={"tag": "v1", "who": "@all <b>x</b>"})
    task = result.task
    assert task.status == "failed"
    job = task.jobs()[1]
    assert job.status == "failed" and "310000" in job.error and "keywords" in job.error
    (refused,) = sandbox.received("dingtalk")
    assert not refused.accepted
    assert "image reg/app:-v1" not in refused.text and "reg/app:1-v1" in refused.text
    assert "@all" not in refused.text and "<b>" not in refused.text  # values are escaped
    assert task.jobs()[0].spec.image == "reg/app:1-v1"
    assert statuses(sandbox.received("webhook")) == ["failed"]


def _approval_config(tmp_path, hook: str, fail_hook: str, reject_hook: str) -> str:
    return write_config(
        tmp_path,
        f"""
        users: [{{id: alice}}, {{id: bob}}, {{id: carol}}]
        groups: [{{id: leads, members: [bob, carol]}}]
        workflows:
          - name: wf
            notify_ctls:
              - {hook_ctl(hook, "wait_for_approval, passed")}
              - {hook_ctl(fail_hook, "failed")}
              - {hook_ctl(reject_hook, "reject")}
            stages:
              - name: gate
                jobs:
                  - name: ok
                    type: approval
                    timeout: 10
                    spec: {{users: [alice], groups: [leads], needed_approvals: 2}}
              - name: deploy
                jobs:
                  - {{name: ship, type: freestyle, spec: {{script: "echo shipped"}}}}
        """,
    )


class _Decider(Observer):
    """Decides as soon as the task waits, as people in another shell would."""

    def __init__(self, tmp_path, decisions):
        self.tmp_path, self.decisions = tmp_path, decisions

    def waiting(self, task, job, waiting):
        from tidings.store.db import Store

        store = Store(f"sqlite:///{self.tmp_path}/tidings.db").open()
        assert sorted(waiting["approvers"]) == ["alice", "bob", "carol"]
        for user, decision in self.decisions:
            state.decide(store, task.workflow_name, task.task_id, user, decision, "looks good")
        store.close()


def test_approval_approved_continues(tmp_path, sandbox):
    hook, fail, reject = (sandbox.webhook_inbox(n) for n in ("a", "af", "ar"))
    config = _approval_config(tmp_path, hook, fail, reject)
    observer = _Decider(tmp_path, [("alice", "approve"), ("bob", "approve")])
    task = run_workflow(tmp_path, config, observer=observer).task
    assert task.status == "passed"
    assert [j.status for j in task.jobs()] == ["passed", "passed"]
    assert statuses(sandbox.received("webhook", "a")) == ["wait_for_approval", "passed"]
    assert sandbox.received("webhook", "af") == sandbox.received("webhook", "ar") == []


def test_approval_rejected_ends_with_reject_to_reject_and_failed_ctls(tmp_path, sandbox):
    hook, fail, reject = (sandbox.webhook_inbox(n) for n in ("b", "bf", "br"))
    config = _approval_config(tmp_path, hook, fail, reject)
    observer = _Decider(tmp_path, [("alice", "approve"), ("carol", "reject")])
    task = run_workflow(tmp_path, config, observer=observer).task
    assert task.status == "reject"
    assert [j.status for j in task.jobs()] == ["reject", "skipped"]
    assert "carol" in task.error and "looks good" in task.error
    assert statuses(sandbox.received("webhook", "b")) == ["wait_for_approval"]
    assert statuses(sandbox.received("webhook", "bf")) == ["reject"]
    assert statuses(sandbox.received("webhook", "br")) == ["reject"]


def test_twenty_parallel_jobs_in_three_stages_lose_no_event(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("many")
    jobs_hook = sandbox.webhook_inbox("jobs")
    stages = ""
    for s in range(3):
        stages += f"      - name: s{s}\n        jobs:\n"
        for j in range(20):
            stages += (
                f"          - {{name: j{s}-{j}, type: freestyle,"
                f" spec: {{script: 'sleep 0.0{j % 5}'}},"
                f" notify_ctls: [{hook_ctl(jobs_hook, 'prepare, passed')}]}}\n"
            )
    config = write_config(
        tmp_path,
        f"workflows:\n  - name: wf\n    notify_ctls: [{hook_ctl(hook, 'created, passed')}]\n"
        f"    stages:\n{stages}",
    )
    result = run_workflow(tmp_path, config)
    assert result.task.status == "passed"
    assert all(j.status == "passed" for j in result.task.jobs()) and len(result.task.jobs()) == 60
    assert result.undelivered == 0 and len(result.delivery_ids) == 2 + 120
    assert statuses(sandbox.received("webhook", "many")) == ["created", "passed"]
    per_job = Counter()
    order: dict[str, list[str]] = {}
    for r in sandbox.accepted("webhook"):
        if r.destination != "jobs":
            continue
        (job,) = [j for s in r.body["workflow"]["stages"] for j in s["jobs"]]
        per_job[job["name"]] += 1
        order.setdefault(job["name"], []).append(r.body["workflow"]["status"])
    assert len(per_job) == 60 and set(per_job.values()) == {2}
    assert all(seq == ["prepare", "passed"] for seq in order.values())


def test_examples_are_valid_workflows():
    from pathlib import Path

    from tidings.config.loading import load

    examples = Path(__file__).parent.parent / "examples"
    for name in ("release", "nightly", "hotfix", "staged-rollout"):
        config = load(str(examples / f"{name}.yaml"), {"SANDBOX": "http://127.0.0.1:8900"})
        assert config.workflows[0].stages
