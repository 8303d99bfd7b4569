"""Feishu self-built app simulator: tenant tokens, auth errors, im/v1/messages (receivers,
content as a JSON string, uuid idempotency, 429s), batch_get_id and the chat list."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from sandbox_helpers import post

from tidings.sandbox import DEMO, FakeClock, Sandbox

APP, SECRET = "cli_test", "app-secret"
USERS = [
    {
        "open_id": "ou_a",
        "user_id": "u_a",
        "union_id": "on_a",
        "mobile": "13800000000",
        "email": "a@example.com",
        "name": "A",
    },
    {"open_id": "ou_b", "user_id": "u_b", "email": "b@example.com"},
]
CHATS = [
    {"chat_id": "oc_1", "name": "one"},
    {"chat_id": "oc_out", "name": "out", "bot_in_chat": False},
]
MISSING = (
    99991661,
    "Missing access token for authorization. Please make a request with token attached.",
)
INVALID = (
    99991663,
    "Invalid access token for authorization. Please make a request with token attached.",
)


@pytest.fixture
def base(sb: Sandbox) -> str:
    return sb.feishu_app(APP, SECRET, users=USERS, chats=CHATS)


async def token(http: aiohttp.ClientSession, base: str, app: str = APP, secret: str = SECRET):
    url = f"{base}/open-apis/auth/v3/tenant_access_token/internal"
    return await post(http, url, {"app_id": app, "app_secret": secret})


async def tok(http: aiohttp.ClientSession, base: str) -> str:
    return (await token(http, base))[1]["tenant_access_token"]


def text(t: str) -> dict[str, Any]:
    return {"msg_type": "text", "content": json.dumps({"text": t})}


async def send(
    http: aiohttp.ClientSession,
    base: str,
    access: str | None,
    receive_id: str,
    id_type: str = "chat_id",
    msg: dict[str, Any] | None = None,
    **extra: Any,
) -> tuple[int, Any, dict[str, str]]:
    headers = {"Authorization": f"Bearer {access}"} if access else {}
    payload = {"receive_id": receive_id, **(msg or text("hi")), **extra}
    url = f"{base}/open-apis/im/v1/messages"
    async with http.post(
        url, params={"receive_id_type": id_type}, json=payload, headers=headers
    ) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


def failure(answer: tuple[int, Any, dict[str, str]]) -> tuple[int, tuple[int, str]]:
    """(HTTP status, (code, msg)) of an error answer, which also carries error.log_id."""
    status, body, _ = answer
    assert body["error"]["log_id"]
    return status, (body["code"], body["msg"])


def bearer(t: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {t}"}


async def test_token_reuse_renewal_and_expiry(
    sb: Sandbox, base: str, clock: FakeClock, http: aiohttp.ClientSession
):
    assert base == sb.url
    status, first = await token(http, base)
    assert status == 200 and first["code"] == 0 and first["msg"] == "ok"
    assert first["tenant_access_token"].startswith("t-") and first["expire"] == 7200
    clock.advance(600)
    again = (await token(http, base))[1]
    assert again["tenant_access_token"] == first["tenant_access_token"]
    assert again["expire"] == 6600
    clock.advance(90 * 60 - 600 + 1)  # 29:59 left: a new token
    renewed = (await token(http, base))[1]
    assert renewed["tenant_access_token"] != first["tenant_access_token"]
    assert renewed["expire"] == 7200
    old, new = first["tenant_access_token"], renewed["tenant_access_token"]
    assert (await send(http, base, old, "oc_1"))[0] == 200  # still valid until its own expiry
    clock.advance(1799)
    assert failure(await send(http, base, old, "oc_1")) == (400, INVALID)
    assert (await send(http, base, new, "oc_1"))[0] == 200
    assert sb.feishu_token_requests(APP) == 3


async def test_wrong_secret_and_unknown_app(sb: Sandbox, base: str, http: aiohttp.ClientSession):
    assert await token(http, base, secret="wrong") == (
        200,
        {"code": 10014, "msg": "app secret invalid"},
    )
    assert await token(http, base, app="cli_nope") == (200, {"code": 10003, "msg": "invalid param"})
    assert sb.feishu_token_requests(APP) == 1 and sb.feishu_token_requests("cli_other") == 0


async def test_missing_invalid_and_forcibly_expired_tokens(
    sb: Sandbox, base: str, http: aiohttp.ClientSession
):
    assert failure(await send(http, base, None, "oc_1")) == (400, MISSING)
    assert failure(await send(http, base, "t-nope", "oc_1")) == (400, INVALID)
    for path in ("/open-apis/contact/v3/users/batch_get_id", "/open-apis/im/v1/chats"):
        method = http.post if path.endswith("id") else http.get
        async with method(base + path) as resp:
            assert failure((resp.status, await resp.json(), {})) == (400, MISSING)
    first = await tok(http, base)
    sb.expire_feishu_tokens(APP)
    assert failure(await send(http, base, first, "oc_1")) == (400, INVALID)
    second = await tok(http, base)  # the client refreshes and retries
    assert second != first and (await send(http, base, second, "oc_1"))[0] == 200
    rows = sb.received("feishu_app")
    assert [r.code for r in rows] == [99991661, 99991663, 99991663, 0]
    assert [r.accepted for r in rows] == [False, False, False, True]


async def test_send_to_chat_open_id_and_email(sb: Sandbox, base: str, http: aiohttp.ClientSession):
    t = await tok(http, base)
    status, body, _ = await send(http, base, t, "oc_1", msg=text("构建 ok"))
    assert status == 200 and body["code"] == 0 and body["msg"] == "success"
    data = body["data"]
    assert data["message_id"].startswith("om_") and data["chat_id"] == "oc_1"
    assert data["msg_type"] == "text"
    by_open_id = (await send(http, base, t, "ou_a", "open_id"))[1]["data"]
    by_email = (await send(http, base, t, "a@example.com", "email"))[1]["data"]
    by_user_id = (await send(http, base, t, "u_b", "user_id"))[1]["data"]
    assert by_open_id["chat_id"] == by_email["chat_id"] != by_user_id["chat_id"]
    assert by_open_id["chat_id"].startswith("oc_")
    rows = sb.accepted("feishu_app")
    assert [r.destination for r in rows] == ["oc_1", "ou_a", "a@example.com", "u_b"]
    first = rows[0]
    assert first.platform == "feishu_app" and first.msgtype == "text" and first.text == "构建 ok"
    assert first.body["content"] == {"text": "构建 ok"} and first.body["receive_id"] == "oc_1"
    assert first.extra["message_id"] == data["message_id"] and first.extra["app_id"] == APP
    assert first.headers["Authorization"] == f"Bearer {t}"
    assert first.query == {"receive_id_type": "chat_id"}


async def test_content_must_be_a_json_string(base: str, http: aiohttp.ClientSession):
    t = await tok(http, base)
    as_object = {"msg_type": "text", "content": {"text": "hi"}}
    for msg in (as_object, {"msg_type": "text", "content": "hi"}):
        status, body, _ = await send(http, base, t, "oc_1", msg=msg)
        assert status == 400 and (body["code"], body["msg"]) == (230001, "invalid message content")
    for id_type in ("chat", ""):
        status, body, _ = await send(http, base, t, "oc_1", id_type)
        assert status == 400 and (body["code"], body["msg"]) == (
            99992402,
            "field validation failed",
        )


async def test_bot_not_in_chat(sb: Sandbox, base: str, http: aiohttp.ClientSession):
    t = await tok(http, base)
    for chat in ("oc_out", "oc_unknown"):
        status, body, _ = await send(http, base, t, chat)
        assert status == 400
        assert (body["code"], body["msg"]) == (230002, "Bot/User can NOT be out of the chat.")
        assert isinstance(body["error"]["log_id"], str) and body["error"]["log_id"]
    assert sb.accepted() == [] and [r.http_status for r in sb.received()] == [400, 400]


async def test_unknown_user(base: str, http: aiohttp.ClientSession):
    t = await tok(http, base)
    for rid, id_type in (("ou_x", "open_id"), ("ou_a", "user_id"), ("x@example.com", "email")):
        status, body, _ = await send(http, base, t, rid, id_type)
        assert (status, body["code"], body["msg"]) == (
            400,
            230013,
            "Bot has NO availability to this user.",
        )


async def test_uuid_repeat_is_not_a_new_message(
    sb: Sandbox, base: str, clock: FakeClock, http: aiohttp.ClientSession
):
    t = await tok(http, base)
    first = (await send(http, base, t, "oc_1", uuid="u-1"))[1]["data"]["message_id"]
    status, body, _ = await send(http, base, t, "oc_1", uuid="u-1")
    assert status == 200 and body["data"]["message_id"] == first
    assert len(sb.accepted("feishu_app")) == 1
    rows = sb.received("feishu_app")
    assert [r.duplicate for r in rows] == [False, True] and rows[1].extra["duplicate"] is True
    assert rows[1].accepted and rows[1].extra["message_id"] == first
    clock.advance(3600)  # idempotent for one hour only
    later = (await send(http, base, t, "oc_1", uuid="u-1"))[1]["data"]["message_id"]
    assert later != first and len(sb.accepted("feishu_app")) == 2
    async with http.get(f"{sb.url}/_sandbox/messages", params={"accepted": "1"}) as resp:
        assert len((await resp.json())["messages"]) == 2


async def test_five_per_second_per_receiver(
    sb: Sandbox, base: str, clock: FakeClock, http: aiohttp.ClientSession
):
    t = await tok(http, base)
    for _ in range(5):
        assert (await send(http, base, t, "oc_1"))[0] == 200
    clock.advance(0.4)
    status, body, headers = await send(http, base, t, "oc_1")
    assert status == 429
    assert (body["code"], body["msg"]) == (99991400, "request trigger frequency limit")
    assert headers["x-ogw-ratelimit-limit"] == "5" and headers["x-ogw-ratelimit-reset"] == "1"
    assert (await send(http, base, t, "ou_a", "open_id"))[0] == 200  # another receiver
    clock.advance(0.6)
    assert (await send(http, base, t, "oc_1"))[0] == 200


async def test_fifty_per_second_per_app(sb: Sandbox, clock: FakeClock, http: aiohttp.ClientSession):
    chats = [{"chat_id": f"oc_{i}", "name": str(i)} for i in range(11)]
    base = sb.feishu_app(APP, SECRET, chats=chats)
    t = await tok(http, base)
    for i in range(50):
        assert (await send(http, base, t, f"oc_{i // 5}"))[0] == 200, i
    status, body, headers = await send(http, base, t, "oc_10")
    assert status == 429 and body["code"] == 99991400
    assert headers["x-ogw-ratelimit-limit"] == "50" and int(headers["x-ogw-ratelimit-reset"]) >= 1
    clock.advance(1)
    assert (await send(http, base, t, "oc_10"))[0] == 200


async def test_forced_throttle(sb: Sandbox, base: str, http: aiohttp.ClientSession):
    t = await tok(http, base)
    sb.feishu_app_throttle("oc_1", times=2)
    for _ in range(2):
        status, body, headers = await send(http, base, t, "oc_1")
        assert (status, body["code"], headers["x-ogw-ratelimit-reset"]) == (429, 99991400, "1")
    assert (await send(http, base, t, "oc_1"))[0] == 200
    assert [r.http_status for r in sb.received()] == [429, 429, 200]


async def test_batch_get_id(sb: Sandbox, base: str, http: aiohttp.ClientSession):
    t = await tok(http, base)
    url = f"{base}/open-apis/contact/v3/users/batch_get_id"
    query = {
        "emails": ["a@example.com", "nobody@example.com"],
        "mobiles": ["+8613800000000", "13900000000"],
        "include_resigned": True,
    }
    status, body = await post(http, url + "?user_id_type=open_id", query, headers=bearer(t))
    assert (status, body["code"]) == (200, 0)
    assert body["data"]["user_list"] == [
        {"user_id": "ou_a", "email": "a@example.com"},
        {"email": "nobody@example.com"},
        {"user_id": "ou_a", "mobile": "+8613800000000"},
        {"mobile": "13900000000"},
    ]
    _, body = await post(
        http, url + "?user_id_type=user_id", {"emails": ["b@example.com"]}, headers=bearer(t)
    )
    assert body["data"]["user_list"] == [{"user_id": "u_b", "email": "b@example.com"}]
    status, body = await post(http, url + "?user_id_type=x", {}, headers=bearer(t))
    assert (status, body["code"]) == (400, 99992402)
    assert sb.feishu_lookups(APP) == 2


async def test_chats_pagination(sb: Sandbox, http: aiohttp.ClientSession):
    chats = [{"chat_id": f"oc_{i}", "name": f"chat {i}"} for i in range(5)]
    base = sb.feishu_app(APP, SECRET, chats=[*chats, CHATS[1]])
    t = await tok(http, base)
    seen, pages, page_token = [], [], ""
    while True:
        params = {"page_size": "2", **({"page_token": page_token} if page_token else {})}
        async with http.get(
            f"{base}/open-apis/im/v1/chats", params=params, headers=bearer(t)
        ) as resp:
            body = await resp.json()
        assert body["code"] == 0
        data = body["data"]
        seen += [(c["chat_id"], c["name"]) for c in data["items"]]
        pages.append(data["has_more"])
        if not data["has_more"]:
            assert data["page_token"] == ""
            break
        page_token = data["page_token"]
    assert seen == [(f"oc_{i}", f"chat {i}") for i in range(5)]  # not oc_out: bot not in it
    assert pages == [True, True, False]
    for params in ({"page_size": "0"}, {"page_token": "bogus"}):
        async with http.get(
            f"{base}/open-apis/im/v1/chats", params=params, headers=bearer(t)
        ) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 99992402


async def test_mentions_and_card_text(sb: Sandbox, base: str, http: aiohttp.ClientSession):
    t = await tok(http, base)
    await send(
        http, base, t, "oc_1", msg=text('<at user_id="ou_a">A</at> <at user_id="all">所有人</at>')
    )
    card = {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": "工作流 通知"}, "template": "red"},
        "elements": [
            {"tag": "markdown", "content": "失败 <at id=ou_b></at>"},
            {"tag": "action", "actions": [
                {"tag": "button", "text": {"tag": "plain_text", "content": "查看"},
                 "url": "https://example.com"}
            ]},
        ],
    }  # fmt: skip
    msg = {"msg_type": "interactive", "content": json.dumps(card, ensure_ascii=False)}
    await send(http, base, t, "oc_1", msg=msg)
    first, second = sb.accepted("feishu_app")
    assert first.mentions == ["ou_a", "all"]
    assert second.mentions == ["ou_b"] and second.msgtype == "interactive"
    assert second.text == "工作流 通知\n失败 <at id=ou_b></at>\n查看"
    assert second.body["content"]["header"]["template"] == "red"


async def test_control_registration_and_demo(sb: Sandbox, http: aiohttp.ClientSession):
    status, reg = await post(
        http,
        f"{sb.url}/_sandbox/feishu_app",
        {"app_id": "cli_x", "app_secret": "s", "chats": [{"chat_id": "oc_x", "name": "x"}]},
    )
    assert (status, reg) == (200, {"ok": True, "url": sb.url})
    t = (await token(http, sb.url, "cli_x", "s"))[1]["tenant_access_token"]
    assert (await send(http, sb.url, t, "oc_x"))[0] == 200
    bad = {"app_id": "cli_y", "app_secret": "s", "users": [{"open_id": "ou"}]}
    assert (await post(http, f"{sb.url}/_sandbox/feishu_app", bad))[0] == 400

    sb.add_demo_destinations()
    [demo] = DEMO["feishu_app"]
    t = (await token(http, sb.url, demo["app_id"], demo["app_secret"]))[1]["tenant_access_token"]
    assert (await send(http, sb.url, t, "oc_demo"))[0] == 200
    assert (await send(http, sb.url, t, "oc_no_bot"))[1]["code"] == 230002
    url = f"{sb.url}/open-apis/contact/v3/users/batch_get_id"
    payload = {"emails": ["qa@example.com"], "mobiles": ["13800000000", "13800000001"]}
    _, body = await post(http, url, payload, headers=bearer(t))
    assert [u.get("user_id") for u in body["data"]["user_list"]] == [
        "ou_demo_qa",
        "ou_demo_admin",
        "ou_demo_qa",
    ]
