"""Microsoft Teams incoming webhook simulator: Adaptive Card payloads, plain-text answers,
the 28 KB limit, 4 requests per second and mentions declared in msteams.entities."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from sandbox_helpers import post

from tidings.sandbox import FakeClock, Sandbox

ADAPTIVE = "application/vnd.microsoft.card.adaptive"
BAD = "Bad payload received by generic incoming webhook."


def card(*texts: str, entities: list[dict[str, Any]] | None = None, **extra: Any) -> dict:
    content: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [{"type": "TextBlock", "text": t, "wrap": True} for t in texts],
        "actions": [{"type": "Action.OpenUrl", "title": "查看", "url": "https://example.com"}],
        **extra,
    }
    if entities is not None:
        content["msteams"] = {"entities": entities}
    return {"type": "message", "attachments": [{"contentType": ADAPTIVE, "content": content}]}


def mention(email: str, name: str | None = None) -> dict[str, Any]:
    return {
        "type": "mention",
        "text": f"<at>{email}</at>",
        "mentioned": {"id": email, "name": name or email},
    }


async def send(http: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, str]:
    async with http.post(url, **kw) as resp:
        return resp.status, await resp.text()


async def test_valid_card_is_answered_with_1(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.msteams_webhook("ci")
    assert url == f"{sb.url}/msteams/ci"
    nested = {"type": "Container", "items": [{"type": "TextBlock", "text": "stage deploy"}]}
    payload = card("工作流 demo #42 succeeded", "build ok")
    payload["attachments"][0]["content"]["body"].append(nested)
    assert await send(http, url, json=payload) == (200, "1")
    [row] = sb.accepted("msteams", "ci")
    assert row.platform == "msteams" and row.http_status == 200 and row.code is None
    assert row.msgtype == ADAPTIVE and row.message == "1" and row.mentions == []
    assert row.text == "工作流 demo #42 succeeded\nbuild ok\nstage deploy\n查看"


async def test_invalid_payloads_are_400(sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession):
    url = sb.msteams_webhook("ci")
    wrong_type = card("x")
    wrong_type["attachments"][0]["contentType"] = "application/vnd.microsoft.card.hero"
    not_adaptive = card("x")
    not_adaptive["attachments"][0]["content"]["type"] = "MessageCard"
    for kw in (
        {"data": b"{nope", "headers": {"Content-Type": "application/json"}},
        {"json": {"type": "message"}},
        {"json": {"type": "message", "attachments": []}},
        {"json": wrong_type},
        {"json": not_adaptive},
    ):
        assert await send(http, url, **kw) == (400, BAD)
        clock.advance(1)  # refused requests count against the 4 per second too
    assert sb.accepted() == [] and {r.http_status for r in sb.received()} == {400}


async def test_payload_over_28_kb_is_413(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.msteams_webhook("ci")
    envelope = len(json.dumps(card("")).encode())
    fits = json.dumps(card("a" * (28 * 1024 - envelope))).encode()
    assert len(fits) == 28 * 1024
    headers = {"Content-Type": "application/json"}
    assert await send(http, url, data=fits, headers=headers) == (200, "1")
    too_big = json.dumps(card("a" * (28 * 1024 + 1 - envelope))).encode()
    assert await send(http, url, data=too_big, headers=headers) == (413, "Payload too large")


async def test_four_per_second(sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession):
    url = sb.msteams_webhook("ci")
    for _ in range(4):
        assert (await send(http, url, json=card("x")))[0] == 200
    assert await send(http, url, json=card("x")) == (
        429,
        "Microsoft Teams endpoint returned HTTP error 429",
    )
    assert (await send(http, sb.msteams_webhook("other"), json=card("x")))[0] == 200
    clock.advance(1)
    assert (await send(http, url, json=card("x")))[0] == 200


async def test_mentions_need_entity_and_text(sb: Sandbox, http: aiohttp.ClientSession):
    url = sb.msteams_webhook("ci")
    entities = [
        mention("alice@example.com"),
        mention("bob@example.com"),  # declared but its <at> is not in any TextBlock
        {"type": "other", "text": "<at>carol@example.com</at>", "mentioned": {"id": "c"}},
    ]
    text = "相关人员: <at>alice@example.com</at> <at>carol@example.com</at>"
    await send(http, url, json=card("failed", text, entities=entities))
    await send(http, url, json=card("<at>dave@example.com</at> no entity"))
    assert [r.mentions for r in sb.accepted()] == [["alice@example.com"], []]


async def test_unknown_name_and_control_registration(sb: Sandbox, http: aiohttp.ClientSession):
    assert await send(http, f"{sb.url}/msteams/new", json=card("x")) == (200, "1")
    assert [r.destination for r in sb.accepted("msteams")] == ["new"]
    status, reg = await post(http, f"{sb.url}/_sandbox/msteams", {"name": "ops"})
    assert (status, reg) == (200, {"ok": True, "url": f"{sb.url}/msteams/ops"})
    assert (await post(http, f"{sb.url}/_sandbox/msteams", {}))[0] == 400
    assert (await post(http, f"{sb.url}/_sandbox/mail", {}))[0] == 400
