"""Long content is shortened with a visible marker so every platform accepts the message."""

import copy
import functools
import re

import pytest

import helpers
from tidings.channels.base import encode_json
from tidings.config.loading import loads
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task

DINGTALK_MAX = 20000
WECOM_MAX = 4096
WECOM_TEXT_MAX = 2048
FEISHU_MAX = 20 * 1024 - 120
TRUNCATED = {"zh-cn": "…(内容过长，已截断)", "en-us": "…(too long, truncated)"}

CONFIG = """
system: {{address: "https://zadig.example.com", language: {language}}}
workflows:
  - name: release
    project: shop
    notify_ctls:
      - webhook_type: dingding
        notify_type: [passed, failed]
        dingding_notification_config:
          hook_address: https://oapi.dingtalk.com/robot/send?access_token=t
      - webhook_type: dingding
        notify_type: [passed, failed]
        dingding_notification_config:
          hook_address: https://oapi.dingtalk.com/robot/send?access_token=t
          at_mobiles: ["13800000001"]
      - webhook_type: wechat
        notify_type: [passed, failed]
        wechat_notification_config:
          hook_address: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k
          at_users: [u1]
          is_at_all: true
      - webhook_type: feishu
        notify_type: [passed, failed]
        lark_hook_notification_config:
          hook_address: https://open.feishu.cn/open-apis/bot/v2/hook/t
          at_users: [ou_1]
"""
CONFIGS = {lang: loads(CONFIG.format(language=lang)) for lang in TRUNCATED}


def build_job(index: int, commit_message: str = "Fix checkout") -> dict:
    return helpers.build_job(
        f"job-{index:03d}", commit_message, image=f"reg.example.com/acme/shop-{index}:1.2"
    )


def task(jobs: list[dict], remark: str = "nightly") -> dict:
    return {
        "task_id": 12,
        "workflow_name": "release",
        "workflow_display_name": "Release",
        "project_name": "shop",
        "status": "passed",
        "remark": remark,
        "task_creator": "alice",
        "stages": [{"name": "build", "status": "passed", "jobs": copy.deepcopy(jobs)}],
    }


def rendered(data: dict, language: str = "zh-cn") -> dict[str, list[dict]]:
    config = CONFIGS[language]
    plan = plan_event(config, config.workflows[0], parse_task(data), now=0)
    out: dict[str, list[dict]] = {}
    for item in plan.planned:
        out.setdefault(item.webhook_type, []).extend(r.body for r in item.requests)
    return out


def shown_texts(sent: dict[str, list[dict]]) -> dict[str, str]:
    """The text a reader sees in each main message."""
    ding_plain, ding_at = sent["dingding"]
    return {
        "dingding": ding_plain["actionCard"]["text"],
        "dingding-at": ding_at["markdown"]["text"],
        "wechat": sent["wechat"][0]["markdown"]["content"],
        "feishu": encode_json(sent["feishu"][0]).decode("utf-8"),
    }


def assert_within_limits(sent: dict[str, list[dict]]) -> None:
    sizes = []  # (request, size, limit)
    for body in sent["dingding"]:
        sizes.append(("dingding", len(encode_json(body)), DINGTALK_MAX))
    for body in sent["wechat"]:
        if body["msgtype"] == "markdown":
            content = body["markdown"]["content"]
            sizes.append(("wechat markdown", len(content.encode("utf-8")), WECOM_MAX))
        else:
            content = body["text"]["content"]
            sizes.append(("wechat text", len(content.encode("utf-8")), WECOM_TEXT_MAX))
    for body in sent["feishu"]:
        sizes.append((f"feishu {body['msg_type']}", len(encode_json(body)), FEISHU_MAX))
    too_big = [item for item in sizes if item[1] > item[2]]
    assert too_big == []


HUGE_MESSAGES = {
    "ascii": "x" * 30_000,
    "cjk": "修复" * 5_000,  # 30 KB of UTF-8
    "lines": "line of a long commit message\n" * 1_000,
    "markup": "<@all> [x](http://e) **" * 1_310,  # grows when escaped
}


