"""What a workflow notification says: Zadig's texts, icons, colours, lines, links, per channel."""

import copy
import json
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
system: {{address: "{address}", language: {language}}}
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


def dingtalk_text(data=None, status=None, language="zh-cn", at=False) -> str:
    body = bodies(data, status, language)["dingding"][1 if at else 0]
    return body[body["msgtype"]]["text"]


def feishu_card(data=None, status=None, language="zh-cn") -> dict:
    return bodies(data, status, language)["feishu"][0]["card"]


def feishu_text(card: dict) -> str:
    return json.dumps(card["elements"], ensure_ascii=False)


def local(ts: int) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


# --- title ---------------------------------------------------------------------------------

ZH = {
    "passed": ("👍", "执行成功"),
    "created": ("👍", "开始执行"),
    "failed": ("❌", "执行失败"),
    "cancelled": ("⚠️", "执行取消"),
    "timeout": ("⚠️", "执行超时"),
    "reject": ("⚠️", "执行被拒绝"),
    "wait_for_approval": ("⚠️", "待确认"),
    "pause": ("⚠️", "暂停"),
    "unstable": ("⚠️", "执行失败"),
}
EN = {
    "passed": ("👍", "Passed"),
    "created": ("👍", "Created"),
    "failed": ("❌", "Failed"),
    "cancelled": ("⚠️", "Cancelled"),
    "timeout": ("⚠️", "Timeout"),
    "reject": ("⚠️", "Rejected"),
    "wait_for_approval": ("⚠️", "Waiting for confirmation"),
    "pause": ("⚠️", "Pause"),
    "unstable": ("⚠️", "Failed"),
}


@pytest.mark.parametrize("status", list(ZH))
def test_zh_title_in_every_channel(status):
    icon, text = ZH[status]
    title = f"{icon}工作流 Release #12 {text}"
    sent = bodies(status=status)
    assert sent["feishu"][0]["card"]["header"]["title"]["content"] == title
    assert sent["wechat"][0]["markdown"]["content"].startswith(f"### {title} \n")
    card = sent["dingding"][0]["actionCard"]
    assert card["title"] == title
    assert card["text"].startswith("### <font color=")
    assert f"<b>{title}</b></font> \n" in card["text"]


@pytest.mark.parametrize("status", list(EN))
def test_en_title_in_every_channel(status):
    icon, text = EN[status]
    title = f"{icon}Workflow Release #12 {text}"
    sent = bodies(status=status, language="en-us")
    assert sent["feishu"][0]["card"]["header"]["title"]["content"] == title
    assert sent["wechat"][0]["markdown"]["content"].startswith(f"### {title} \n")
    assert sent["dingding"][0]["actionCard"]["title"] == title


def test_title_uses_workflow_name_when_no_display_name():
    data = task_data(workflow_display_name="")
    data["workflow_name"] = "release"
    assert wecom(data).startswith("### 👍工作流 Release #12 执行成功")  # configured display_name


def test_title_uses_snapshot_display_name_over_configured_one():
    assert wecom(task_data(workflow_display_name="发布流程")).startswith(
        "### 👍工作流 发布流程 #12 执行成功"
    )


# --- colours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "colour", "template"),
    [
        ("passed", "#00a13e", "green"),
        ("created", "#00a13e", "green"),
        ("wait_for_approval", "#ff8800", "orange"),
        ("pause", "#ff8800", "orange"),
        ("failed", "#eb0823", "red"),
        ("timeout", "#eb0823", "red"),
        ("cancelled", "#eb0823", "red"),
        ("reject", "#eb0823", "red"),
    ],
)
def test_dingtalk_colour_and_feishu_template(status, colour, template):
    sent = bodies(status=status)
    assert sent["dingding"][0]["actionCard"]["text"].startswith(f'### <font color="{colour}">')
    assert sent["feishu"][0]["card"]["header"]["template"] == template


# --- info lines ----------------------------------------------------------------------------


def test_zh_info_lines():
    content = wecom()
    for line in (
        "**执行用户**：alice",
        "**项目名称**：Shop",
        f"**开始时间**：{local(START)}",
        "**持续时间**：1m30s",
        "**备注**：hello",
    ):
        assert line in content


