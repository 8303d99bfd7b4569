"""Golden texts: what each channel says for each status in each language, written from Zadig's
own templates (instantmessage/workflow_task.go, util/workflownotify/job_content.go,
dingTalk.go, msteams.go, notification.html, notification_en.html), value for value. Each
test names the Go function it follows."""

import copy
from datetime import datetime
from urllib.parse import quote

import pytest

from helpers import COMMIT, COMMIT_URL, build_job
from tidings.config.loading import loads
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task
from tidings.notify.content import go_duration

ADDRESS = "https://zadig.example.com"
START = 1700000000

CONFIG = """
system:
  address: "{address}"
  language: {language}
  smtp: {{host: smtp.example.com, sender: "Zadig <noreply@example.com>"}}
users:
  - {{id: qa, name: QA, email: qa@example.com}}
workflows:
  - name: release
    display_name: Release
    project: shop
    notify_ctls:
      - webhook_type: dingding
        notify_type: [{statuses}]
        dingding_notification_config:
          hook_address: https://oapi.dingtalk.com/robot/send?access_token=t
      - webhook_type: dingding
        notify_type: [{statuses}]
        dingding_notification_config:
          hook_address: https://oapi.dingtalk.com/robot/send?access_token=t
          at_mobiles: ["13800000001"]
      - webhook_type: wechat
        notify_type: [{statuses}]
        wechat_notification_config:
          hook_address: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k
          at_users: [u1]
          is_at_all: true
      - webhook_type: feishu
        notify_type: [{statuses}]
        lark_hook_notification_config:
          hook_address: https://open.feishu.cn/open-apis/bot/v2/hook/t
          at_users: [ou_1]
          is_at_all: true
      - webhook_type: msteams
        notify_type: [{statuses}]
        msteams_notification_config: {{hook_address: "https://teams.example.com/hook"}}
      - webhook_type: mail
        notify_type: [{statuses}]
        mail_notification_config: {{target_users: [{{type: user, user_id: qa}}]}}
      - webhook_type: webhook
        notify_type: [{statuses}]
        webhook_notification_config: {{address: "https://hooks.example.com/z"}}
"""

STATUSES = (
    "created",
    "passed",
    "failed",
    "timeout",
    "cancelled",
    "reject",
    "pause",
    "wait_for_approval",
    "unstable",
)

BUILD = build_job()
DEPLOY = {
    "name": "deploy-shop",
    "type": "zadig-deploy",
    "status": "passed",
    "spec": {
        "env": "dev",
        "service_name": "shop",
        "service_modules": [{"service_module": "shop", "image": "reg.example.com/acme/shop:1.2"}],
    },
}
TEST = {
    "name": "smoke",
    "type": "zadig-test",
    "status": "passed",
    "spec": {"test_result": {"total": 48, "success": 46, "failed": 2}},
}


def task_data(**over) -> dict:
    data = {
        "task_id": 12,
        "workflow_name": "release",
        "workflow_display_name": "Release",
        "project_name": "shop",
        "project_display_name": "Shop",
        "status": "passed",
        "remark": "hello",
        "task_creator": "alice",
        "create_time": START - 5,
        "start_time": START,
        "end_time": START + 90,
        "stages": [
            {"name": "build", "status": "passed", "jobs": [copy.deepcopy(BUILD)]},
            {"name": "deploy", "status": "passed", "jobs": [copy.deepcopy(DEPLOY)]},
            {"name": "test", "status": "passed", "jobs": [copy.deepcopy(TEST)]},
        ],
    }
    data.update(over)
    return data


def plan(data=None, status=None, language="zh-cn", now=START + 600):
    config = loads(CONFIG.format(address=ADDRESS, language=language, statuses=", ".join(STATUSES)))
    task = parse_task(data or task_data())
    return plan_event(config, config.workflows[0], task, status=status, now=now)


def bodies(data=None, status=None, language="zh-cn", now=START + 600) -> dict[str, list[dict]]:
    """Request bodies by webhook_type; dingding's first is without @, the second with @."""
    out: dict[str, list[dict]] = {}
    for item in plan(data, status, language, now).planned:
        out.setdefault(item.webhook_type, []).extend(r.body for r in item.requests)
    return out


