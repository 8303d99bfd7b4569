"""Slack incoming webhook simulator: `ok` answers, Slack's plain-text error codes with their
HTTP statuses, its block limits, one message a second, and the mentions that notify."""

from __future__ import annotations

from typing import Any

import aiohttp
from sandbox_helpers import post

from tidings.sandbox import FakeClock, Sandbox


def message(text: str = "工作流 demo #1", *blocks: dict[str, Any]) -> dict[str, Any]:
    return {"text": text, "attachments": [{"color": "#00a13e", "blocks": list(blocks)}]}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def send(http: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, str]:
    async with http.post(url, **kw) as resp:
        return resp.status, await resp.text()


async def test_a_message_is_answered_ok(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    url = sb.slack_webhook("ci")
    assert url.startswith(f"{sb.url}/services/T00SANDBOX/ci/")
    body = message(
        "工作流 demo #1 <@U012AB3CD>", section("*执行用户*：admin"), section("<!channel>")
    )
    assert await send(http, url, json=body) == (200, "ok")
    (row,) = sb.accepted("slack", "ci")
    assert row.text == "工作流 demo #1 <@U012AB3CD>\n*执行用户*：admin\n<!channel>"
    assert row.mentions == ["U012AB3CD", "channel"]


async def test_refusals_are_slacks_codes(
    sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    url = sb.slack_webhook("ci")
    too_long = message("x", section("a" * 3001))
    too_many = message("x", *[{"type": "divider"}] * 51)
    for kw, answer in (
        ({"data": b"{nope", "headers": {"Content-Type": "application/json"}}, "invalid_payload"),
        ({"json": {"username": "bot"}}, "invalid_payload"),
        ({"json": too_long}, "invalid_blocks"),
        ({"json": too_many}, "invalid_blocks"),
    ):
        assert await send(http, url, **kw) == (400, answer)
        clock.advance(1)
    assert await send(http, url.rsplit("/", 1)[0] + "/wrong", json=message()) == (404, "no_service")
    sb.slack_webhook("ci", archived=True)
    assert await send(http, url, json=message()) == (410, "channel_is_archived")
    assert sb.accepted() == []


async def test_one_a_second(sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession) -> None:
    url = sb.slack_webhook("ci")
    assert (await send(http, url, json=message()))[0] == 200
    async with http.post(url, json=message()) as resp:
        assert (resp.status, await resp.text()) == (429, "rate_limited")
        assert resp.headers["Retry-After"] == "1"
    clock.advance(1)
    assert (await send(http, url, json=message()))[0] == 200


async def test_registration_over_http(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    status, answer = await post(http, f"{sb.url}/_sandbox/slack", {"name": "ops"})
    assert status == 200 and answer["url"].startswith(f"{sb.url}/services/T00SANDBOX/ops/")
    assert (await send(http, answer["url"], json=message()))[0] == 200