def test_en_info_lines():
    content = wecom(language="en-us")
    for line in (
        "**Executor**：alice",
        "**Project**：Shop",
        f"**Start Time**：{local(START)}",
        "**Duration**：1m30s",
        "**Remark**：hello",
    ):
        assert line in content


def test_dingtalk_prefixes_info_lines_with_h5():
    text = dingtalk_text()
    assert "\n##### **执行用户**：alice" in text
    assert "\n##### **备注**：hello" in text


def test_feishu_info_lines_are_long_lark_md_fields():
    fields = feishu_card()["elements"][0]["fields"]
    first = {"tag": "lark_md", "content": "**执行用户**：alice"}
    assert {"is_short": False, "text": first} in fields
    assert fields[-1]["text"]["content"] == "**备注**：hello"


def test_project_name_shown_when_no_project_display_name():
    assert "**项目名称**：shop" in wecom(task_data(project_display_name=""))


def test_running_task_duration_counts_to_now():
    data = task_data(status="running", end_time=0)
    assert "**持续时间**：2h0m5s" in wecom(data, status="created", now=START + 7205)


# --- job blocks ----------------------------------------------------------------------------


def test_build_job_block():
    content = wecom()
    assert "**构建**: build-shop    **状态**: 执行成功" in content
    assert f"**代码信息**：main [622cc1fd]({COMMIT_URL})" in content
    assert "**提交信息**：Fix checkout" in content
    assert "**镜像信息**：reg.example.com/acme/shop:1.2" in content
    assert COMMIT not in content  # only the short commit is shown


def test_build_image_only_when_build_passed():
    data = task_data(status="failed")
    data["stages"][0]["jobs"][0]["status"] = "failed"
    content = wecom(data)
    assert "**构建**: build-shop    **状态**: 执行失败" in content
    assert "**代码信息**：main" in content
    assert "reg.example.com/acme/shop:1.2" in content  # the deploy job still lists it
    build_block = content.split("**部署**")[0]
    assert "镜像信息" not in build_block


def test_build_pull_request_link():
    data = task_data()
    data["stages"][0]["jobs"][0]["spec"]["repositories"][0]["prs"] = [7]
    assert "[#7](https://github.com/acme/shop/pull/7)" in wecom(data)


def test_deploy_job_block():
    content = wecom()
    deploy = content.split("**部署**")[1].split("**测试**")[0]
    assert ": deploy-shop    **状态**: 执行成功" in deploy
    assert "**环境**：dev" in deploy
    assert "**镜像信息**：reg.example.com/acme/shop:1.2" in deploy


def test_test_job_result_zh():
    content = wecom()
    assert "**测试**: smoke    **状态**: 执行成功" in content
    assert "测试结果" in content
    assert "46(成功) 2(失败) 48(总数)" in content


def test_test_job_result_en():
    content = wecom(language="en-us")
    assert "**Test**: smoke    **Status**: Passed" in content
    assert "Test Result" in content
    assert "46(Success) 2(Failure) 48(Total)" in content


def test_test_job_without_result_shows_no_result_line():
    data = task_data()
    data["stages"][2]["jobs"][0]["spec"] = None
    assert "测试结果" not in wecom(data)


def test_job_blocks_in_feishu_card():
    elements = feishu_card()["elements"]
    build = elements[1]["text"]["content"]
    assert build.startswith("**构建**: build-shop    **状态**: 执行成功\n")
    assert f"**代码信息**：main [622cc1fd]({COMMIT_URL})" in build
    assert "46(成功) 2(失败) 48(总数)" in elements[3]["text"]["content"]


def test_dingtalk_separates_job_blocks_with_rules():
    text = dingtalk_text()
    assert "\n---\n\n##### **构建**: build-shop    **状态**: 执行成功" in text
    assert "\n##### **环境**：dev" in text


# --- go_duration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (60, "1m0s"), (90, "1m30s"), (3600, "1h0m0s"), (7205, "2h0m5s")],
)
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


def test_go_duration_never_negative():
    assert go_duration(-5) == "0s"


# --- links ---------------------------------------------------------------------------------

TASK_URL = f"{ADDRESS}/v1/projects/detail/shop/pipelines/custom/release/12?display_name=Release"


