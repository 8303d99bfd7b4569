"""Configuration: Zadig's fields accepted unchanged, and every mistake named by its YAML path."""

import subprocess
import sys
import textwrap

import pytest

from tidings.config.loading import loads
from tidings.errors import ConfigError

VALID = """
system: {address: https://zadig.example.com/, language: en-us}
users:
  - {id: u1, name: Alice, email: alice@example.com, phone: "13800000001"}
groups:
  - {id: qa, name: QA, members: [u1]}
workflows:
  - name: release
    display_name: Release
    project: shop
    notify_ctls:
      - enabled: true
        webhook_type: dingding
        notify_type: [passed, failed]
        dingding_notification_config:
          hook_address: https://oapi.dingtalk.com/robot/send?access_token=${DT_TOKEN}
          at_mobiles: ["13800000001"]
          secret: ${DT_SECRET}
      - webhook_type: webhook
        notify_type: [created]
        webhook_notification_config: {address: "https://hooks.example.com/zadig", token: t0k}
"""


def problems(text: str, environ: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loads(textwrap.dedent(text), "t.yaml", environ or {})
    return [str(p) for p in caught.value.problems]


def test_valid_config_with_env_expansion():
    config = loads(VALID, "t.yaml", {"DT_TOKEN": "abc123", "DT_SECRET": "SECxyz"})
    ctl = config.workflows[0].notify_ctls[0]
    assert ctl.settings.hook_address.endswith("access_token=abc123")
    assert ctl.settings.secret == "SECxyz"
    assert config.system.address == "https://zadig.example.com"
    assert config.workflows[0].notify_ctls[1].enabled is True  # enabled defaults to true
    assert set(config.secrets()) >= {"abc123", "SECxyz", "t0k"}


def test_unset_environment_variable_is_named_with_its_path():
    found = problems(VALID, {"DT_TOKEN": "abc"})
    assert found == [
        "workflows[0].notify_ctls[0].dingding_notification_config.secret: environment variable "
        "DT_SECRET is not set; export it or write the value (line 18)"
    ]


def test_missing_hook_address_names_the_full_path():
    found = problems(
        """
        workflows:
          - name: w
            notify_ctls:
              - webhook_type: wechat
                notify_type: [passed]
              - webhook_type: dingding
                notify_type: [passed]
                dingding_notification_config: {at_mobiles: ["1"]}
        """
    )
    assert (
        "workflows[0].notify_ctls[1].dingding_notification_config.hook_address: field required"
        in " ".join(found)
    )
    assert any(
        p.startswith("workflows[0].notify_ctls[0].wechat_notification_config: field required")
        for p in found
    )


def test_yaml_syntax_error_names_its_line():
    with pytest.raises(ConfigError) as caught:
        loads("workflows:\n  - name: [unclosed\n  - other\n", "bad.yaml", {})
    assert "YAML syntax error" in caught.value.message
    assert caught.value.problems[0].line is not None


def test_unknown_field_and_type_are_errors_an_unknown_status_a_warning():
    found = problems(
        """
        workflows:
          - name: w
            notify_ctls:
              - webhook_type: dingding
                notify_type: [sucess]
                dingding_notification_config: {hook_address: "https://x/robot/send?access_token=1"}
              - webhook_type: irc
              - webhook_type: webhook
                notify_types: [passed]
                webhook_notification_config: {address: "ftp://x"}
        """
    )
    text = "\n".join(found)
    assert "notify_type[0]" not in text  # Zadig never checks notify_type: loads, and warns
    assert "workflows[0].notify_ctls[2].notify_types: unknown field; did you mean notify_type?" in (
        text
    )
    # The whole file is checked at once: every problem is listed, not only the first.
    assert len(found) >= 2


def test_bad_url_and_unknown_type():
    found = problems(
        """
        workflows:
          - name: w
            notify_ctls:
              - webhook_type: irc
              - webhook_type: webhook
                webhook_notification_config: {address: "ftp://x"}
        """
    )
    text = "\n".join(found)
    assert "workflows[0].notify_ctls[0].webhook_type: unknown webhook_type 'irc'" in text
    assert (
        "workflows[0].notify_ctls[1].webhook_notification_config.address: must be an http" in text
    )


def test_a_misspelt_key_says_what_was_meant_even_when_its_variable_is_unset():
    found = problems(
        """
        system: {languag: en-us}
        workflows:
          - name: w
            notify_ctls:
              - webhook_type: dingding
                notify_type: [failed]
                dingding_notification_config:
                  hook_adress: ${UNSET_HOOK_OF_THIS_TEST}
        """
    )
    text = "\n".join(found)
    assert "system.languag: unknown field; did you mean language? (line 2)" in text
    # The misspelling is the mistake, not the variable: it is named once, as a key.
    assert (
        "workflows[0].notify_ctls[0].dingding_notification_config.hook_adress: "
        "unknown field; did you mean hook_address? (line 9)"
    ) in text
    assert "UNSET_HOOK_OF_THIS_TEST" not in text


def test_a_notification_job_to_another_name_of_a_channel_says_which_one():
    (found,) = problems(
        """
        workflows:
          - name: w
            stages:
              - name: build
                jobs:
                  - name: tell
                    type: notification
                    spec: {webhook_type: lark, title: hi, lark_hook_notification_config: {}}
        """
    )
    assert found.startswith(
        "workflows[0].stages[0].jobs[0].spec.webhook_type: unknown webhook_type 'lark' "
        "(did you mean feishu?); one of dingding,"
    )


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("dingtalk", "dingding"),
        ("wecom", "wechat"),
        ("email", "mail"),
        ("teams", "msteams"),
        ("feishuu", "feishu"),
        ("webhok", "webhook"),
    ],
)
def test_a_webhook_type_by_another_name_says_which_one(written, meant):
    (found,) = problems(
        f"""
        workflows:
          - name: w
            notify_ctls:
              - {{webhook_type: {written}}}
        """
    )
    assert found.startswith(
        f"workflows[0].notify_ctls[0].webhook_type: unknown webhook_type {written!r} "
        f"(did you mean {meant}?); one of dingding,"
    )


