"""A configuration written the way Zadig's API returns it: JSON with empty lists as null, the
deprecated (pre-3.3.0) flat fields, every webhook_type, unknown notify_type values, and
notification jobs of every type Zadig's NotificationJobSpec has. It loads, `tidings check`
warns about what never fires, `preview` plans every ctl, and a run sends every notification
job to the sandbox in Zadig's layout."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import seed_task, write_json
from runner_helpers import run_workflow
from tidings.config.loading import loads
from tidings.sandbox import SandboxThread

APP_ID = "cli_corpus0a1b2"
APP_SECRET = "feishu-app-secret-corpus-8e2f"
FEISHU_USERS = [
    {"open_id": "ou_ada", "user_id": "u_ada", "mobile": "13800000000", "name": "Ada"},
    {"open_id": "ou_lead", "user_id": "u_lead", "name": "Lead"},
]
CHATS = [{"chat_id": "oc_team", "name": "team"}]
CREATOR = "89358827-5137-11ee-b0c5-56d5fd1dd39e"  # the seed's task_creator_id


def zadig_ctls(url: str) -> list[dict]:
    """notify_ctls as Zadig's API writes them (models/workflow.go NotifyCtl: no omitempty on
    at_* / target_users / dynamic_recipients / lark_at_users, webhook_notify a struct)."""
    common = {"webhook_notify": {"address": "", "token": ""}, "lark_at_users": None}
    return [
        {  # 3.3+: the sub-config, its lists null
            **common,
            "enabled": True,
            "webhook_type": "dingding",
            "notify_type": ["passed", "failed", "someday"],
            "dingding_notification_config": {
                "hook_address": f"{url}/robot/send?access_token=dt",
                "at_mobiles": None,
                "dynamic_recipients": None,
                "is_at_all": False,
            },
        },
        {  # before 3.3: flat fields
            **common,
            "enabled": True,
            "webhook_type": "wechat",
            "notify_type": ["passed"],
            "weChat_webHook": f"{url}/cgi-bin/webhook/send?key=wk",
            "wechat_user_ids": ["zhangsan"],
            "is_at_all": True,
        },
        {
            **common,
            "enabled": True,
            "webhook_type": "feishu",
            "notify_type": ["passed"],
            "feishu_webhook": f"{url}/open-apis/bot/v2/hook/fs",
            "lark_user_ids": None,
        },
        {
            "enabled": True,
            "webhook_type": "feishu_app",
            "notify_type": ["passed"],
            "feishu_app_id": "feishu-main",
            "feishu_chat": {"chat_id": "oc_team", "chat_name": "team"},
            "lark_at_users": [{"id": "u_lead", "name": "Lead", "is_executor": False}],
            "is_at_all": True,
            "webhook_notify": {"address": "", "token": ""},
        },
        {
            **common,
            "enabled": True,
            "webhook_type": "feishu_person",
            "notify_type": ["passed"],
            "lark_person_notification_config": {
                "app_id": "feishu-main",
                "target_users": [{"id": "", "id_type": "", "is_executor": True}],
                "dynamic_recipients": None,
            },
        },
        {
            **common,
            "enabled": True,
            "webhook_type": "mail",
            "notify_type": ["passed"],
            "mail_users": [{"type": "task_creator", "user_id": "", "user_name": ""}],
        },
        {
            **common,
            "enabled": True,
            "webhook_type": "msteams",
            "notify_type": ["passed"],
            "msteams_notification_config": {
                "hook_address": f"{url}/msteams/ci",
                "at_emails": None,
                "dynamic_recipients": None,
            },
        },
        {
            "enabled": True,
            "webhook_type": "webhook",
            "notify_type": ["passed", "wait_for_something"],
            "webhook_notify": {"address": f"{url}/webhook/receiver", "token": "tk-corpus"},
            "lark_at_users": None,
        },
    ]


def notification_job(name: str, spec: dict) -> dict:
    """A notification job as Zadig writes its spec (NotificationJobSpec)."""
    base = {
        "source": "runtime",
        "title": "{{.workflow.name}} #{{.workflow.task.id}}",
        "content": "by {{.workflow.task.creator}} in {{.project.name}}",
        "is_at_all": False,
        "lark_at_users": None,
        "webhook_notify": {"address": "", "token": ""},
    }
    return {"name": name, "type": "notification", "spec": {**base, **spec}}


def config_json(url: str, smtp_port: int) -> dict:
    jobs = [
        notification_job(
            "tell-dingtalk",
            {
                "webhook_type": "dingding",
                "dingding_notification_config": {
                    "hook_address": f"{url}/robot/send?access_token=dt",
                    "at_mobiles": None,
                    "is_at_all": False,
                },
            },
        ),
        notification_job(
            "tell-wecom",
            {
                "webhook_type": "wechat",
                "weChat_webHook": f"{url}/cgi-bin/webhook/send?key=wk",
                "wechat_user_ids": ["zhangsan"],
            },
        ),
        notification_job(
            "tell-group",
            {
                "webhook_type": "feishu_app",
                "feishu_app_id": "feishu-main",
                "feishu_chat": {"chat_id": "oc_team", "chat_name": "team"},
                "lark_at_users": [{"id": "u_lead", "name": "Lead"}],
                "is_at_all": True,
            },
        ),
        notification_job(
            "tell-people",
            {
                "webhook_type": "feishu_person",
                "lark_person_notification_config": {
                    "app_id": "feishu-main",
                    "target_users": [{"is_executor": True}, {"id": "u_lead", "id_type": None}],
                },
            },
        ),
        notification_job(
            "tell-mail",
            {
                "webhook_type": "mail",
                "mail_notification_config": {
                    "target_users": [{"type": "task_creator"}, {"type": "user", "user_id": "qa"}]
                },
            },
        ),
    ]
    return {
        "system": {
            "address": "https://zadig.example.com",
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "security": "none",
                "sender": "Zadig <noreply@example.com>",
            },
            "im_apps": [
                {"id": "feishu-main", "app_id": APP_ID, "app_secret": APP_SECRET, "base_url": url}
            ],
        },
        "users": [
            {"id": CREATOR, "name": "admin", "phone": "13800000000", "email": "admin@example.com"},
            {"id": "qa", "name": "QA", "email": "qa@example.com"},
        ],
        "workflows": [
            {
                "name": "demo-workflow-dev",
                "display_name": "演示工作流",
                "project": "yaml",
                "project_display_name": "演示项目",
                "notify_ctls": zadig_ctls(url),
                "stages": [{"name": "tell", "parallel": False, "jobs": jobs}],
            }
        ],
    }


def write_config(tmp_path: Path, sb: SandboxThread) -> Path:
    assert sb.smtp is not None
    path = tmp_path / "tidings.yaml"
    path.write_text(json.dumps(config_json(sb.url, sb.smtp.port)), "utf-8")
    return path


def test_loads_with_the_settings_zadig_builds(tmp_path):
    config = loads(json.dumps(config_json("http://127.0.0.1:1", 2525)), "zadig.json", {})
    ding, wechat, feishu, group, person, mail, teams, hook = config.workflows[0].notify_ctls
    assert ding.settings.at_mobiles == [] and ding.settings.dynamic_recipients == []
    assert (wechat.settings.at_users, wechat.settings.is_at_all) == (["zhangsan"], True)
    assert feishu.settings.at_users == []
    # GenerateNewNotifyConfigWithOldData: the group, its mentions and @all.
    assert group.settings.app_id == "feishu-main" and group.settings.chat.chat_id == "oc_team"
    assert [u.id for u in group.settings.at_users] == ["u_lead"] and group.settings.is_at_all
    assert person.settings.target_users[0].is_executor
    assert [t.type for t in mail.settings.target_users] == ["task_creator"]
    assert teams.settings.at_emails == []
    assert (hook.settings.address.endswith("/webhook/receiver"), hook.settings.token) == (
        True,
        "tk-corpus",
    )
    jobs = config.workflows[0].jobs()
    group_job = jobs[2].typed.ctl()
    assert [u.id for u in group_job.settings.at_users] == ["u_lead"]
    assert group_job.settings.is_at_all


def test_check_warns_of_each_unknown_notify_type_and_preview_plans_every_ctl(tmp_path, cli):
    with SandboxThread(smtp={"security": "none"}) as sb:
        sb.feishu_app(APP_ID, APP_SECRET, users=FEISHU_USERS, chats=CHATS)
        config = write_config(tmp_path, sb)
        check = cli("check", "-c", str(config))
        task = write_json(tmp_path / "task.json", seed_task())
        preview = cli("preview", "-c", str(config), "-t", task, "--json")
    assert check.code == 0, check.output
    assert (
        "workflows[0].notify_ctls[0].notify_type[2]: unknown status 'someday' never fires"
        in check.stderr
    )
    assert "notify_ctls[7].notify_type[1]: unknown status 'wait_for_something'" in check.stderr
    assert preview.code == 0, preview.output
    channels = {call["channel"] for call in preview.json()["requests"]}
    assert channels == {
        "dingding", "wechat", "feishu", "feishu_app", "feishu_person", "mail", "msteams",
        "webhook",
    }  # fmt: skip


def test_a_run_sends_every_notification_job_in_zadigs_layout(tmp_path):
    with SandboxThread(smtp={"security": "none"}) as sb:
        sb.dingtalk_robot("dt")
        sb.wecom_robot("wk")
        sb.feishu_app(APP_ID, APP_SECRET, users=FEISHU_USERS, chats=CHATS)
        config = write_config(tmp_path, sb)
        result = run_workflow(tmp_path, str(config), "demo-workflow-dev", creator=CREATOR)
        dingtalk = sb.accepted("dingtalk")
        wecom = sb.accepted("wecom")
        feishu = sb.accepted("feishu_app")
        mails = sb.accepted("mail")
    assert result.task.status == "passed", [j.error for j in result.task.jobs()]
    title = f"演示工作流 #{result.task.task_id}"
    # (The workflow's own ctls send their `passed` messages to the same robots, after.)
    # generateDingDingNotificationMessage: a blue bold title, the content, the button.
    note = dingtalk[0]
    assert note.body["msgtype"] == "actionCard"
    assert note.body["actionCard"]["text"] == (
        f"### <font color=#3270e3>**{title}**</font>\nby admin in 演示项目\n"
    )
    # sendWorkWxMessage: the title, the content, the link; the mentions in a second message.
    text, mentions = (r.body["markdown"]["content"] for r in wecom[:2])
    assert text.startswith(f"### {title}\nby admin in 演示项目\n[点击查看更多信息](")
    assert mentions == "##### **相关人员**: <@zhangsan> \n"
    # sendLarkMessage: the blue card to the group, then its mentions; the card to each person.
    notes = [
        r
        for r in feishu
        if r.body["msg_type"] == "interactive" and r.body["content"]["header"]["template"] == "blue"
    ]
    assert sorted(r.destination for r in notes) == ["oc_team", "u_ada", "u_lead"]
    card = notes[0].body["content"]
    assert card["header"] == {"template": "blue", "title": {"content": title, "tag": "plain_text"}}
    assert card["i18n_elements"]["zh_cn"][0]["fields"][0]["text"]["content"] == (
        "by admin in 演示项目"
    )
    text_message = next(r for r in feishu if r.body["msg_type"] == "text")
    assert '<at user_id="u_lead">Lead</at>' in text_message.body["content"]["text"]
    assert '<at user_id="all">' in text_message.body["content"]["text"]
    # The mail: the title as its subject, the content as its body; the creator and QA.
    sent = sorted(m.destination for m in mails if m.body["subject"] == title)
    assert sent == ["admin@example.com", "qa@example.com"]
