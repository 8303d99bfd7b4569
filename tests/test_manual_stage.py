"""Manual stages (Zadig's manual_exec): the task pauses before the stage, `pause` is notified
(to the stage's executors too: Feishu members found by phone, mail), and one of the executors
runs it with `tidings run-stage`; a cancel while paused ends the task."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner_helpers import hook_ctl, run_workflow, statuses, write_config
from tidings.config.loading import loads
from tidings.dispatch.recipients import Directory
from tidings.errors import ConfigError, InputError
from tidings.runner import state
from tidings.runner.observer import Observer
from tidings.store.db import Store

APP_ID = "cli_manual0a1b2"
APP_SECRET = "feishu-app-secret-manual-4d2c9e"
FEISHU_USERS = [{"open_id": "ou_qa", "user_id": "u_qa", "mobile": "13800000007", "name": "QA"}]


def _config(tmp_path, sandbox, hook: str) -> str:
    return write_config(
        tmp_path,
        f"""
        system:
          im_apps:
            - id: feishu-main
              app_id: {APP_ID}
              app_secret: {APP_SECRET}
              base_url: "{sandbox.url}"
        users:
          - {{id: qa, name: QA, phone: "13800000007", email: qa@example.com}}
          - {{id: dev, name: Dev}}
          - {{id: ops, name: Ops}}
        groups: [{{id: testers, members: [qa]}}]
        workflows:
          - name: wf
            notify_ctls:
              - {hook_ctl(hook, "created, pause, passed, cancelled")}
              - webhook_type: feishu_person
                notify_type: [pause]
                lark_person_notification_config:
                  app_id: feishu-main
                  target_users: [{{is_stage_executor: true}}]
            stages:
              - name: build
                jobs: [{{name: build, type: freestyle, spec: {{script: "echo built"}}}}]
              - name: deploy
                manual_exec:
                  enabled: true
                  manual_exec_users: [{{type: group, group_id: testers}}, {{type: task_creator}}]
                jobs: [{{name: ship, type: freestyle, spec: {{script: "echo shipped"}}}}]
        """,
    )


class _Operator(Observer):
    """Acts as soon as the task pauses, as someone in another shell would."""

    def __init__(self, tmp_path, act):
        self.tmp_path, self.act = tmp_path, act
        self.paused_with: dict = {}

    def paused(self, task, stage, waiting):
        self.paused_with = {"stage": stage.name, **waiting}
        store = Store(f"sqlite:///{self.tmp_path}/tidings.db").open()
        try:
            self.act(store, task)
        finally:
            store.close()


def test_the_task_pauses_until_an_executor_runs_the_stage(tmp_path, sandbox):
    sandbox.feishu_app(APP_ID, APP_SECRET, users=FEISHU_USERS)
    hook = sandbox.webhook_inbox("manual")

    def act(store, task):
        (row,) = state.list_tasks(store, task.workflow_name, 1)
        assert (row["status"], row["waiting"]) == (
            "pause",
            {"stage": "deploy", "executors": ["qa", "dev"]},
        )
        with pytest.raises(InputError, match="user 'ops' may not run stage deploy"):
            state.run_stage(store, task.workflow_name, task.task_id, "ops")
        with pytest.raises(InputError, match="waits for stage deploy to be run by hand"):
            state.decide(store, task.workflow_name, task.task_id, "qa", "approve", "")
        state.run_stage(store, task.workflow_name, task.task_id, "qa")

    operator = _Operator(tmp_path, act)
    config = _config(tmp_path, sandbox, hook)
    task = run_workflow(tmp_path, config, observer=operator, creator="dev").task
    assert task.status == "passed"
    assert [s.status for s in task.stages] == ["passed", "passed"]
    assert operator.paused_with == {"stage": "deploy", "executors": ["qa", "dev"]}
    received = [r for r in sandbox.received("webhook", "manual") if r.accepted]
    assert statuses(received) == ["created", "pause", "passed"]
    paused = received[1].body["workflow"]
    assert [s["status"] for s in paused["stages"]] == ["passed", "pause"]
    # The Feishu member among the executors gets the card, found by phone; dev has no contact.
    (card,) = sandbox.accepted("feishu_app")
    assert card.destination == "u_qa" and "等待手动执行" in card.text and "deploy" in card.text


def test_a_cancel_while_paused_ends_the_task_and_skips_the_stage(tmp_path, sandbox):
    sandbox.feishu_app(APP_ID, APP_SECRET, users=FEISHU_USERS)
    hook = sandbox.webhook_inbox("manual-cancel")

    def act(store, task):
        state.request_cancel(store, task.workflow_name, task.task_id, "qa")

    task = run_workflow(
        tmp_path, _config(tmp_path, sandbox, hook), observer=_Operator(tmp_path, act)
    ).task
    assert task.status == "cancelled"
    assert [s.status for s in task.stages] == ["passed", "skipped"]
    assert statuses(sandbox.received("webhook", "manual-cancel")) == [
        "created",
        "pause",
        "cancelled",
    ]


def test_manual_exec_users_must_name_who_may_run_the_stage():
    text = """
    users: [{id: qa}]
    workflows:
      - name: wf
        stages:
          - name: a
            manual_exec: {enabled: true}
            jobs: [{name: a, type: freestyle, spec: {script: "true"}}]
          - name: b
            manual_exec:
              enabled: true
              manual_exec_users: [{type: user, user_id: nobody}, {type: email, user_name: x@y.z}]
            jobs: [{name: b, type: freestyle, spec: {script: "true"}}]
    """
    with pytest.raises(ConfigError) as caught:
        loads(text, "t.yaml", {})
    lines = [str(p) for p in caught.value.problems]
    at = "workflows[0].stages"
    assert f"{at}[0].manual_exec.manual_exec_users: empty: list who may run this stage" in (
        "\n".join(lines)
    )
    assert any(
        f"{at}[1].manual_exec.manual_exec_users[0].user_id: unknown user" in x for x in lines
    )
    assert any(
        f"{at}[1].manual_exec.manual_exec_users[1].type: must be user, group or task_creator" in x
        for x in lines
    )


def test_a_manual_stage_nobody_is_told_about_is_a_warning():
    text = """
    users: [{id: qa}]
    workflows:
      - name: wf
        stages:
          - name: a
            manual_exec: {enabled: true, manual_exec_users: [{type: user, user_id: qa}]}
            jobs: [{name: a, type: freestyle, spec: {script: "true"}}]
    """
    assert [str(w) for w in loads(text, "t.yaml", {}).warnings] == [
        "workflows[0].stages[0].manual_exec: nobody is told when the task waits here: add "
        "pause to a notify_type (line 7)"
    ]


def test_mail_to_stage_executors_reaches_them_only_while_a_stage_waits():
    config = loads(
        """
        users: [{id: qa, email: qa@example.com}, {id: ops, email: ops@example.com}, {id: x}]
        workflows: [{name: wf}]
        """,
        "t.yaml",
        {},
    )
    from tidings.people import Target

    targets = [Target(type="stage_executor")]
    waiting = Directory(config.users, config.groups, None, ["qa", "ops", "x"])
    assert waiting.mail_addresses(targets) == ["qa@example.com", "ops@example.com"]
    assert waiting.problems == ["stage executor 'x' has no email address: not sent to them"]
    assert Directory(config.users, config.groups, None).mail_addresses(targets) == []


def test_run_stage_of_a_task_that_is_not_paused_is_refused(tmp_path, sandbox, cli):
    hook = sandbox.webhook_inbox("done")
    config = write_config(
        tmp_path,
        f"""
        workflows:
          - name: wf
            notify_ctls: [{hook_ctl(hook, "passed")}]
            stages: [{{name: a, jobs: [{{name: a, type: freestyle, spec: {{script: "true"}}}}]}}]
        """,
    )
    env = {"TIDINGS_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    assert cli("run", "-c", config, "wf", env=env).code == 0
    result = cli("run-stage", "-c", config, "wf#1", "--user", "qa", env=env)
    assert result.code == 2 and "task wf#1 is not paused before a manual stage" in result.stderr
    assert "Traceback" not in result.output


def test_a_manual_stage_nobody_may_run_fails_the_task_at_once(tmp_path, sandbox):
    hook = sandbox.webhook_inbox("nobody")
    config = write_config(
        tmp_path,
        f"""
        workflows:
          - name: wf
            notify_ctls: [{hook_ctl(hook, "pause, failed")}]
            stages:
              - name: gate
                manual_exec: {{enabled: true, manual_exec_users: [{{type: task_creator}}]}}
                jobs: [{{name: a, type: freestyle, spec: {{script: "true"}}}}]
        """,
    )
    from tidings.config.loading import load

    assert [str(w) for w in load(config).warnings] == []  # pause is notified
    task = run_workflow(tmp_path, config).task  # no --creator: the creator has no user id
    assert task.status == "failed" and "tidings run --creator USER_ID" in task.error
    assert [j.status for j in task.jobs()] == ["skipped"]
    assert statuses(sandbox.received("webhook", "nobody")) == ["failed"]


def test_later_notifications_reach_who_ran_the_stage_not_everyone_who_could(tmp_path, sandbox):
    """Zadig's executedManualStageUsers (manual_exector_id): once the stage was run, its
    is_stage_executor / stage_executor targets are the person who ran it."""
    users = [*FEISHU_USERS, {"open_id": "ou_dev", "user_id": "u_dev", "mobile": "13800000008"}]
    sandbox.feishu_app(APP_ID, APP_SECRET, users=users)
    hook = sandbox.webhook_inbox("manual-ran")
    config = Path(_config(tmp_path, sandbox, hook))
    text = config.read_text("utf-8")
    text = text.replace("{id: dev, name: Dev}", '{id: dev, name: Dev, phone: "13800000008"}')
    config.write_text(text.replace("notify_type: [pause]", "notify_type: [pause, passed]"), "utf-8")

    def act(store, task):
        state.run_stage(store, task.workflow_name, task.task_id, "qa")

    task = run_workflow(
        tmp_path, str(config), observer=_Operator(tmp_path, act), creator="dev"
    ).task
    assert task.status == "passed"
    titles = [
        (c.destination, c.body["content"]["header"]["title"]["content"])
        for c in sandbox.accepted("feishu_app")
    ]
    # The pause went to both who could run the stage; the end, to qa who ran it.
    assert sorted(who for who, title in titles if "等待手动执行" in title) == ["u_dev", "u_qa"]
    assert [who for who, title in titles if "执行成功" in title] == ["u_qa"]