@pytest.mark.parametrize("kind", list(HUGE_MESSAGES))
def test_30kb_commit_message_fits_every_platform(kind):
    assert len(HUGE_MESSAGES[kind].encode("utf-8")) >= 30_000
    assert_within_limits(rendered(task([build_job(1, HUGE_MESSAGES[kind])])))


@pytest.mark.parametrize("language", list(TRUNCATED))
def test_30kb_commit_message_is_cut_with_a_visible_marker(language):
    sent = rendered(task([build_job(1, "x" * 30_000)]), language)
    for name, text in shown_texts(sent).items():
        assert TRUNCATED[language] in text, name
        assert "x" * 40 in text, name  # the start of the message is kept


def test_truncated_messages_keep_title_keyword_and_other_lines():
    sent = rendered(task([build_job(1, "修复" * 5_000)]))
    for name, text in shown_texts(sent).items():
        assert "工作流 Release #12 执行成功" in text, name
        assert "alice" in text, name
        assert "job-001" in text, name
        assert "reg.example.com/acme/shop-1:1.2" in text, name


def test_truncated_dingtalk_keeps_link_and_mentions():
    sent = rendered(task([build_job(1, "x" * 30_000)]))
    assert sent["dingding"][0]["actionCard"]["btns"][0]["title"] == "点击查看更多信息"
    text = sent["dingding"][1]["markdown"]["text"]
    assert "[点击查看更多信息](https://zadig.example.com/" in text
    assert text.endswith("##### **相关人员**: @13800000001")
    content = sent["wechat"][0]["markdown"]["content"]
    assert "<@u1>" in content
    assert "[点击查看更多信息](https://zadig.example.com/" in content


def test_30kb_remark_fits_and_is_marked():
    sent = rendered(task([build_job(1)], remark="r" * 30_000))
    assert_within_limits(sent)
    for name, text in shown_texts(sent).items():
        assert TRUNCATED["zh-cn"] in text, name


def test_very_long_display_name_fits_every_platform():
    data = task([build_job(1)])
    data["workflow_display_name"] = "发布" * 500  # 3 KB; 9 KB if put in the link percent-encoded
    sent = rendered(data)
    assert_within_limits(sent)
    for name, text in shown_texts(sent).items():
        # Shown whole where it fits (DingTalk's 20000 bytes), else visibly cut.
        assert TRUNCATED["zh-cn"] in text or "发布" * 500 in text, name
        assert "工作流 发布发布" in text, name


HIDDEN = re.compile(r"…\(另有 (\d+) 个任务未显示\)")


@functools.cache
def hundred_jobs(language: str = "zh-cn") -> dict[str, list[dict]]:
    return rendered(task([build_job(i) for i in range(100)]), language)


def test_100_jobs_fit_every_platform():
    assert_within_limits(hundred_jobs())


def test_100_jobs_hidden_jobs_are_counted():
    sent = hundred_jobs()
    for name, text in shown_texts(sent).items():
        found = HIDDEN.findall(text)
        assert len(found) == 1, name
        shown = len(re.findall(r"job-\d{3}", text))
        assert shown + int(found[0]) == 100, name
        assert "job-000" in text, name  # the first jobs are the ones kept


def test_100_jobs_hidden_marker_in_english():
    sent = hundred_jobs("en-us")
    content = sent["wechat"][0]["markdown"]["content"]
    found = re.findall(r"…\((\d+) more jobs not shown\)", content)
    assert len(found) == 1
    assert len(re.findall(r"job-\d{3}", content)) + int(found[0]) == 100


def test_100_jobs_with_long_commit_messages_fit():
    sent = rendered(task([build_job(i, "y" * 2_000) for i in range(100)]))
    assert_within_limits(sent)
    for name, text in shown_texts(sent).items():
        assert HIDDEN.search(text) or TRUNCATED["zh-cn"] in text, name
        assert "工作流" in text, name