def test_zadig_deprecated_flat_fields_are_mapped():
    config = loads(
        """
        workflows:
          - name: w
            notify_ctls:
              - webhook_type: dingding
                notify_type: [passed]
                dingding_webhook: https://oapi.dingtalk.com/robot/send?access_token=a
                at_mobiles: ["138", "139"]
                is_at_all: true
              - webhook_type: wechat
                notify_type: [passed]
                weChat_webHook: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k
                wechat_user_ids: [zhangsan]
              - webhook_type: feishu
                notify_type: [passed]
                feishu_webhook: https://open.feishu.cn/open-apis/bot/v2/hook/h
                lark_user_ids: [ou_1]
              - webhook_type: webhook
                notify_type: [passed]
                webhook_notify: {address: "https://r.example.com/hook", token: tk}
        """.replace("\n        ", "\n"),
        "old.yaml",
        {},
    )
    ding, wechat, lark, hook = config.workflows[0].notify_ctls
    assert ding.settings.hook_address.endswith("access_token=a")
    assert ding.settings.at_mobiles == ["138", "139"]
    assert ding.settings.is_at_all is True
    assert wechat.settings.at_users == ["zhangsan"]
    assert lark.settings.at_users == ["ou_1"]
    assert hook.settings.address == "https://r.example.com/hook"
    assert hook.settings.token == "tk"


def test_semicolon_separated_mentions_as_in_zadigs_ui():
    config = loads(
        """
workflows:
  - name: w
    notify_ctls:
      - webhook_type: dingding
        notify_type: [passed]
        dingding_notification_config:
          hook_address: https://oapi.dingtalk.com/robot/send?access_token=a
          at_mobiles: "13800000001;13800000002"
""",
        "t.yaml",
        {},
    )
    sub = config.workflows[0].notify_ctls[0].settings
    assert sub.at_mobiles == ["13800000001", "13800000002"]


