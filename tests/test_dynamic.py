"""dynamic_recipients (Zadig's): people named by a task's variables, mentioned or sent to when
the ctl fires; entries that can never work are refused when the configuration loads."""

from __future__ import annotations

import pytest

from runner_helpers import run_workflow, write_config
from tidings import channels
from tidings.channels.dingding import DingdingConfig
from tidings.channels.mail import MailConfig
from tidings.config.loading import loads
from tidings.errors import ConfigError
from tidings.notify.dynamic import add_recipients, kind_of
from tidings.runner.observer import Observer

APP_ID = "cli_dyn0a1b2c3"
APP_SECRET = "feishu-app-secret-dyn-7e1f0c9a2b"
FEISHU_USERS = [{"open_id": "ou_rel", "user_id": "u_rel", "name": "Releaser"}]


def test_what_an_entry_holds_is_told_by_how_its_name_ends():
    assert kind_of("{{.var.owner_email}}") == "email"
    assert kind_of("{{ .job.build.output.AUTHOR_MOBILE }}") == "mobile"
    assert kind_of("{{.task.creator_phone}}") == "mobile"
    assert kind_of("{{.var.lead_userId}}") == "user id"
    assert kind_of("{{.var.feishu_uid}}") == "user id"
    assert kind_of("{{.var.owner}}") is None  # says nothing of what it holds
    assert kind_of("a@b.com") is None and kind_of("{{.var.a_email}},{{.var.b_email}}") is None


def test_values_add_each_person_once_and_say_why_an_entry_added_no_one():
    sub = DingdingConfig(
        hook_address="https://oapi.dingtalk.com/robot/send?access_token=t",
        at_mobiles=["13800000000"],
        dynamic_recipients=["{{.var.qa_mobile}}", "{{.var.dev_userId}}", "{{.var.oncall_phone}}"],
    )
    values = {"var.qa_mobile": "13800000001; 13800000000", "var.dev_userId": "dev1 dev2"}
    values["job.build.status"] = "passed"  # a task of tidings run
    channel = channels.get("dingding")
    fields, entry = channel.recipient_fields, channel.recipient_entry
    merged, notes = add_recipients(sub, fields, entry, values)
    assert merged.at_mobiles == ["13800000000", "13800000001"]
    assert merged.at_user_ids == ["dev1", "dev2"]
    assert sub.at_mobiles == ["13800000000"]  # the configuration itself is left as it was
    assert notes == [
        "dynamic_recipients[2]: {{.var.oncall_phone}} has no value: "
        "pass --var oncall_phone=VALUE to tidings run; no one added"
    ]
    _, notes = add_recipients(sub, fields, entry, {"task.id": "3"})  # an event from elsewhere
    assert notes[0].startswith(
        "dynamic_recipients[0]: {{.var.qa_mobile}} has no value here: only a task of tidings run"
    )
    mail_channel = channels.get("mail")
    mail, _ = add_recipients(
        MailConfig(dynamic_recipients=["{{.task.creator_email}}"]),
        mail_channel.recipient_fields,
        mail_channel.recipient_entry,
        {"task.creator_email": "ada@example.com"},
    )
    (target,) = mail.target_users
    assert (target.type, target.user_name) == ("email", "ada@example.com")


def test_entries_that_can_never_add_anyone_are_refused_at_load():
    text = """
    workflows:
      - name: wf
        notify_ctls:
          - webhook_type: dingding
            notify_type: [passed]
            dingding_notification_config:
              hook_address: https://oapi.dingtalk.com/robot/send?access_token=t
              dynamic_recipients:
                - "{{.var.owner_email}}"
                - "{{.var.owner}}"
                - "{{.job.nope.output.X_MOBILE}}"
        stages:
          - name: build
            jobs:
              - {name: build, type: freestyle, spec: {script: "true"}}
    """
    with pytest.raises(ConfigError) as caught:
        loads(text, "t.yaml", {})
    lines = [str(p) for p in caught.value.problems]
    at = "workflows[0].notify_ctls[0].dingding_notification_config.dynamic_recipients"
    assert f"{at}[0]: dingding can add mobile or user id here, not emails (line 10)" in lines
    assert any(
        line.startswith(f"{at}[1]: must be one {{{{.variable}}}} whose name") for line in lines
    )
    assert (
        f"{at}[2]: {{{{.job.nope.output.X_MOBILE}}}}: no job 'nope' in this workflow (line 12)"
        in (lines)
    )


def test_a_run_mentions_and_messages_the_people_its_variables_name(tmp_path, sandbox):
    robot = sandbox.dingtalk_robot("dt-dyn")
    sandbox.feishu_app(APP_ID, APP_SECRET, users=FEISHU_USERS)
    config = write_config(
        tmp_path,
        f"""
        system:
          im_apps:
            - id: feishu-main
              app_id: {APP_ID}
              app_secret: {APP_SECRET}
              base_url: "{sandbox.url}"
        workflows:
          - name: wf
            notify_ctls:
              - webhook_type: dingding
                notify_type: [created, passed]
                dingding_notification_config:
                  hook_address: "{robot}"
                  dynamic_recipients: ["{{{{.job.build.output.AUTHOR_MOBILE}}}}"]
              - webhook_type: feishu_person
                notify_type: [passed]
                lark_person_notification_config:
                  app_id: feishu-main
                  dynamic_recipients: ["{{{{.var.releaser_userId}}}}"]
            stages:
              - name: build
                jobs:
                  - name: build
                    type: freestyle
                    spec: {{script: 'echo "AUTHOR_MOBILE=13800000009" >> $TIDINGS_OUTPUT'}}
        """,
    )

    class Skips(Observer):
        def __init__(self) -> None:
            self.seen: list[tuple[str, str]] = []

        def skipped(self, status: str, job: str | None, reasons: list[str]) -> None:
            self.seen.extend((status, reason) for reason in reasons)

    skips = Skips()
    result = run_workflow(tmp_path, config, observer=skips, variables={"releaser_userId": "u_rel"})
    assert result.task.status == "passed"
    assert skips.seen == [
        (
            "created",
            "dingding notify_ctls[0]: dynamic_recipients[0]: {{.job.build.output.AUTHOR_MOBILE}} "
            "has no value: job build has not run before this one; no one added",
        )
    ]
    created, passed = sandbox.accepted("dingtalk")
    # Before the build ran its output had no value: the created message mentions no one.
    assert created.body["at"]["atMobiles"] == []
    assert passed.body["at"]["atMobiles"] == ["13800000009"]
    assert "@13800000009" in passed.text
    # A person no target_users entry names is still a destination the worker can resolve.
    (person,) = sandbox.accepted("feishu_app")
    assert person.destination == "u_rel" and person.query["receive_id_type"] == "user_id"