def wecom(data=None, status=None, language="zh-cn", now=START + 600) -> str:
    return bodies(data, status, language, now)["wechat"][0]["markdown"]["content"]


def feishu_card(data=None, status=None, language="zh-cn") -> dict:
    return bodies(data, status, language)["feishu"][0]["card"]


def feishu_contents(card: dict) -> list[str]:
    """Each lark_md field of the card, in order."""
    return [
        field["text"]["content"]
        for element in card["i18n_elements"]["zh_cn"]
        for field in element.get("fields", [])
    ]


def local(ts: int) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


# --- Zadig's texts, as zhTextMap / enTextMap hold them ---------------------------------------

ZH = {
    "workflow": "工作流",
    "executor": "执行用户",
    "project": "项目名称",
    "start": "开始时间",
    "duration": "持续时间",
    "remark": "备注",
    "status": "状态",
    "repository": "代码信息",
    "commit": "提交信息",
    "image": "镜像信息",
    "env": "环境",
    "test_result": "测试结果",
    "success": "成功",
    "failed": "失败",
    "total": "总数",
    "build": "构建",
    "deploy": "容器服务部署",
    "test": "测试",
    "more": "点击查看更多信息",
    "passed": "执行成功",
}
EN = {
    "workflow": "workflow",
    "executor": "Executor",
    "project": "Project Name",
    "start": "Start Time",
    "duration": "Duration",
    "remark": "Remark",
    "status": "Status",
    "repository": "Repository Information",
    "commit": "Commit Message",
    "image": "Image Information",
    "env": "Environment",
    "test_result": "Test Result",
    "success": "Success",
    "failed": "Failed",
    "total": "Total",
    "build": "Build",
    "deploy": "Deploy",
    "test": "Test",
    "more": "Click for More Information",
    "passed": "Passed",
}
TEXTS = {"zh-cn": ZH, "en-us": EN}

# taskStatus, getIcon, getColor (DingTalk), the Feishu header, the Teams title colour.
TASK_STATUS = {
    "zh-cn": {
        "created": "开始执行",
        "passed": "执行成功",
        "failed": "执行失败",
        "timeout": "执行超时",
        "cancelled": "执行取消",
        "reject": "执行被拒绝",
        "pause": "暂停",
        "unstable": "执行失败",
    },
    "en-us": {
        "created": "Created",
        "passed": "Passed",
        "failed": "Failed",
        "timeout": "Timeout",
        "cancelled": "Cancelled",
        "reject": "Rejected",
        "pause": "Pause",
        "unstable": "Failed",
    },
}
ICON = {"created": "👍", "passed": "👍", "failed": "❌"}
DINGTALK_COLOUR = {"created": "#00a13e", "passed": "#00a13e", "pause": "#ff8800"}
FEISHU_TEMPLATE = {"created": "green", "passed": "green", "pause": "orange"}
TEAMS_COLOUR = {"created": "Good", "passed": "Good", "failed": "Attention"}

TASK_URL = f"{ADDRESS}/v1/projects/detail/shop/pipelines/custom/release/12?display_name=Release"
WORKFLOW_URL = f"{ADDRESS}/v1/projects/detail/shop/pipelines/custom/release?display_name=Release"
EVENTS = [(language, status) for language in TEXTS for status in TASK_STATUS[language]]


def title(language: str, status: str, manual: bool = False) -> str:
    """tplTitle without markup: icon, task type, name, id, status."""
    text = TASK_STATUS[language][status]
    if manual:  # taskStatusWaitingManualExec
        text = "等待手动执行" if language == "zh-cn" else "Waiting for Manual Execution"
    return f"{ICON.get(status, '⚠️')}{TEXTS[language]['workflow']} Release #12 {text}"