APPS_AND_MAIL = """
system:
  smtp: {host: smtp.example.com, sender: ci@example.com, username: ci, password: smtp-pw-4f1a9c}
  im_apps: [{id: main, app_id: cli_1, app_secret: app-secret-8e2b7d}]
users: [{id: u1, email: u1@example.com, phone: "13800000001"}, {id: u2}]
groups: [{id: g1, members: [u1]}]
workflows:
  - name: w
    notify_ctls:
      - webhook_type: feishu_app
        notify_type: [failed]
        lark_group_notification_config:
          app_id: main
          chat: {chat_id: oc_1, chat_name: 研发群}
          at_users: [{id: ou_1, name: A, avatar: "https://x/a.png"}]
      - webhook_type: feishu_person
        notify_type: [failed]
        lark_person_notification_config:
          app_id: main
          target_users: [{id: ou_1, id_type: open_id}, {is_executor: true, id_type: ""}]
      - webhook_type: mail
        notify_type: [failed]
        mail_notification_config:
          target_users: [{type: user, user_id: u1}, {type: group, group_id: g1},
                         {type: task_creator}, {type: email, user_name: ops@example.com}]
      - webhook_type: msteams
        notify_type: [failed]
        msteams_notification_config:
          hook_address: https://t.example.com/hook
          at_emails: "a@x.io;b@x.io"
"""


def test_feishu_apps_mail_and_teams_are_parsed_with_their_secrets():
    config = loads(APPS_AND_MAIL, "t.yaml", {})
    group, person, mail, teams = config.workflows[0].notify_ctls
    assert group.settings.chat.chat_name == "研发群"
    assert group.settings.at_users[0].id_type == "user_id"  # Zadig's default
    assert person.settings.target_users[1].id_type == "user_id"
    assert [t.type for t in mail.settings.target_users][-1] == "email"
    assert teams.settings.at_emails == ["a@x.io", "b@x.io"]
    assert config.system.im_apps[0].base == "https://open.feishu.cn"
    assert config.system.smtp.server_port == 587  # starttls by default
    assert {"app-secret-8e2b7d", "smtp-pw-4f1a9c"} <= set(config.secrets())
    assert config.warnings == []


def test_references_of_apps_users_and_groups_must_exist():
    text = (
        APPS_AND_MAIL.replace("app_id: main\n          chat", "app_id: nope\n          chat")
        .replace("user_id: u1}", "user_id: u2}")
        .replace("group_id: g1}", "group_id: g9}")
    )
    found = "\n".join(problems(text))
    assert (
        "workflows[0].notify_ctls[0].lark_group_notification_config.app_id: unknown app 'nope'; "
        "one of the system.im_apps ids: 'main'"
    ) in found
    assert "target_users[0].user_id: user 'u2' has no email" in found
    assert "target_users[1].group_id: unknown group 'g9'; add it under groups:" in found


def test_mail_needs_a_mail_server():
    found = problems(
        """
        workflows:
          - name: w
            notify_ctls:
              - webhook_type: mail
                notify_type: [failed]
                mail_notification_config: {target_users: [{type: task_creator}]}
        """
    )
    assert found == [
        "workflows[0].notify_ctls[0].webhook_type: mail needs a mail server: add system.smtp "
        "{host, port, security, username, password, sender} (line 5)"
    ]


def test_group_members_must_be_users():
    found = problems("users: [{id: a}]\ngroups: [{id: g, members: [a, b]}]\n")
    assert found == ["groups[0].members[1]: unknown user 'b'; add it under users: (line 2)"]


def test_an_unset_variable_is_one_problem_not_also_a_bad_url():
    found = problems(
        """
        workflows:
          - name: w
            notify_ctls:
              - webhook_type: webhook
                notify_type: [passed]
                webhook_notification_config: {address: "${HOOK_URL}"}
        """
    )
    assert found == [
        "workflows[0].notify_ctls[0].webhook_notification_config.address: environment "
        "variable HOOK_URL is not set; export it or write the value (line 7)"
    ]


def test_an_unset_token_is_not_also_a_missing_token():
    """The example's API token comes from ${TIDINGS_API_TOKEN}: unset, the one problem is the
    variable, not also "give exactly one of token or token_sha256" about the same entry."""
    found = problems(
        "system:\n  api_tokens: [{name: ci, token: '${NO_SUCH_TOKEN}', scopes: [send]}]\n"
    )
    assert found == [
        "system.api_tokens[0].token: environment variable NO_SUCH_TOKEN is not set; "
        "export it or write the value (line 2)"
    ]
    # An entry with neither is still told what it lacks.
    found = problems("system:\n  api_tokens: [{name: ci, scopes: [send]}]\n")
    assert found == [
        "system.api_tokens[0]: give exactly one of token (e.g. ${API_TOKEN}) or token_sha256 "
        "(line 2)"
    ]