def test_short_message_is_not_altered():
    message = "Fix checkout\n\nSecond paragraph with detail"
    sent = rendered(task([build_job(1, message), build_job(2)]))
    for name, text in shown_texts(sent).items():
        assert TRUNCATED["zh-cn"] not in text, name
        assert not HIDDEN.search(text), name
        assert "Second paragraph with detail" in text, name
        assert "job-001" in text, name
        assert "job-002" in text, name
    content = sent["wechat"][0]["markdown"]["content"]
    # Zadig's layout of a commit message of several lines (BuildWorkflowJobContents).
    assert "**提交信息**：\nFix checkout \n \nSecond paragraph with detail \n" in content


def test_message_just_under_the_wecom_limit_is_not_cut():
    sent = rendered(task([build_job(1, "z" * 2_500)]))
    content = sent["wechat"][0]["markdown"]["content"]
    assert len(content.encode("utf-8")) <= WECOM_MAX
    assert "z" * 2_500 in content
    assert TRUNCATED["zh-cn"] not in content


def test_ad_hoc_note_content_is_cut_to_fit_every_channel():
    from tidings.channels import dingding, feishu, wechat
    from tidings.channels.base import RenderContext
    from tidings.channels.dingding import DingdingConfig
    from tidings.channels.feishu import LarkHookConfig
    from tidings.channels.wechat import WechatConfig
    from tidings.notify.content import Note

    note = Note("工作流 发布", "长" * 30000)
    ctx = RenderContext("notify")
    (ding,) = dingding.render_note(note, DingdingConfig(hook_address="http://x"), ctx)
    (wecom,) = wechat.render_note(note, WechatConfig(hook_address="http://x"), ctx)
    (lark,) = feishu.render_note(note, LarkHookConfig(hook_address="http://x"), ctx)
    assert len(encode_json(ding.body)) <= DINGTALK_MAX
    assert len(wecom.body["markdown"]["content"].encode("utf-8")) <= WECOM_MAX
    assert len(encode_json(lark.body)) <= FEISHU_MAX
    for body in (ding.body, wecom.body, lark.body):
        assert TRUNCATED["zh-cn"] in encode_json(body).decode("utf-8")


def test_a_task_of_thousands_of_jobs_fits_in_few_renders():
    """Shortening renders the message a logarithmic number of times, never once per job: a
    2,000-job task fits a DingTalk body as a 10-job one does (no quadratic slowdown)."""
    from helpers import seed_task
    from tidings.channels import dingding
    from tidings.channels.base import encode_json, fit
    from tidings.dispatch.task import parse_task
    from tidings.notify.content import build_message

    task = seed_task()
    job = task["stages"][0]["jobs"][0]
    task["stages"][0]["jobs"] = [{**job, "name": f"build-{i:04d}"} for i in range(2000)]
    message = build_message(parse_task(task), "passed")
    config = dingding.DingdingConfig(hook_address="https://oapi.dingtalk.com/robot/send?a=b")
    renders = 0

    def build(m):
        nonlocal renders
        renders += 1
        return dingding._workflow_body(m, config)

    body = fit(message, build, lambda b: len(encode_json(b)), dingding.MAX_BODY)
    assert len(encode_json(body)) <= dingding.MAX_BODY
    assert "个任务未显示" in str(body)
    assert renders <= 40, renders


@pytest.mark.parametrize("people", [3, 400])
def test_a_wecom_robot_mentioning_hundreds_keeps_the_message_and_mentions_everyone(people):
    """A few mentions stay in the message, as Zadig puts them; 400 (about 7 KB of `<@id>`)
    follow it in messages of their own, each within 4096 bytes, everyone exactly once, and
    the message itself keeps its text (not squeezed to make room for them)."""
    from tidings.channels import wechat
    from tidings.channels.base import RenderContext
    from tidings.dispatch.task import parse_task
    from tidings.notify.content import build_message

    users = [f"dev{i:04d}.team" for i in range(people)]
    config = wechat.WechatConfig(hook_address="http://x", at_users=users)
    message = build_message(parse_task(task([build_job(1, "修复结算页面")])), "passed")
    first, *rest = wechat.render(message, config, RenderContext("release"))
    contents = [r.body["markdown"]["content"] for r in (first, *rest)]
    assert all(len(c.encode("utf-8")) <= WECOM_MAX for c in contents)
    assert "修复结算页面" in contents[0] and "工作流 Release #12 执行成功" in contents[0]
    mentioned = [m for c in contents for m in re.findall(r"<@([^>]+)>", c)]
    assert sorted(mentioned) == users
    if people == 3:
        assert rest == [] and "##### **相关人员**: <@dev0000.team>" in contents[0]
    else:
        assert len(rest) == 2 and all(r.label == "mentions" for r in rest)
        assert "<@" not in contents[0]