def zadig_markdown(language: str, status: str, dingtalk: bool) -> str:
    """getNotificationContentWithOptions for a non-Feishu webhook type: tplTitle, tplBaseInfo,
    then BuildWorkflowJobContents' jobTplcontent for each job (DingTalk: the coloured title,
    `##### ` before each line and `---` between jobs)."""
    t = TEXTS[language]
    p = "##### " if dingtalk else ""
    job = "\n\n---\n\n##### " if dingtalk else "\n\n"
    head = title(language, status)
    if dingtalk:
        colour = DINGTALK_COLOUR.get(status, "#eb0823")
        head = f'<font color="{colour}"><b>{head}</b></font>'
    ok = t["passed"]
    image = "reg.example.com/acme/shop:1.2"
    return (
        f"### {head} \n"
        f"{p}**{t['executor']}**：alice  \n"
        f"{p}**{t['project']}**：Shop  \n"
        f"{p}**{t['start']}**：{local(START)}  \n"
        f"{p}**{t['duration']}**：1m30s  \n"
        f"{p}**{t['remark']}**：hello \n"
        f"{job}**{t['build']}**: build-shop    **{t['status']}**: {ok}  \n"
        f"{p}**{t['repository']}**：main [622cc1fd]({COMMIT_URL})  \n"
        f"{p}**{t['commit']}**：Fix checkout \n"
        f"{p}**{t['image']}**：{image}  \n"
        f"{job}**{t['deploy']}**: deploy-shop    **{t['status']}**: {ok}  \n"
        f"{p}**{t['env']}**：dev  \n"
        f"{p}**{t['image']}**：  \n"
        f"{image}  \n"
        f"{job}**{t['test']}**: smoke    **{t['status']}**: {ok}  \n"
        f"{p}**{t['test_result']}**: 46({t['success']}) 2({t['failed']}) 48({t['total']})\n  \n"
    )


# --- each channel, each status, each language -----------------------------------------------


@pytest.mark.parametrize(("language", "status"), EVENTS)
def test_dingtalk_action_card(language, status):
    """BuildDingDingMessage without mentions: an actionCard of the whole text and a button
    that opens the task in DingTalk's side panel. The button's text and the card's plain
    title are tidings' (extensions: Zadig's button is always Chinese, its title markup)."""
    body = bodies(status=status, language=language)["dingding"][0]
    assert body["msgtype"] == "actionCard"
    card = body["actionCard"]
    assert card["text"] == zadig_markdown(language, status, dingtalk=True)
    assert card["title"] == title(language, status)
    assert (card["hideAvatar"], card["btnOrientation"]) == ("0", "0")
    link = f"dingtalk://dingtalkclient/page/link?url={quote(TASK_URL, safe='')}&pc_slide=false"
    assert card["btns"] == [{"title": TEXTS[language]["more"], "actionURL": link}]


@pytest.mark.parametrize(("language", "status"), EVENTS)
def test_dingtalk_markdown_with_mentions(language, status):
    """BuildDingDingMessage / buildDingDingMarkdownText with at_mobiles: markdown of the
    trimmed text, the link, then the mention line; `at` names the mobiles."""
    body = bodies(status=status, language=language)["dingding"][1]
    assert body["msgtype"] == "markdown"
    assert body["at"] == {"atMobiles": ["13800000001"], "atUserIds": [], "isAtAll": False}
    more = TEXTS[language]["more"]
    assert body["markdown"]["text"] == (
        zadig_markdown(language, status, dingtalk=True).strip()
        + f"\n\n[{more}]({TASK_URL})\n##### **相关人员**: @13800000001"
    )


@pytest.mark.parametrize(("language", "status"), EVENTS)
def test_wecom_markdown(language, status):
    """getNotificationContentWithOptions for wechat: the text, the mention line
    (getNotifyAtContent; working here, an extension), then moreInformation."""
    sent = bodies(status=status, language=language)["wechat"]
    assert sent[0]["markdown"]["content"] == (
        zadig_markdown(language, status, dingtalk=False)
        + "##### **相关人员**: <@u1> \n"
        + f"\n\n[{TEXTS[language]['more']}]({TASK_URL})"
    )
    # is_at_all (an extension: Zadig ignores it for WeCom): a text message mentioning @all.
    assert sent[1] == {
        "msgtype": "text",
        "text": {"content": title(language, status), "mentioned_list": ["@all"]},
    }


