"""DingTalk robot simulator: verifies and answers like oapi.dingtalk.com."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp
from sandbox_helpers import T0, post

from tidings.sandbox import FakeClock, Sandbox

SECRET = "SEC0123456789abcdef"
TS = "1700000000000"
SIGN = "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="
SIGN_ENCODED = "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"
TEXT = {"msgtype": "text", "text": {"content": "工作流 build #1 succeeded"}}
OK = {"errcode": 0, "errmsg": "ok"}


async def test_signing_vector_accepted_via_params(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.dingtalk_robot("t", secret=SECRET)
    assert url == f"{sb.url}/robot/send?access_token=t"
    status, body = await post(http, url, TEXT, params={"timestamp": TS, "sign": SIGN})
    assert (status, body) == (200, OK)
    [row] = sb.accepted("dingtalk", "t")
    assert row.query["sign"] == SIGN and row.code == 0 and row.text == TEXT["text"]["content"]


async def test_signing_vector_accepted_when_encoded_once_in_url(
    sb: Sandbox, http: aiohttp.ClientSession
):
    url = sb.dingtalk_robot("t", secret=SECRET) + f"&timestamp={TS}&sign={SIGN_ENCODED}"
    assert await post(http, url, TEXT) == (200, OK)


async def test_double_encoded_sign_does_not_match(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.dingtalk_robot("t", secret=SECRET)
    params = {"timestamp": TS, "sign": quote(SIGN, safe="")}  # the client encodes it again
    status, body = await post(http, url, TEXT, params=params)
    assert (status, body) == (200, {"errcode": 310000, "errmsg": "sign not match"})
    [row] = sb.received("dingtalk")
    assert not row.accepted and row.query["sign"] == SIGN_ENCODED


async def test_wrong_secret_and_missing_sign(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.dingtalk_robot("t", secret="SECsomethingelse")
    _, body = await post(http, url, TEXT, params={"timestamp": TS, "sign": SIGN})
    assert body == {"errcode": 310000, "errmsg": "sign not match"}
    _, body = await post(http, url, TEXT)
    assert body["errcode"] == 310000
    assert sb.accepted() == []


async def test_stale_or_future_timestamp_refused(
    sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession
):
    url = sb.dingtalk_robot("t", secret=SECRET)
    params = {"timestamp": TS, "sign": SIGN}
    clock.set(T0 + 3600)  # exactly one hour: still fine
    assert (await post(http, url, TEXT, params=params))[1] == OK
    for t in (T0 + 3601, T0 - 3601):
        clock.set(t)
        _, body = await post(http, url, TEXT, params=params)
        assert body == {"errcode": 310000, "errmsg": "invalid timestamp"}


async def test_keywords_matched_in_text_and_titles(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.dingtalk_robot("k", keywords=["工作流", "deploy"])
    _, body = await post(http, url, {"msgtype": "text", "text": {"content": "build ok"}})
    assert body == {"errcode": 310000, "errmsg": "keywords not in content"}
    md = {"msgtype": "markdown", "markdown": {"title": "工作流 通知", "text": "## build ok"}}
    assert (await post(http, url, md))[1] == OK
    card = {"msgtype": "actionCard", "actionCard": {"title": "x", "text": "deploy done"}}
    assert (await post(http, url, card))[1] == OK
    assert sb.accepted()[0].text == "工作流 通知\n## build ok"


async def test_request_errors(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.dingtalk_robot("t")
    base = f"{sb.url}/robot/send"
    assert (await post(http, base, TEXT))[1] == {
        "errcode": 400101,
        "errmsg": "access_token is missing",
    }
    assert (await post(http, base + "?access_token=nope", TEXT))[1] == {
        "errcode": 300001,
        "errmsg": "token is not exist",
    }
    _, body = await post(
        http, url, data=b'{"msgtype":"text"}', headers={"Content-Type": "text/plain"}
    )
    assert body["errcode"] == 43004
    json_h = {"Content-Type": "application/json; charset=utf-8"}
    assert (await post(http, url, data=b"not json", headers=json_h))[1]["errcode"] == 400402
    assert (await post(http, url, {"text": {"content": "x"}}))[1]["errcode"] == 400402
    assert (await post(http, url, {"msgtype": "image"}))[1]["errcode"] == 400105
    assert [r.accepted for r in sb.received()] == [False] * 6


async def test_body_over_20000_bytes(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.dingtalk_robot("t")
    envelope = len(b'{"msgtype": "text", "text": {"content": ""}}')
    fits = {"msgtype": "text", "text": {"content": "a" * (20000 - envelope)}}
    assert (await post(http, url, fits))[1] == OK
    too_big = {"msgtype": "text", "text": {"content": "a" * (20001 - envelope)}}
    assert (await post(http, url, too_big))[1] == {
        "errcode": 460101,
        "errmsg": "message too long, exceed 20000 bytes",
    }


async def test_rate_limit_throttles_for_ten_minutes(
    sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession
):
    url = sb.dingtalk_robot("t")
    for _ in range(20):
        assert (await post(http, url, TEXT))[1] == OK
        clock.advance(1)
    too_fast = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
    assert (await post(http, url, TEXT))[1] == too_fast
    clock.advance(300)  # the minute window is long gone, but the robot is still throttled
    assert (await post(http, url, TEXT))[1] == too_fast
    clock.advance(301)
    assert (await post(http, url, TEXT))[1] == OK
    assert len(sb.accepted()) == 21 and len(sb.received()) == 23


async def test_rate_window_rolls(sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession):
    url = sb.dingtalk_robot("t")
    for _ in range(20):
        assert (await post(http, url, TEXT))[1] == OK
    clock.advance(60)  # all 20 left the rolling minute
    assert (await post(http, url, TEXT))[1] == OK


async def test_rate_limits_can_be_disabled(clock: FakeClock, http: aiohttp.ClientSession):
    async with Sandbox(clock=clock, rate_limits=False) as sb:
        url = sb.dingtalk_robot("t")
        for _ in range(25):
            assert (await post(http, url, TEXT))[1] == OK


async def test_mentions_need_at_in_text(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.dingtalk_robot("t")
    msg = {
        "msgtype": "text",
        "text": {"content": "build failed @13800000000 @user42"},
        "at": {"atMobiles": ["13800000000", "13900000000"], "atUserIds": ["user42", "u7"]},
    }
    await post(http, url, msg)
    md = {
        "msgtype": "markdown",
        "markdown": {"title": "t", "text": "no at sign here"},
        "at": {"atMobiles": ["13800000000"], "isAtAll": True},
    }
    await post(http, url, md)
    card = {"msgtype": "actionCard", "actionCard": {"title": "t", "text": "@all"}}
    await post(http, url, {**card, "at": {"isAtAll": True}})
    assert [r.mentions for r in sb.accepted()] == [["13800000000", "user42"], ["all"], []]


async def test_rejected_messages_notify_nobody(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.dingtalk_robot("t", keywords=["工作流"])
    msg = {"msgtype": "text", "text": {"content": "@138"}, "at": {"atMobiles": ["138"]}}
    await post(http, url, msg)
    [row] = sb.received()
    assert not row.accepted and row.mentions == [] and row.text == "@138"
