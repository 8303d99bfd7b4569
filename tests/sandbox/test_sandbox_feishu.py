"""Feishu custom bot simulator: body signature, keywords, 9499 bad requests, 5/s and 100/min."""

from __future__ import annotations

import json

import aiohttp
from sandbox_helpers import T0, post

from tidings.sandbox import FakeClock, Sandbox

SECRET = "demo_secret"
SIGN = "jy72iuUPjLGbTsx+CUgWWMxZkPykAK7EOq9XV4u+X6U="
OK = {"code": 0, "data": {}, "msg": "success"}
SIGN_FAIL = {
    "code": 19021,
    "data": {},
    "msg": "sign match fail or timestamp is not within one hour from current time",
}
BAD = {"code": 9499, "data": {}, "msg": "Bad Request"}


def text(t: str, **extra: object) -> dict:
    return {"msg_type": "text", "content": {"text": t}, **extra}


def card(*strings: str) -> dict:
    return {
        "msg_type": "interactive",
        "card": {
            "header": {"title": {"tag": "plain_text", "content": "工作流 通知"}},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": s}} for s in strings],
        },
    }


async def test_signing_vector_accepted(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.feishu_bot("tok2", secret=SECRET)
    assert url == f"{sb.url}/open-apis/bot/v2/hook/tok2"
    status, body = await post(http, url, text("hi", timestamp="1700000000", sign=SIGN))
    assert (status, body) == (200, OK)
    assert sb.accepted("feishu", "tok2")[0].text == "hi"


async def test_wrong_secret_stale_and_missing_signature(
    sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession
):
    wrong = sb.feishu_bot("w", secret="other_secret")
    assert await post(http, wrong, text("hi", timestamp="1700000000", sign=SIGN)) == (
        200,
        SIGN_FAIL,
    )
    url = sb.feishu_bot("s", secret=SECRET)
    assert (await post(http, url, text("hi")))[1] == SIGN_FAIL
    # the timestamp must be a string of seconds
    assert (await post(http, url, text("hi", timestamp=1700000000, sign=SIGN)))[1] == SIGN_FAIL
    for t in (T0 + 3601, T0 - 3601):
        clock.set(t)
        assert (await post(http, url, text("hi", timestamp="1700000000", sign=SIGN)))[1] == (
            SIGN_FAIL
        )
    clock.set(T0 + 3600)
    assert (await post(http, url, text("hi", timestamp="1700000000", sign=SIGN)))[1] == OK


async def test_keywords(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.feishu_bot("k", keywords=["工作流"])
    assert await post(http, url, text("build ok")) == (
        200,
        {"code": 19024, "data": {}, "msg": "Key Words Not Found"},
    )
    assert (await post(http, url, text("工作流 build ok")))[1] == OK
    assert (await post(http, url, card("build ok")))[1] == OK  # keyword in the card header
    post_msg = {
        "msg_type": "post",
        "content": {
            "post": {"zh_cn": {"title": "t", "content": [[{"tag": "text", "text": "工作流"}]]}}
        },
    }
    assert (await post(http, url, post_msg))[1] == OK
    assert sb.accepted()[1].text == "工作流 通知\nbuild ok"


async def test_bad_requests_are_http_400(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.feishu_bot("t")
    assert await post(http, url, data=b"{nope") == (400, BAD)
    assert await post(http, url, {"msg_type": "video", "content": {}}) == (400, BAD)
    assert await post(http, url, {"msg_type": "text", "content": {}}) == (400, BAD)
    as_string = {"msg_type": "interactive", "card": json.dumps(card("x")["card"])}
    assert await post(http, url, as_string) == (400, BAD)
    in_content = {"msg_type": "interactive", "content": {"card": card("x")["card"]}}
    assert await post(http, url, in_content) == (400, BAD)
    assert sb.accepted() == [] and {r.http_status for r in sb.received()} == {400}


async def test_unknown_token(sb: Sandbox, http: aiohttp.ClientSession):
    status, body = await post(http, f"{sb.url}/open-apis/bot/v2/hook/nope", text("x"))
    assert (status, body) == (
        200,
        {"code": 19001, "data": {}, "msg": "param invalid: incoming webhook access token invalid"},
    )


async def test_body_over_20_kib(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.feishu_bot("t")
    envelope = len(json.dumps(text("")).encode())
    assert (await post(http, url, text("a" * (20480 - envelope))))[1] == OK
    assert await post(http, url, text("a" * (20481 - envelope))) == (
        400,
        {"code": 9499, "data": {}, "msg": "request body too large"},
    )


async def test_five_per_second(sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession):
    url = sb.feishu_bot("t")
    for _ in range(5):
        assert (await post(http, url, text("x")))[1] == OK
    limited = {"code": 11232, "data": {}, "msg": "frequency limited"}
    assert await post(http, url, text("x")) == (200, limited)
    clock.advance(1)
    assert (await post(http, url, text("x")))[1] == OK


async def test_hundred_per_minute(sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession):
    url = sb.feishu_bot("t")
    for i in range(100):
        assert (await post(http, url, text("x")))[1] == OK, i
        if i % 5 == 4:
            clock.advance(1)
    assert (await post(http, url, text("x")))[1]["code"] == 11232  # 101st within the minute
    clock.advance(41)
    assert (await post(http, url, text("x")))[1] == OK


async def test_text_mentions(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.feishu_bot("t")
    t = (
        '<at user_id="ou_a">A</at> <at user_id=ou_b>B</at> < at  id = ou_c ></at> '
        "<at open_id='ou_d'></at> <at email=e@x.com></at> <at user_id=\"all\">所有人</at>"
    )
    await post(http, url, text(t))
    await post(http, url, text('&lt;at user_id="ou_x"&gt; no mention'))
    assert [r.mentions for r in sb.accepted()] == [
        ["ou_a", "ou_b", "ou_c", "ou_d", "e@x.com", "all"],
        [],
    ]


async def test_card_and_post_mentions(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.feishu_bot("t")
    await post(http, url, card("fix <at id=ou_1></at>", "<at id=all></at>"))
    post_msg = {
        "msg_type": "post",
        "content": {
            "post": {
                "zh_cn": {
                    "title": "t",
                    "content": [
                        [{"tag": "at", "user_id": "ou_2"}, {"tag": "text", "text": "hi"}],
                        [{"tag": "at", "user_id": "all"}],
                    ],
                }
            }
        },
    }
    await post(http, url, post_msg)
    assert [r.mentions for r in sb.accepted()] == [["ou_1", "all"], ["ou_2", "all"]]