@pytest.mark.parametrize(("language", "status"), EVENTS)
def test_feishu_card(language, status):
    """The LarkCard of getNotificationContentWithOptions: header coloured by status (and
    等待手动执行 for a pause on Feishu), the info lines as fields of one div, a div per job,
    the button; then getNotifyAtContent's mentions (after the title: an extension)."""
    t = TEXTS[language]
    card, mentions = bodies(status=status, language=language)["feishu"]
    lark = card["card"]
    assert lark["config"] == {"wide_screen_mode": True}
    assert lark["header"] == {
        "template": FEISHU_TEMPLATE.get(status, "red"),
        "title": {
            "content": title(language, status, manual=status == "pause"),
            "tag": "plain_text",
        },
    }
    elements = lark["i18n_elements"]["zh_cn"]
    assert [e["tag"] for e in elements] == ["div", "div", "div", "div", "action"]
    assert all(f["is_short"] is False for e in elements[:4] for f in e["fields"])
    ok = t["passed"]
    assert feishu_contents(lark) == [
        f"**{t['executor']}**：alice  \n",
        f"**{t['project']}**：Shop  \n",
        f"**{t['start']}**：{local(START)}  \n",
        f"**{t['duration']}**：1m30s  \n",
        f"**{t['remark']}**：hello \n",
        f"**{t['build']}**: build-shop    **{t['status']}**: {ok}  \n"
        f"**{t['repository']}**：main [622cc1fd]({COMMIT_URL})  \n"
        f"**{t['commit']}**：Fix checkout \n"
        f"**{t['image']}**：reg.example.com/acme/shop:1.2  \n",
        f"**{t['deploy']}**: deploy-shop    **{t['status']}**: {ok}  \n"
        f"**{t['env']}**：dev  \n"
        f"**{t['image']}**：  \n"
        "reg.example.com/acme/shop:1.2  \n",
        f"**{t['test']}**: smoke    **{t['status']}**: {ok}  \n"
        f"**{t['test_result']}**: 46({t['success']}) 2({t['failed']}) 48({t['total']})\n  \n",
    ]
    assert elements[-1] == {
        "tag": "action",
        "actions": [
            {
                "tag": "button",
                "text": {"content": t["more"], "tag": "plain_text"},
                "type": "primary",
                "url": TASK_URL,
            }
        ],
    }
    assert mentions["content"]["text"].endswith(
        '<at user_id="ou_1"></at> <at user_id="all">所有人</at>'
    )


@pytest.mark.parametrize(("language", "status"), EVENTS)
def test_teams_card(language, status):
    """sendMSTeamsMessage: the title coloured good (passed, created), attention (failed) or
    warning, then the message's text without its title line, then the OpenURL action."""
    (body,) = bodies(status=status, language=language)["msteams"]
    card = body["attachments"][0]["content"]
    heading, text = card["body"]
    assert heading["text"] == title(language, status)
    assert heading["color"] == TEAMS_COLOUR.get(status, "Warning")
    expected = zadig_markdown(language, status, dingtalk=False)
    assert text["text"] == expected.split("\n", 1)[1]
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": TEXTS[language]["more"], "url": TASK_URL}
    ]


