"""Text that users or commits control never mentions, links or injects markup in any IM body."""

import copy
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import COMMIT_URL, build_job
from tidings.channels import escape
from tidings.config.loading import loads
from tidings.dispatch.plan import plan_event
from tidings.dispatch.task import parse_task

ZWSP = "\u200b"
ADDRESS = "https://zadig.example.com"

CONFIG = loads(
    f"""
system: {{address: "{ADDRESS}", language: zh-cn}}
workflows:
  - name: release
    project: shop
    notify_ctls:
      - webhook_type: dingding
        notify_type: [failed]
        dingding_notification_config:
          hook_address: https://oapi.dingtalk.com/robot/send?access_token=t
      - webhook_type: dingding
        notify_type: [failed]
        dingding_notification_config:
          hook_address: https://oapi.dingtalk.com/robot/send?access_token=t
          at_mobiles: ["13800000001"]
      - webhook_type: wechat
        notify_type: [failed]
        wechat_notification_config:
          hook_address: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k
          at_users: [u1]
          is_at_all: true
      - webhook_type: feishu
        notify_type: [failed]
        lark_hook_notification_config:
          hook_address: https://open.feishu.cn/open-apis/bot/v2/hook/t
          at_users: [ou_1]
          is_at_all: true
"""
)

BASE = {
    "task_id": 12,
    "workflow_name": "release",
    "workflow_display_name": "Release",
    "project_name": "shop",
    "status": "failed",
    "remark": "",
    "task_creator": "alice",
    "stages": [
        {
            "name": "build",
            "status": "failed",
            "jobs": [build_job(commit_message="")],
        }
    ],
}

ATTACKS = [
    '<at user_id="all"></at>',
    "<at id=all></at>",
    "<@all>",
    "@13800000000",
    "[x](http://evil)",
    "<font color=red>red</font>",
    "### heading",
    "**bold",
]
EVIL = "\n".join(ATTACKS)


def task(
    commit_message="",
    remark="",
    display_name="Release",
    job_name="build-shop",
    branch="main",
) -> dict:
    data = copy.deepcopy(BASE)
    data["remark"] = remark
    data["workflow_display_name"] = display_name
    job = data["stages"][0]["jobs"][0]
    job["name"] = job_name
    repo = job["spec"]["repositories"][0]
    repo["commit_message"] = commit_message
    repo["branch"] = branch
    return data


def rendered(data: dict) -> dict[str, list[dict]]:
    plan = plan_event(CONFIG, CONFIG.workflows[0], parse_task(data), now=0)
    out: dict[str, list[dict]] = {}
    for item in plan.planned:
        out.setdefault(item.webhook_type, []).extend(r.body for r in item.requests)
    return out


def links(text: str) -> list[str]:
    """Targets of markdown links `[..](target)`."""
    return re.findall(r"\]\(([^)\s]*)\)", text)


def tags(text: str) -> list[str]:
    """HTML-like tags and WeCom mentions: `<font ...>`, `</b>`, `<@id>`, `<at ...>`."""
    return re.findall(r"<[A-Za-z/@!][^>]*>", text)


def task_url(display_name: str) -> str:
    from tidings.notify.content import path_escape  # Go's url.PathEscape, as Zadig

    return (
        f"{ADDRESS}/v1/projects/detail/shop/pipelines/custom/release/12"
        f"?display_name={path_escape(display_name)}"
    )


