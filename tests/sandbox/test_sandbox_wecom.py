"""WeCom group robot simulator: byte limits, mentions and the 20/min limit (failures count)."""

from __future__ import annotations

import aiohttp
from sandbox_helpers import post

from tidings.sandbox import FakeClock, Sandbox

OK = {"errcode": 0, "errmsg": "ok"}


def text(content: str, **extra: object) -> dict:
    return {"msgtype": "text", "text": {"content": content, **extra}}


def markdown(content: str, **extra: object) -> dict:
    return {"msgtype": "markdown", "markdown": {"content": content, **extra}}


async def test_accepts_and_records(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.wecom_robot("key1")
    assert url == f"{sb.url}/cgi-bin/webhook/send?key=key1"
    assert await post(http, url, markdown('**构建** <font color="info">ok</font>')) == (200, OK)
    [row] = sb.received("wecom", "key1")
    assert row.accepted and row.msgtype == "markdown" and row.code == 0 and row.message == "ok"
    assert row.text == '**构建** <font color="info">ok</font>' and row.query == {"key": "key1"}


async def test_unknown_key_bad_json_and_type(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.wecom_robot("k")
    _, body = await post(http, f"{sb.url}/cgi-bin/webhook/send?key=nope", text("x"))
    assert body["errcode"] == 93000 and body["errmsg"].startswith("invalid webhook url, hint:")
    _, body = await post(http, f"{sb.url}/cgi-bin/webhook/send", text("x"))
    assert body["errcode"] == 93000
    assert (await post(http, url, data=b"{oops"))[1]["errcode"] == 44004
    assert (await post(http, url, text("")))[1]["errcode"] == 44004
    assert (await post(http, url, {"msgtype": "video", "video": {}}))[1] == {
        "errcode": 40008,
        "errmsg": "invalid message type",
    }


async def test_text_limit_is_2048_utf8_bytes(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.wecom_robot("k")
    fits = "工" * 682 + "ab"  # 2046 + 2 bytes
    assert (await post(http, url, text(fits)))[1] == OK
    assert (await post(http, url, text(fits + "c")))[1] == {
        "errcode": 40058,
        "errmsg": "content exceed max length 2048",
    }


async def test_markdown_limit_is_4096_utf8_bytes(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.wecom_robot("k")
    assert (await post(http, url, markdown("流" * 1365 + "a")))[1] == OK  # 4096 bytes
    assert (await post(http, url, markdown("流" * 1366)))[1] == {
        "errcode": 40058,
        "errmsg": "markdown.content exceed max length 4096",
    }


async def test_rate_limit_counts_failures(
    sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession
):
    url = sb.wecom_robot("k")
    for _ in range(10):
        assert (await post(http, url, text("")))[1]["errcode"] == 44004
        assert (await post(http, url, text("ok")))[1] == OK
    assert (await post(http, url, text("ok")))[1] == {
        "errcode": 45009,
        "errmsg": "api freq out of limit",
    }
    clock.advance(60)
    assert (await post(http, url, text("ok")))[1] == OK


async def test_text_mentions(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.wecom_robot("k")
    msg = text("deploy", mentioned_list=["wangqing", "@all"], mentioned_mobile_list=["13800001111"])
    await post(http, url, msg)
    await post(http, url, text("no one"))
    assert [r.mentions for r in sb.accepted()] == [["wangqing", "all", "13800001111"], []]


async def test_markdown_mentions_only_from_content(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.wecom_robot("k")
    await post(http, url, markdown("fix it <@zhangsan> and <@all>", mentioned_list=["lisi"]))
    await post(http, url, markdown("escaped &lt;@all&gt; and <\\@all> and < @all>"))
    await post(http, url, {"msgtype": "markdown_v2", "markdown_v2": {"content": "<@all>"}})
    assert [r.mentions for r in sb.accepted()] == [["zhangsan", "all"], [], []]