@pytest.mark.parametrize(("language", "status"), EVENTS)
def test_mail(language, status):
    """mailTplTitle, mailTplBaseInfo and mailJobTplcontent, trimmed, in the mail template
    (notification.html / notification_en.html; its `<pre>` block)."""
    t = TEXTS[language]
    (mail,) = bodies(status=status, language=language)["mail"]
    text = TASK_STATUS[language][status]
    if status == "pause":  # the manual stage's message (SendManualExecStageNotifications)
        text = "等待手动执行" if language == "zh-cn" else "Waiting for Manual Execution"
    assert mail["subject"] == f"{ICON.get(status, '⚠️')} {t['workflow']} Release#12 {text}"
    ok = t["passed"]
    content = (
        f"{t['executor']}：alice \n"
        f"{t['project']}：Shop \n"
        f"{t['start']}：{local(START)} \n"
        f"{t['duration']}：1m30s \n"
        f"{t['remark']}：hello \n"
        f"{t['build']}：build-shop    {t['status']}：{ok} \n"
        f"{t['repository']}：main [622cc1fd]( {COMMIT_URL} ) \n"
        f"{t['image']}：reg.example.com/acme/shop:1.2 \n"
        f"{t['deploy']}：deploy-shop    {t['status']}：{ok} \n"
        f"{t['env']}：dev \n"
        f"{t['image']}：  \n"
        "reg.example.com/acme/shop:1.2  \n"
        f"{t['test']}：smoke    {t['status']}：{ok} \n"
        f"{t['test_result']}: 46({t['success']}) 2({t['failed']}) 48({t['total']})"
    )
    assert f"<pre>\n{content}\n</pre>" in mail["html"]
    if language == "zh-cn":
        intro, more = "工作流 [Release#12] 执行信息如下:", "点击查看更多信息"
        footer = "本邮件由 Zadig 系统自动发出，请勿直接回复。"
    else:
        intro, more = "workflow [Release#12] Execution information:", "Click for more information"
        footer = (
            "This email is automatically sent by the Zadig system. Please do not reply directly."
        )
    html = mail["html"]
    assert intro in html and f'<a href="{WORKFLOW_URL}" target="_blank">{more}</a>' in html
    assert footer in html and "Made By Zadig Team ♥ Happy Coding." in html
    assert (">您好<" if language == "zh-cn" else ">Hello<") in html


# --- the approval message ---------------------------------------------------------------------


@pytest.mark.parametrize("language", ["zh-cn", "en-us"])
def test_workflow_waiting_for_approval(language):
    """getApproveNotificationContent: `⚠️工作流 name #12 等待审批`, DingTalk's title blue and
    bold, the Feishu header green, and of the jobs only each deploy job with its environment."""
    t = TEXTS[language]
    wf = "工作流" if language == "zh-cn" else "Workflow"  # notificationTextWorkflow
    waiting = "等待审批" if language == "zh-cn" else "waiting for approval"
    head = f"⚠️{wf} Release #12 {waiting}"
    base = (
        f"**{t['executor']}**：alice  \n**{t['project']}**：Shop  \n"
        f"**{t['start']}**：{local(START)}  \n**{t['duration']}**：1m30s  \n"
        f"**{t['remark']}**：hello  \n"
    )
    sent = bodies(status="wait_for_approval", language=language)
    dingtalk = sent["dingding"][0]["actionCard"]["text"]
    assert dingtalk == (
        f"### <font color=#3270e3>**{head}**</font> \n"
        + "".join(f"##### {line}\n" for line in base.splitlines())
        + f"\n\n---\n\n##### **{t['deploy']}**: deploy-shop  \n##### **{t['env']}**：dev  \n"
    )
    assert sent["wechat"][0]["markdown"]["content"] == (
        f"### {head} \n{base}\n\n**{t['deploy']}**: deploy-shop  \n**{t['env']}**：dev  \n"
        f"##### **相关人员**: <@u1> \n[{t['more']}]({TASK_URL})"
    )
    lark = sent["feishu"][0]["card"]
    assert lark["header"]["template"] == "green"
    assert lark["header"]["title"]["content"] == head
    assert feishu_contents(lark)[-1] == f"**{t['deploy']}**: deploy-shop  \n**{t['env']}**：dev  \n"
    (mail,) = sent["mail"]
    assert mail["subject"] == head
    assert (
        f"{t['remark']}：hello \n\n{t['deploy']}：deploy-shop  \n{t['env']}：dev\n</pre>"
        in (mail["html"])
    )


def test_a_jobs_own_ctls_say_waiting_for_confirmation():
    """SendTaskNotifications for a job waiting for approval: the normal message, its status
    taskStatusManualApproval (待确认), its header orange (getColorTemplateWithStatus)."""
    config = loads(CONFIG.format(address=ADDRESS, language="zh-cn", statuses="wait_for_approval"))
    task = parse_task(task_data())
    result = plan_event(
        config,
        config.workflows[0],
        task,
        status="wait_for_approval",
        ctls=config.workflows[0].notify_ctls,
    )
    card = next(p for p in result.planned if p.webhook_type == "feishu").requests[0].body["card"]
    assert card["header"]["title"]["content"] == "⚠️工作流 Release #12 待确认"
    assert card["header"]["template"] == "orange"