def test_a_wecom_note_to_hundreds_sends_their_mentions_in_messages_that_fit():
    from tidings.channels import wechat
    from tidings.channels.base import RenderContext
    from tidings.notify.content import Note

    users = [f"dev{i:04d}.team" for i in range(400)]
    config = wechat.WechatConfig(hook_address="http://x", at_users=users)
    note, *mentions = wechat.render_note(Note("工作流 发布", "请确认"), config, RenderContext("n"))
    assert "请确认" in note.body["markdown"]["content"]
    contents = [r.body["markdown"]["content"] for r in mentions]
    assert len(contents) == 2 and all(len(c.encode("utf-8")) <= WECOM_MAX for c in contents)
    assert sorted(m for c in contents for m in re.findall(r"<@([^>]+)>", c)) == users


def test_a_feishu_bot_mentioning_600_people_sends_them_in_messages_within_20_kb():
    from tidings.channels import feishu
    from tidings.channels.base import RenderContext
    from tidings.dispatch.task import parse_task
    from tidings.notify.content import build_message

    users = [f"ou_{i:032x}" for i in range(600)]
    config = feishu.LarkHookConfig(hook_address="http://x", at_users=users, is_at_all=True)
    message = build_message(parse_task(task([build_job(1)])), "passed")
    card, *mentions = feishu.render(message, config, RenderContext("release"))
    assert card.label == "card" and len(mentions) == 2
    assert all(len(encode_json(r.body)) <= FEISHU_MAX for r in (card, *mentions))
    texts = [r.body["content"]["text"] for r in mentions]
    assert all(t.startswith("👍工作流 Release #12 执行成功 ") for t in texts)  # the keyword first
    tagged = [m for t in texts for m in re.findall(r'<at user_id="([^"]+)">', t)]
    assert tagged == [*users, "all"]


@pytest.mark.parametrize("people", [3, 1500])
def test_a_dingtalk_robot_mentioning_hundreds_keeps_the_message_and_mentions_everyone(people):
    """A few mobiles stay in the message, as Zadig writes them; 1,500 follow it in markdown
    messages within 20000 bytes, each person in the text and in `at` (DingTalk notifies a
    mobile only when both have it), the message keeping its text."""
    from tidings.channels import dingding
    from tidings.channels.base import RenderContext
    from tidings.dispatch.task import parse_task
    from tidings.notify.content import build_message

    mobiles = [f"138{i:08d}" for i in range(people)]
    config = dingding.DingdingConfig(hook_address="http://x", at_mobiles=mobiles)
    message = build_message(parse_task(task([build_job(1, "修复结算页面")])), "passed")
    first, *rest = dingding.render(message, config, RenderContext("release"))
    assert all(len(encode_json(r.body)) <= DINGTALK_MAX for r in (first, *rest))
    if people == 3:
        assert rest == [] and first.body["at"]["atMobiles"] == mobiles
        return
    assert "修复结算页面" in first.body[first.body["msgtype"]]["text"]
    assert first.body["at"]["atMobiles"] == []
    assert len(rest) >= 2 and all(r.label == "mentions" for r in rest)
    notified = []
    for r in rest:
        text = r.body["markdown"]["text"]
        assert text.startswith("👍工作流 Release #12 执行成功\n")  # the keyword first
        notified += [m for m in r.body["at"]["atMobiles"] if f"@{m}" in text]
    assert notified == mobiles