@pytest.mark.parametrize("first", ["tidings.config.models", "tidings.config.workflows"])
def test_config_and_runner_models_import_in_any_order(first):
    """The workflow models and the configuration's import in either order without running
    into a half-initialised module."""
    code = textwrap.dedent(
        f"""\
        import {first}
        from tidings.config.loading import loads
        config = loads("workflows: [{{name: w, stages: [{{name: s, jobs: [{{name: j,"
                       " type: freestyle, spec: {{script: 'true'}}}}]}}]}}]")
        print(type(config.workflows[0].job("j")).__module__)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["tidings.config.workflows"]


def test_deprecated_fields_make_only_the_ctls_own_settings_and_errors_name_them():
    """NotifyCtl.GenerateNewNotifyConfigWithOldData: the deprecated fields of the ctl's own
    webhook_type make its settings (a dingding ctl's feishu_webhook is ignored); what is
    missing is named as Zadig wrote it."""
    config = loads(
        """
        workflows:
          - name: w
            notify_ctls:
              - webhook_type: dingding
                notify_type: [passed]
                dingding_webhook: https://oapi.dingtalk.com/robot/send?access_token=a
                feishu_webhook: https://open.feishu.cn/open-apis/bot/v2/hook/ignored
                lark_at_users: null
                webhook_notify: {address: "", token: ""}
        """.replace("\n        ", "\n"),
        "old.yaml",
        {},
    )
    (ding,) = config.workflows[0].notify_ctls
    assert ding.settings.at_mobiles == [] and not ding.settings.is_at_all
    found = problems(
        """
        workflows:
          - name: w
            notify_ctls:
              - {webhook_type: dingding, notify_type: [passed], at_mobiles: ["138"]}
              - {webhook_type: feishu_app, notify_type: [passed], feishu_app_id: a}
              - webhook_type: webhook
                notify_type: [passed]
                webhook_notify: {address: "", token: ""}
        """
    )
    at = "workflows[0].notify_ctls"
    assert any(
        line.startswith(f"{at}[0].dingding_webhook: empty, but at_mobiles is set") for line in found
    )
    assert any(
        line.startswith(f"{at}[1].feishu_chat: empty, but feishu_app_id is set") for line in found
    )
    assert any(
        line.startswith(
            f"{at}[2].webhook_notification_config: field required for webhook_type webhook (or, "
            "as Zadig before 3.3.0 wrote it, webhook_notify.address or webhook_notify.token)"
        )
        for line in found
    )


def test_null_lists_are_empty_in_ctls_and_notification_jobs():
    """Zadig's JSON writes an empty at_mobiles, at_users, at_emails, target_users,
    dynamic_recipients, lark_at_users or notify_type as null."""
    config = loads(
        """
        workflows:
          - name: w
            notify_ctls:
              - webhook_type: wechat
                notify_type: null
                wechat_notification_config: {hook_address: "https://q.x/x", at_users: null}
              - webhook_type: msteams
                notify_type: [passed]
                msteams_notification_config:
                  {hook_address: "https://t.x/x", at_emails: null, dynamic_recipients: null}
            stages:
              - name: s
                jobs:
                  - name: n
                    type: notification
                    spec:
                      webhook_type: dingding
                      title: hi
                      content: null
                      is_at_all: false
                      lark_at_users: null
                      dingding_notification_config:
                        {hook_address: "https://d.example.com/x", at_mobiles: null}
        """.replace("\n        ", "\n"),
        "null.yaml",
        {},
    )
    wechat, teams = config.workflows[0].notify_ctls
    assert wechat.notify_type == [] and wechat.settings.at_users == []
    assert teams.settings.at_emails == [] and teams.settings.dynamic_recipients == []
    job = config.workflows[0].jobs()[0].typed
    assert job.content == "" and job.ctl().settings.at_mobiles == []