# --- pause: the wording of each channel -------------------------------------------------------


def paused_task() -> dict:
    data = task_data(status="pause", end_time=0)
    data["stages"][2]["status"] = "pause"
    data["stages"][2]["jobs"][0].update(status="", spec=None)
    return data


def test_pause_reads_pause_on_dingtalk_wecom_and_teams_and_waiting_on_feishu_and_mail():
    """getNotificationContentWithOptions: a paused task reads taskStatusWaitingManualExec
    (等待手动执行) on Feishu; SendManualExecStageNotifications sends mail (and feishu_person)
    the same with the stage (待执行阶段); the others read 暂停."""
    sent = bodies(paused_task(), status="pause", now=START + 60)
    assert sent["dingding"][0]["actionCard"]["title"] == "⚠️工作流 Release #12 暂停"
    assert sent["wechat"][0]["markdown"]["content"].startswith("### ⚠️工作流 Release #12 暂停 \n")
    waiting = "⚠️工作流 Release #12 等待手动执行"
    assert sent["feishu"][0]["card"]["header"]["title"]["content"] == waiting
    assert "待执行阶段" not in str(sent["feishu"][0])
    (mail,) = sent["mail"]
    assert mail["subject"] == "⚠️ 工作流 Release#12 等待手动执行"
    assert "项目名称：Shop \n待执行阶段：test \n开始时间：" in mail["html"]
    # The job not run yet: jobStatusUnstarted.
    assert "**测试**: smoke    **状态**: 未执行  \n" in sent["wechat"][0]["markdown"]["content"]


# --- job blocks (BuildWorkflowJobContents) -----------------------------------------------------


def repository(**over) -> dict:
    repo = {
        "source": "github",
        "repo_owner": "acme",
        "repo_name": "shop",
        "branch": "main",
        "commit_id": COMMIT,
        "commit_url": COMMIT_URL,
        "commit_message": "Fix checkout",
    }
    repo.update(over)
    return repo


def build_lines(*repositories: dict) -> str:
    data = task_data()
    data["stages"][0]["jobs"][0]["spec"]["repositories"] = list(repositories)
    content = wecom(data)
    return content.split("**构建**")[1].split("**镜像信息**")[0]


@pytest.mark.parametrize(
    ("source", "base", "link"),
    [
        ("github", "https://github.com/acme/shop", "https://github.com/acme/shop/pull/{}"),
        ("gitee", "https://gitee.com/acme/shop", "https://gitee.com/acme/shop/pulls/{}"),
        (
            "gitlab",
            "https://gl.example.com/acme/shop",
            "https://gl.example.com/acme/shop/merge_requests/{}",
        ),
        ("gerrit", "https://gerrit.example.com/acme/shop", "https://gerrit.example.com/{}"),
    ],
)
def test_pull_request_links_per_code_host_sorted(source, base, link):
    """BuildWorkflowJobContents' prLinkBuilder: github /pull, gitee /pulls, gitlab
    /merge_requests, gerrit the change on the host; the ids sorted."""
    url = f"{base}/commit/622cc1fd"
    lines = build_lines(repository(source=source, commit_url=url, prs=[9, 7]))
    prs = f"[#7]({link.format(7)}) [#9]({link.format(9)})"
    assert f"**代码信息**：main {prs} [622cc1fd]({url})  \n" in lines


def test_pull_requests_of_another_host_are_left_out():
    lines = build_lines(repository(source="codehub", prs=[3]))
    assert f"**代码信息**：main [622cc1fd]({COMMIT_URL})  \n" in lines


def test_only_the_primary_repository_and_only_a_commit_longer_than_8():
    """The first repository, or the one marked is_primary; nothing at all for a commit id of
    8 characters or fewer."""
    second = repository(branch="dev", tag="v2", is_primary=True, commit_message="two")
    lines = build_lines(repository(), second)
    assert f"**代码信息**：v2 [622cc1fd]({COMMIT_URL})  \n**提交信息**：two \n" in lines
    assert "代码信息" not in build_lines(repository(commit_id="abc1234"))


