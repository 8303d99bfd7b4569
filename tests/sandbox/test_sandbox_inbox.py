"""Webhook inbox: records everything, answers from a script (statuses, resets, slowness)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from sandbox_helpers import post

from tidings.sandbox import Sandbox


async def test_records_method_headers_query_body(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.webhook_inbox("ci")
    assert url == f"{sb.url}/webhook/ci"
    status, body = await post(http, url + "?x=1", {"event": "done"}, headers={"X-Sig": "abc"})
    assert (status, body) == (200, {"ok": True})
    async with http.put(url, data="plain text") as resp:
        assert resp.status == 200
    first, second = sb.received("webhook", "ci")
    assert first.accepted and first.method == "POST" and first.query == {"x": "1"}
    assert first.headers["X-Sig"] == "abc" and first.body == {"event": "done"}
    assert first.text == "" and first.mentions == [] and first.code is None
    assert second.method == "PUT" and second.body == "plain text"


async def test_unregistered_inbox_is_created_on_first_use(sb: Sandbox, http: aiohttp.ClientSession):
    assert await post(http, f"{sb.url}/webhook/new", {}) == (200, {"ok": True})
    assert [r.destination for r in sb.accepted("webhook")] == ["new"]


async def test_script_then_200(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.webhook_inbox("ci", script=(503, 503))
    statuses = [(await post(http, url, {"n": i}))[0] for i in range(3)]
    assert statuses == [503, 503, 200]
    rows = sb.received("webhook", "ci")
    assert [(r.accepted, r.http_status) for r in rows] == [(False, 503), (False, 503), (True, 200)]
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)


async def test_429_has_retry_after(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.webhook_inbox("ci", script=[429])
    async with http.post(url, json={}) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "1"


async def test_reset_is_a_connection_error(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.webhook_inbox("ci", script=["reset"])
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(http, url, {"a": 1})
    assert (await post(http, url, {"a": 2}))[0] == 200
    first, second = sb.received("webhook")
    assert (first.accepted, first.http_status, first.body) == (False, 0, {"a": 1})
    assert second.accepted


async def test_timeout_and_stop_does_not_hang(http: aiohttp.ClientSession):
    sb = Sandbox()
    await sb.start()
    url = sb.webhook_inbox("slow", script=["timeout"])
    with pytest.raises(asyncio.TimeoutError):
        await post(http, url, {}, timeout=aiohttp.ClientTimeout(total=0.3))
    [row] = sb.received()
    assert not row.accepted and row.http_status == 0
    started = time.monotonic()
    await sb.stop()
    assert time.monotonic() - started < 2


async def test_delay(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.webhook_inbox("ci", script=[("delay", 0.2)])
    started = time.monotonic()
    assert (await post(http, url, {}))[0] == 200
    assert time.monotonic() - started >= 0.2
    assert sb.accepted()[0].http_status == 200


def test_invalid_script_items_are_refused():
    sb = Sandbox()
    for bad in ([99], ["boom"], [("delay", -1)], [True]):
        with pytest.raises(ValueError):
            sb.webhook_inbox("x", script=bad)
