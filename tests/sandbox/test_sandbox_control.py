"""Control endpoints, SandboxThread from sync code, serve(), and the package's independence."""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest
from sandbox_helpers import T0, post

import tidings.sandbox
from tidings.sandbox import DEMO, FakeClock, Received, Sandbox, SandboxThread, serve


def _urlopen(url: str, payload: Any = None, method: str | None = None) -> tuple[int, Any]:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def test_register_send_inspect_clear_over_http(sb: Sandbox, http: aiohttp.ClientSession):
    async with http.get(f"{sb.url}/_sandbox/health") as resp:
        assert await resp.json() == {"ok": True, "url": sb.url}
    _, reg = await post(http, f"{sb.url}/_sandbox/dingtalk", {"token": "d", "keywords": ["工作流"]})
    assert reg == {"ok": True, "url": f"{sb.url}/robot/send?access_token=d"}
    await post(http, reg["url"], {"msgtype": "text", "text": {"content": "工作流 ok"}})
    await post(http, reg["url"], {"msgtype": "text", "text": {"content": "nope"}})
    _, reg = await post(http, f"{sb.url}/_sandbox/wecom", {"key": "w"})
    await post(http, reg["url"], {"msgtype": "text", "text": {"content": "hi"}})
    _, reg = await post(http, f"{sb.url}/_sandbox/feishu", {"token": "f", "secret": "demo_secret"})
    assert reg["url"] == f"{sb.url}/open-apis/bot/v2/hook/f"
    _, reg = await post(http, f"{sb.url}/_sandbox/webhook", {"name": "n", "script": [500]})
    assert (await post(http, reg["url"], {}))[0] == 500

    async with http.get(f"{sb.url}/_sandbox/messages") as resp:
        messages = (await resp.json())["messages"]
    assert [m["platform"] for m in messages] == ["dingtalk", "dingtalk", "wecom", "webhook"]
    assert messages[0]["text"] == "工作流 ok" and messages[0]["at"] == T0
    assert [Received.from_json(m) for m in messages] == sb.received()
    query = {"platform": "dingtalk", "destination": "d", "accepted": "1"}
    async with http.get(f"{sb.url}/_sandbox/messages", params=query) as resp:
        assert [m["code"] for m in (await resp.json())["messages"]] == [0]

    async with http.delete(f"{sb.url}/_sandbox/messages") as resp:
        assert resp.status == 200
    assert sb.received() == []


async def test_control_rejects_bad_registrations(sb: Sandbox, http: aiohttp.ClientSession):
    assert (await post(http, f"{sb.url}/_sandbox/dingtalk", {"secret": "x"}))[0] == 400
    assert (await post(http, f"{sb.url}/_sandbox/webhook", {"name": "n", "script": ["x"]}))[
        0
    ] == 400
    assert (await post(http, f"{sb.url}/_sandbox/feishu", data=b"[]"))[0] == 400
    assert (await post(http, f"{sb.url}/_sandbox/irc", {"token": "t"}))[0] == 404


async def test_registration_before_start_and_on_receive(http: aiohttp.ClientSession):
    seen: list[Received] = []
    sb = Sandbox(on_receive=seen.append)
    url = sb.wecom_robot("early")
    async with sb:
        assert url.startswith(sb.url)
        await post(http, url, {"msgtype": "text", "text": {"content": "hi"}})
    assert [r.destination for r in seen] == ["early"]
    json.dumps(seen[0].to_json())  # JSON-able


async def test_demo_destinations(sb: Sandbox, http: aiohttp.ClientSession):
    sb.add_demo_destinations()
    ding = f"{sb.url}/robot/send?access_token=demo"
    assert (await post(http, ding, {"msgtype": "text", "text": {"content": "工作流 ok"}}))[1][
        "errcode"
    ] == 0
    signed = f"{sb.url}/robot/send?access_token=demo-signed"
    assert (await post(http, signed, {"msgtype": "text", "text": {"content": "工作流"}}))[1][
        "errcode"
    ] == 310000
    feishu = f"{sb.url}/open-apis/bot/v2/hook/demo-signed"
    sign = "jy72iuUPjLGbTsx+CUgWWMxZkPykAK7EOq9XV4u+X6U="  # demo_secret at T0
    msg = {"msg_type": "text", "content": {"text": "x"}, "timestamp": "1700000000", "sign": sign}
    assert (await post(http, feishu, msg))[1]["code"] == 0
    assert (await post(http, f"{sb.url}/webhook/demo", {}))[0] == 200
    assert {d["token"] for d in DEMO["dingtalk"]} == {"demo", "demo-signed"}


async def test_serve_runs_demo_until_cancelled(http: aiohttp.ClientSession):
    ready: asyncio.Future[Sandbox] = asyncio.get_running_loop().create_future()
    seen: list[Received] = []
    task = asyncio.create_task(
        serve("127.0.0.1", 0, on_receive=seen.append, on_ready=ready.set_result)
    )
    sb = await asyncio.wait_for(ready, 5)
    assert (
        await post(
            http,
            f"{sb.url}/cgi-bin/webhook/send?key=demo",
            {"msgtype": "text", "text": {"content": "hi"}},
        )
    )[1]["errcode"] == 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r.platform for r in seen] == ["wecom"]


def test_sandbox_thread_from_sync_code():
    clock = FakeClock(T0)
    with SandboxThread(clock=clock) as sb:
        url = sb.dingtalk_robot("t", secret="SEC0123456789abcdef")
        sign = "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"
        msg = {"msgtype": "text", "text": {"content": "hi"}}
        assert _urlopen(f"{url}&timestamp=1700000000000&sign={sign}", msg) == (
            200,
            {"errcode": 0, "errmsg": "ok"},
        )
        clock.advance(7200)
        assert _urlopen(f"{url}&timestamp=1700000000000&sign={sign}", msg)[1]["errcode"] == 310000
        status, body = _urlopen(f"{sb.url}/_sandbox/messages?platform=dingtalk")
        assert status == 200 and [m["accepted"] for m in body["messages"]] == [True, False]
        assert [r.accepted for r in sb.received()] == [True, False]
        assert len(sb.accepted("dingtalk", "t")) == 1
        assert _urlopen(f"{sb.webhook_inbox('x', script=[503])}", {})[0] == 503
        sb.clear()
        assert sb.received() == []
        base = sb.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{base}/_sandbox/health", timeout=2)


def test_sandbox_is_independent_of_the_rest_of_tidings():
    root = pathlib.Path(tidings.sandbox.__file__).parent
    for path in root.glob("*.py"):
        for mod in re.findall(r"^\s*(?:from|import)\s+(tidings[\w.]*)", path.read_text(), re.M):
            assert mod == "tidings.sandbox" or mod.startswith("tidings.sandbox."), (path, mod)