def test_image_only_when_the_build_passed_and_not_a_template():
    data = task_data(status="failed")
    data["stages"][0]["jobs"][0]["status"] = "failed"
    build = wecom(data, status="failed").split("**容器服务部署**")[0]
    assert "**构建**: build-shop    **状态**: 执行失败" in build and "镜像信息" not in build
    data = task_data()
    data["stages"][0]["jobs"][0]["spec"]["image"] = "{{.job.build.output.IMAGE}}"
    assert "镜像信息" not in wecom(data).split("**容器服务部署**")[0]


@pytest.mark.parametrize("job_type", ["zadig-deploy", "zadig-helm-deploy"])
def test_deploy_images_only_when_the_deploy_passed(job_type):
    """The environment always, the images only when the job passed (for helm too: Zadig
    lists a helm job's images whatever its status, tidings does not)."""
    data = task_data(status="failed")
    data["stages"][1]["jobs"][0].update(type=job_type, status="failed")
    deploy = wecom(data, status="failed").split("**状态**: 执行失败  \n", 1)[1]
    assert deploy.startswith("**环境**：dev  \n\n\n**测试**")
    data["stages"][1]["jobs"][0]["status"] = "passed"
    assert "**环境**：dev  \n**镜像信息**：  \nreg.example.com/acme/shop:1.2  \n" in wecom(data)


def test_job_type_names_and_statuses():
    """jobType names each type it knows and writes others as they are (zadig-helm-deploy);
    taskStatus: wait_for_manual_error_handling 待确认."""
    data = task_data()
    data["stages"][1]["jobs"][0]["type"] = "zadig-helm-deploy"
    data["stages"][2]["jobs"] = [
        {"name": "ask", "type": "approval", "status": "wait_for_manual_error_handling"},
        {"name": "k8s", "type": "custom-deploy", "status": "passed"},
        {"name": "plug", "type": "plugin", "status": "cancelled"},
    ]
    content = wecom(data)
    assert "**zadig-helm-deploy**: deploy-shop    **状态**: 执行成功  \n" in content
    assert "**人工审批**: ask    **状态**: 待确认  \n" in content
    assert "**Kubernetes 部署**: k8s    **状态**: 执行成功  \n" in content
    assert "**插件**: plug    **状态**: 执行取消  \n" in content
    content = wecom(data, language="en-us")
    assert "**Approval**: ask    **Status**: Waiting for confirmation  \n" in content
    assert "**Kubernetes Deploy**: k8s    **Status**: Passed  \n" in content


def test_test_line_without_a_report():
    """genTestResultText with no report: the label and nothing."""
    data = task_data()
    data["stages"][2]["jobs"][0]["spec"] = None
    assert wecom(data).endswith(
        "**测试结果**:   \n##### **相关人员**: <@u1> \n\n\n[点击查看更多信息](" + TASK_URL + ")"
    )


@pytest.mark.parametrize(
    ("language", "line", "mail_line"),
    [
        (
            "zh-cn",
            "**扫描结果**: **通过**(质量检查) **1200**(行数) **3**(Bugs) **0**(代码漏洞) "
            "**7**(容易出错) **81.5%**(覆盖率)  \n",
            "扫描结果: 通过(质量检查) 1200(行数) 3(Bugs) 0(代码漏洞) 7(容易出错) 81.5%(覆盖率) \n",
        ),
        (
            "en-us",
            "**Scanning Result**: **OK**(Quality Gate Status) **1200**(Ncloc) **3**(Bugs) "
            "**0**(Vulnerabilities) **7**(Code Smells) **81.5%**(Coverage)  \n",
            "Scanning Result: OK(Quality Gate Status) 1200(Ncloc) 3(Bugs) 0(Vulnerabilities) "
            "7(Code Smells) 81.5%(Coverage) \n",
        ),
    ],
)
def test_scan_result(language, line, mail_line):
    """genSonartMetricsText: the quality gate and SonarQube's figures, bold in IM."""
    data = task_data()
    metrics = {
        "quality_gate_status": "OK",
        "ncloc": "1200",
        "bugs": "3",
        "vulnerabilities": "0",
        "code_smells": "7",
        "coverage": "81.5",
    }
    data["stages"][2]["jobs"] = [
        {
            "name": "sonar",
            "type": "zadig-scanning",
            "status": "passed",
            "spec": {"sonar_metrics": metrics},
        }
    ]
    sent = bodies(data, language=language)
    assert line in sent["wechat"][0]["markdown"]["content"]
    assert mail_line.strip() in sent["mail"][0]["html"]