def assert_inert(data: dict) -> None:
    """Only tidings' own markup, mentions and links appear in the IM bodies."""
    sent = rendered(data)
    allowed_links = {COMMIT_URL, task_url(data["workflow_display_name"])}

    plain, with_at = sent["dingding"]
    for body in (plain, with_at):
        text = body[body["msgtype"]]["text"]
        assert tags(text) == ['<font color="#eb0823">', "<b>", "</b>", "</font>"]
        assert set(links(text)) <= allowed_links
        # A link's target is no mention (Go's url.PathEscape keeps "@" in the task's URL).
        shown = re.sub(r"\]\([^)\s]*\)", "]()", text)
        assert re.findall(r"@\d+", shown) == ([] if body is plain else ["@13800000001"])
        for line in text.split("\n"):
            if re.match(r"[ \t]*#", line):
                assert line.startswith(("### <font", "##### ")), line
    assert with_at["at"] == {"atMobiles": ["13800000001"], "atUserIds": [], "isAtAll": False}

    markdown, at_all = sent["wechat"]
    content = markdown["markdown"]["content"]
    assert tags(content) == ["<@u1>"]
    assert re.findall(r"<@[^>]+>", content) == ["<@u1>"]
    assert set(links(content)) <= allowed_links
    assert re.findall(r"@\d+", re.sub(r"\]\([^)\s]*\)", "]()", content)) == []
    assert tags(at_all["text"]["content"]) == []
    assert at_all["text"]["mentioned_list"] == ["@all"]

    card, mentions = sent["feishu"]
    # The header title is plain_text (no markup); the elements are lark_md.
    card_json = json.dumps(card["card"]["i18n_elements"]["zh_cn"], ensure_ascii=False)
    assert not re.search(r"<at\s+(user_id|id|open_id|email)\s*=", card_json)
    assert tags(card_json) == []
    assert set(links(card_json)) <= allowed_links
    assert tags(mentions["content"]["text"]) == [
        '<at user_id="ou_1">',
        "</at>",
        '<at user_id="all">',
        "</at>",
    ]


# --- each field, each attack ---------------------------------------------------------------

FIELDS = ["commit_message", "remark", "display_name", "job_name", "branch"]


@pytest.mark.parametrize("field", FIELDS)
def test_attacks_in_a_field_stay_inert(field):
    assert_inert(task(**{field: EVIL}))


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("attack", ATTACKS)
def test_single_attack_stays_inert(field, attack):
    assert_inert(task(**{field: attack}))


@pytest.mark.parametrize("field", FIELDS)
def test_bold_markers_are_broken(field):
    sent = rendered(task(**{field: "**bold"}))
    shown = [body[body["msgtype"]]["text"] for body in sent["dingding"]]
    shown.append(sent["wechat"][0]["markdown"]["content"])
    shown.append(json.dumps(sent["feishu"][0]["card"]["i18n_elements"], ensure_ascii=False))
    for text in shown:
        assert "**bold" not in text


def test_heading_in_commit_message_is_not_a_heading():
    sent = rendered(task(commit_message="fix\n### heading\n> quote\n- item"))
    content = sent["wechat"][0]["markdown"]["content"]
    lines = content.split("\n")
    assert f"{ZWSP}### heading " in lines
    assert not any(re.match(r"[ \t]*(###|>|- )", line) for line in lines if "heading" in line)
    card = sent["feishu"][0]["card"]["i18n_elements"]["zh_cn"][1]["fields"][0]["text"]["content"]
    assert f"\n{ZWSP}### heading" in card


def test_escaped_text_still_reads_the_same():
    sent = rendered(task(remark="see [x](http://evil) <b>now</b>"))
    content = sent["wechat"][0]["markdown"]["content"]
    assert content.count("see [x]") == 1
    assert "http://evil" in content.replace(ZWSP, "")
    assert "<b>now</b>" in content.replace(ZWSP, "")


def test_commit_url_that_is_not_http_is_not_linked():
    data = task()
    data["stages"][0]["jobs"][0]["spec"]["repositories"][0]["commit_url"] = (
        "javascript:alert(1)//commit/x"
    )
    sent = rendered(data)
    for body in (sent["dingding"][1], sent["wechat"][0], sent["feishu"][0]):
        assert "javascript:" not in "".join(links(json.dumps(body, ensure_ascii=False)))


def test_commit_url_with_parenthesis_cannot_close_the_link_early():
    data = task()
    data["stages"][0]["jobs"][0]["spec"]["repositories"][0]["commit_url"] = (
        "https://github.com/acme/shop/commit/622cc1fd) [x](http://evil"
    )
    content = rendered(data)["wechat"][0]["markdown"]["content"]
    assert "(http://evil" not in content
    assert "%29%20%5Bx%5D%28http://evil" in content or "%29%20[x]%28http://evil" in content


