"""dynamic_recipients (Zadig's): people named by a task's variables, mentioned or sent to when
the ctl fires; entries that can never work are refused when the configuration loads."""

from __future__ import annotations

import pytest

from helpers import seed_task, write_json
from runner_helpers import run_workflow, write_config
from tidings import channels
from tidings.channels.dingding import DingdingConfig
from tidings.channels.mail import MailConfig
from tidings.config.loading import loads
from tidings.config.models import User
from tidings.errors import ConfigError
from tidings.notify.dynamic import add_recipients, kind_of
from tidings.runner.observer import Observer

APP_ID = "cli_dyn0a1b2c3"
APP_SECRET = "feishu-app-secret-dyn-7e1f0c9a2b"
FEISHU_USERS = [{"open_id": "ou_rel", "user_id": "u_rel", "name": "Releaser"}]


def test_what_an_entry_holds_is_told_by_its_last_field():
    """Zadig's ParseDynamicRecipientKind (util/workflow_variables.go): a key under workflow.,
    payload. or job. whose last field is email, mobile/phone or user_id/userid/uid, or ends
    in _ and one of them, without case; tidings' task. and var. names alike."""
    assert kind_of("{{.workflow.params.owner_email}}") == "email"
    assert kind_of("{{.payload.head_commit.author.email}}") == "email"
    assert kind_of("{{ .job.build.output.AUTHOR_MOBILE }}") == "mobile"
    assert kind_of("{{.job.build.lead_phone}}") == "mobile"  # a job's input: job.NAME.FIELD
    assert kind_of("{{.workflow.task.creator.userId}}") == "user_id"
    assert kind_of("{{.workflow.params.feishu_uid}}") == "user_id"
    assert kind_of("{{.task.creator_phone}}") == "mobile"
    assert kind_of("{{.var.lead_user_id}}") == "user_id"
    assert kind_of("{{.workflow.params.owneremail}}") is None  # not `email` nor `_email`
    assert kind_of("{{.workflow.params.owner}}") is None  # says nothing of what it holds
    assert kind_of("{{.project.owner_email}}") is None  # not under workflow., payload., job.
    assert kind_of("{{.job.build.output.a.b_email}}") is None  # an output has no dots
    assert kind_of("a@b.com") is None
    assert kind_of("{{.var.a_email}},{{.var.b_email}}") is None


USERS = [
    User(id="ada", name="Ada", email="ada@example.com", phone="13800000002"),
    User(id="bob", name="Bob", email="bob@example.com"),
]


def test_values_add_each_person_once_through_users_and_say_why_one_was_left_out():
    sub = DingdingConfig(
        hook_address="https://oapi.dingtalk.com/robot/send?access_token=t",
        at_mobiles=["13800000000"],
        dynamic_recipients=[
            "{{.workflow.params.qa_mobile}}",
            "{{.workflow.params.dev_userId}}",
            "{{.workflow.params.oncall_phone}}",
            "{{.payload.pusher_email}}",
        ],
    )
    values = {
        "workflow.params.qa_mobile": "13800000001; 13800000000",
        "workflow.params.dev_userId": "dev1 dev2",
        "payload.pusher_email": "ada@example.com,bob@example.com",
    }
    channel = channels.get("dingding")
    fields, entry = channel.recipient_fields, channel.recipient_entry
    merged, notes = add_recipients(sub, fields, entry, values, USERS)
    # Ada's email finds her phone under users:; Bob has none to be mentioned by.
    assert merged.at_mobiles == ["13800000000", "13800000001", "13800000002"]
    assert merged.at_user_ids == ["dev1", "dev2"]
    assert sub.at_mobiles == ["13800000000"]  # the configuration itself is left as it was
    assert notes == [
        "dynamic_recipients[2]: {{.workflow.params.oncall_phone}} has no value: "
        "pass --var oncall_phone=VALUE to tidings run; no one added",
        "dynamic_recipients[3] {{.payload.pusher_email}}: 'bob@example.com' is a email this "
        "channel cannot reach (it takes mobile or user_id) and no user under users: has that "
        "email with one; not sent to them",
    ]
    mail_channel = channels.get("mail")
    mail, _ = add_recipients(
        MailConfig(
            dynamic_recipients=["{{.task.creator_email}}", "{{.workflow.task.creator.userId}}"]
        ),
        mail_channel.recipient_fields,
        mail_channel.recipient_entry,
        {"task.creator_email": "ada@example.com", "workflow.task.creator.userId": "bob"},
        USERS,
    )
    assert [(t.type, t.user_name) for t in mail.target_users] == [
        ("email", "ada@example.com"),
        ("email", "bob@example.com"),  # a user id, found under users:
    ]


def test_only_entries_that_name_no_kind_are_refused_at_load():
    """Zadig refuses, when a workflow is saved, an entry that is not one variable naming what
    it holds; everything else loads (a kind the channel cannot mention directly is looked up
    under users: when the ctl fires)."""
    text = """
    workflows:
      - name: wf
        notify_ctls:
          - webhook_type: dingding
            notify_type: [passed]
            dingding_notification_config:
              hook_address: https://oapi.dingtalk.com/robot/send?access_token=t
              dynamic_recipients:
                - "{{.workflow.params.owner_email}}"
                - "{{.workflow.params.owner}}"
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
    assert len(lines) == 1
    assert lines[0].startswith(f"{at}[1]: must be one {{{{.variable}}}} under workflow.")
    fixed = text.replace('                - "{{.workflow.params.owner}}"\n', "")
    config = loads(fixed, "t.yaml", {})
    assert [str(w) for w in config.warnings] == [
        f"{at}[1]: {{{{.job.nope.output.X_MOBILE}}}}: no task of this workflow has it; it adds "
        "no one (line 11)"
    ]


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


def test_a_recipient_nobody_is_found_for_is_skipped_and_the_skip_kept_with_the_delivery(
    tmp_path, sandbox, cli
):
    """Not a load error: the message goes to the others, `send` says who was left out and
    `tidings deliveries show` says it beside the delivery."""
    robot = sandbox.dingtalk_robot("dt-skip")
    config = tmp_path / "tidings.yaml"
    config.write_text(
        f"""
workflows:
  - name: demo-workflow-dev
    notify_ctls:
      - webhook_type: dingding
        notify_type: [passed]
        dingding_notification_config:
          hook_address: "{robot}"
          dynamic_recipients: ["{{{{.task.creator_email}}}}"]
""",
        "utf-8",
    )
    task = write_json(tmp_path / "task.json", seed_task())
    sent = cli("send", "-c", str(config), "-t", task, "--json")
    assert sent.code == 0, sent.output
    reason = (
        "dynamic_recipients[0] {{.task.creator_email}}: 'xxx@koderover.com' is a email this "
        "channel cannot reach"
    )
    assert reason in sent.stderr
    (delivery,) = sent.json()["deliveries"]
    shown = cli("deliveries", "show", delivery["delivery_id"], "-c", str(config))
    assert f"skipped:     {reason}" in shown.stdout
    (message,) = sandbox.accepted("dingtalk")
    assert message.body["at"]["atMobiles"] == []