# --- task types and links ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_type", "zh", "en", "url"),
    [
        ("", "工作流", "workflow", TASK_URL),
        (
            "scan",
            "代码扫描",
            "scanning",
            f"{ADDRESS}/v1/projects/detail/shop/scanner/detail/Release/task/12?id=release",
        ),
        (
            "test",
            "测试",
            "testing",
            f"{ADDRESS}/v1/projects/detail/shop/test/detail/function/Release/12",
        ),
    ],
)
def test_task_types_and_their_pages(task_type, zh, en, url):
    """getTaskType, and sendNotification's link per task type."""
    data = task_data(task_type=task_type)
    assert wecom(data).startswith(f"### 👍{zh} Release #12 执行成功 \n")
    assert wecom(data, language="en-us").startswith(f"### 👍{en} Release #12 Passed \n")
    assert wecom(data).endswith(f"[点击查看更多信息]({url})")


def test_display_name_is_escaped_as_url_path_escape():
    """url.PathEscape: spaces and non-ASCII escaped, `$&+:=@` kept."""
    card = feishu_card(task_data(workflow_display_name="发布 a+b@c"))
    url = card["i18n_elements"]["zh_cn"][-1]["actions"][0]["url"]
    assert url == (
        f"{ADDRESS}/v1/projects/detail/shop/pipelines/custom/release/12"
        "?display_name=%E5%8F%91%E5%B8%83%20a+b@c"
    )


def test_webhook_detail_url_is_the_workflow_page_without_task_id():
    payload = bodies()["webhook"][0]["workflow"]
    assert payload["detail_url"] == WORKFLOW_URL


def test_snapshot_detail_url_is_kept_in_webhook_payload():
    own = "https://ci.example.com/release/12"
    assert bodies(task_data(detail_url=own))["webhook"][0]["workflow"]["detail_url"] == own


# --- names, times, mentions -------------------------------------------------------------------


def test_title_uses_the_configured_display_name_when_the_snapshot_has_none():
    assert wecom(task_data(workflow_display_name="")).startswith(
        "### 👍工作流 Release #12 执行成功"
    )


def test_title_uses_snapshot_display_name_over_configured_one():
    assert wecom(task_data(workflow_display_name="发布流程")).startswith(
        "### 👍工作流 发布流程 #12 执行成功"
    )


def test_project_name_shown_when_no_project_display_name():
    assert "**项目名称**：shop  \n" in wecom(task_data(project_display_name=""))


def test_running_task_duration_counts_to_now():
    data = task_data(status="running", end_time=0)
    assert "**持续时间**：2h0m5s  \n" in wecom(data, status="created", now=START + 7205)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (60, "1m0s"), (90, "1m30s"), (3600, "1h0m0s"), (7205, "2h0m5s")],
)
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


def test_go_duration_never_negative():
    assert go_duration(-5) == "0s"


def test_dingtalk_at_all_without_mobiles():
    """buildDingDingMarkdownText: `@所有人` when only is_at_all is set."""
    text = CONFIG.replace('at_mobiles: ["13800000001"]', "is_at_all: true")
    config = loads(text.format(address=ADDRESS, language="zh-cn", statuses="passed"))
    result = plan_event(config, config.workflows[0], parse_task(task_data()))
    body = result.planned[1].requests[0].body
    assert body["markdown"]["text"].endswith("\n##### **相关人员**: @所有人")
    assert body["at"]["isAtAll"] is True


def test_every_zh_workflow_message_holds_the_keyword():
    """Users set 工作流 as their DingTalk and Feishu robots' keyword (the seed document)."""
    for status in STATUSES:
        sent = bodies(status=status)
        for body in [*sent["dingding"], *sent["wechat"], *sent["feishu"]]:
            assert "工作流" in str(body), body