def test_im_links_point_to_the_task():
    sent = bodies()
    assert sent["wechat"][0]["markdown"]["content"].endswith(f"\n\n[点击查看更多信息]({TASK_URL})")
    button = sent["feishu"][0]["card"]["elements"][-1]["actions"][0]
    assert button["url"] == TASK_URL
    assert button["text"]["content"] == "点击查看更多信息"
    assert button["type"] == "primary"


def test_dingtalk_action_card_opens_link_in_side_panel():
    card = bodies()["dingding"][0]["actionCard"]
    assert card["hideAvatar"] == "0"
    assert card["btnOrientation"] == "0"
    assert card["btns"] == [
        {
            "title": "点击查看更多信息",
            "actionURL": "dingtalk://dingtalkclient/page/link?url="
            + quote(TASK_URL, safe="")
            + "&pc_slide=false",
        }
    ]


def test_dingtalk_with_mentions_is_markdown_with_link_and_mention_line():
    body = bodies()["dingding"][1]
    assert body["msgtype"] == "markdown"
    assert body["at"]["atMobiles"] == ["13800000001"]
    assert body["at"]["isAtAll"] is False
    text = body["markdown"]["text"]
    assert f"\n\n[点击查看更多信息]({TASK_URL})" in text
    assert text.endswith("##### **相关人员**: @13800000001")


def test_en_link_text():
    assert wecom(language="en-us").endswith(f"[Click for more information]({TASK_URL})")


def test_display_name_is_escaped_in_the_task_url():
    card = feishu_card(task_data(workflow_display_name="发布 流程"))
    url = card["elements"][-1]["actions"][0]["url"]
    assert url == (
        f"{ADDRESS}/v1/projects/detail/shop/pipelines/custom/release/12"
        "?display_name=%E5%8F%91%E5%B8%83%20%E6%B5%81%E7%A8%8B"
    )


def test_webhook_detail_url_is_the_workflow_page_without_task_id():
    payload = bodies()["webhook"][0]["workflow"]
    assert payload["detail_url"] == (
        f"{ADDRESS}/v1/projects/detail/shop/pipelines/custom/release?display_name=Release"
    )


def test_snapshot_detail_url_is_kept_in_webhook_payload():
    own = "https://ci.example.com/release/12"
    assert bodies(task_data(detail_url=own))["webhook"][0]["workflow"]["detail_url"] == own


# --- mentions ------------------------------------------------------------------------------


def test_wecom_mentions_inline_and_at_all_as_text_message():
    first, second = bodies()["wechat"]
    assert "\n<@u1>" in first["markdown"]["content"]
    assert second["msgtype"] == "text"
    assert second["text"]["mentioned_list"] == ["@all"]
    assert second["text"]["content"] == "👍工作流 Release #12 执行成功"


def test_feishu_mentions_in_a_second_text_message():
    card, mentions = bodies()["feishu"]
    assert card["msg_type"] == "interactive"
    assert mentions["msg_type"] == "text"
    text = mentions["content"]["text"]
    assert '<at user_id="ou_1"></at>' in text
    assert '<at user_id="all">所有人</at>' in text


# --- the 工作流 keyword --------------------------------------------------------------------


@pytest.mark.parametrize("status", STATUSES)
def test_every_zh_im_request_contains_the_keyword(status):
    sent = bodies(status=status)
    requests = [*sent["dingding"], *sent["wechat"], *sent["feishu"]]
    assert len(requests) == 6  # actionCard, markdown+@, markdown, @all text, card, mentions
    for body in requests:
        assert "工作流" in json.dumps(body, ensure_ascii=False), body


@pytest.mark.parametrize("task_type", ["", "workflow", "scan", "test"])
def test_keyword_present_whatever_the_task_type(task_type):
    sent = bodies(task_data(task_type=task_type))
    for body in [*sent["dingding"], *sent["wechat"], *sent["feishu"]]:
        assert "工作流" in json.dumps(body, ensure_ascii=False), body


def test_en_requests_contain_workflow():
    sent = bodies(language="en-us")
    for body in [*sent["dingding"], *sent["wechat"], *sent["feishu"]]:
        assert "Workflow" in json.dumps(body, ensure_ascii=False), body