# --- property ------------------------------------------------------------------------------

FRAGMENTS = [
    *ATTACKS,
    "<at id=ou_x>",
    "<at email=a@b.c>",
    "<at open_id=ou_y>",
    "&lt;at id=all&gt;",
    "<@u2>",
    "](http://e)",
    "[",
    "]",
    "(",
    ")",
    "<",
    ">",
    "@",
    "#",
    "*",
    "_",
    "`",
    "~",
    "&",
    "\n",
    "\r\n",
    " ",
    "http://evil",
]
fragment = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8))
texts = st.lists(fragment, max_size=12).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commit_message=texts, remark=texts)
def test_arbitrary_commit_message_and_remark_stay_inert(commit_message, remark):
    assert_inert(task(commit_message=commit_message, remark=remark))


# --- escape.safe_url -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://zadig.example.com/v1/x?a=1&b=2#top", "http://h.example.com:8080/p", "https://h/x"],
)
def test_safe_url_keeps_ordinary_http_urls(url):
    assert escape.safe_url(url) == url


def test_safe_url_encodes_parentheses_and_spaces():
    assert escape.safe_url("https://h.example.com/a b(c)") == "https://h.example.com/a%20b%28c%29"


def test_safe_url_does_not_double_encode():
    assert escape.safe_url("https://h.example.com/a%20b") == "https://h.example.com/a%20b"


def test_safe_url_encodes_non_ascii():
    encoded = "https://h.example.com/%E5%8F%91%E5%B8%83"
    assert escape.safe_url("https://h.example.com/发布") == encoded


def test_safe_url_strips_surrounding_space():
    assert escape.safe_url("  https://h.example.com/x \n") == "https://h.example.com/x"


def test_safe_url_accepts_uppercase_scheme():
    assert escape.safe_url("HTTPS://h.example.com/x") == "HTTPS://h.example.com/x"


@pytest.mark.parametrize(
    "url",
    [
        "",
        None,
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<b>x</b>",
        "ftp://h.example.com/x",
        "dingtalk://dingtalkclient/page/link?url=x",
        "//h.example.com/x",
        "h.example.com/x",
        "http://[::1",
    ],
)
def test_safe_url_rejects_anything_but_http(url):
    assert escape.safe_url(url) is None


def test_safe_url_result_never_closes_a_markdown_link():
    url = escape.safe_url("https://h.example.com/x) [y](http://evil")
    assert url is not None
    assert ")" not in url
    assert " " not in url


# --- escape.plain --------------------------------------------------------------------------


def test_plain_joins_lines():
    assert escape.plain("a\nb\r\n\n  c  \rd") == "a b c d"


def test_plain_breaks_at_tags():
    text = escape.plain('x <at user_id="all"></at> <at id=all> <@all>')
    assert "<at" not in text
    assert "<@" not in text
    assert text.replace(ZWSP, "") == 'x <at user_id="all"></at> <at id=all> <@all>'


def test_plain_leaves_ordinary_text_alone():
    assert escape.plain("工作流 Release #12 执行成功") == "工作流 Release #12 执行成功"


# --- escape.markdown / lark_md -------------------------------------------------------------


def test_markdown_breaks_mentions_links_and_tags():
    text = escape.markdown("<@all> @13800000000 [x](http://evil) <font color=red> **b")
    assert "<@" not in text
    assert "@1" not in text
    assert "](" not in text
    assert "<font" not in text
    assert "**" not in text
    assert text.replace(ZWSP, "") == "<@all> @13800000000 [x](http://evil) <font color=red> **b"


def test_lark_md_uses_entities_for_tags():
    text = escape.lark_md('<at id=all></at> & <at user_id="x">')
    assert text == '&lt;at id=all&gt;&lt;/at&gt; &amp; &lt;at user_id="x"&gt;'
