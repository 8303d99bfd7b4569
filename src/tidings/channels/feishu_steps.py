"""The I/O steps a Feishu app message needs besides the send (DESIGN.md: declared steps with a
cache): the tenant token, the task creator's id looked up by phone or email, and the app's
own rate limit.

All are kept in the worker's cache (`SendIO.cache`): one token per app, reused until less
than 30 minutes of it are left; an id for an hour ("nobody has it" for five minutes); the
app's recent sends.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tidings.channels.base import (
    Destination,
    Fail,
    Limits,
    Outcome,
    Response,
    Retry,
    accepted,
    encode_json,
    platform_code,
)
from tidings.channels.ports import SendIO

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
LOOKUP_PATH = "/open-apis/contact/v3/users/batch_get_id"
RENEW_BEFORE = 1800.0  # a token with less left is replaced (the platform's own rule)
FOUND_TTL = 3600.0  # how long a looked-up id is reused
MISSING_TTL = 300.0  # how long "no such user" is believed
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
LOOKUP_TYPES = ("open_id", "user_id", "union_id")
INVALID_TOKEN = 99991663
RATE_LIMITED = 99991400
_PERMISSION = 99991672
# An app's messages, whichever chats and people they go to (specs/platforms.md).
APP_LIMITS = Limits(per_second=50, per_minute=1000)


class App:
    """What deliver needs of a destination: where, which app, its secret."""

    def __init__(self, destination: Destination) -> None:
        self.base = destination.url.rstrip("/")
        self.ref = str(destination.options.get("im_app", ""))
        self.app_id = str(destination.options.get("app_id", ""))
        self.secret = destination.secret or ""
        self.cache_key = (self.base, self.app_id)


async def post(io: SendIO, url: str, body: dict[str, Any], token: str | None = None) -> Response:
    headers = dict(JSON_HEADERS)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await io.http("POST", url, headers, encode_json(body))


def app_sends(app: App) -> tuple[str, ...]:
    """The key an app's sends are paced under, across its chats and people."""
    return ("feishu_app_sends", *app.cache_key)


async def pace_app(io: SendIO, app: App) -> Retry | None:
    """Wait until one more message of this app fits its limits and count it; a Retry when
    that is more than a second away (the minute's 1000 are used up).

    The worker paces each destination (a chat, a person) on its own; this window spans all
    of an app's destinations in this worker. Several workers may still exceed it together:
    the platform's 429 is then retried after the reset it names.
    """
    # io.pace counts the send when it fits, without an await in between: concurrent sends
    # cannot both take the last slot. The caller tells io.answered when it got the answer.
    while (wait := io.pace(app_sends(app), APP_LIMITS)) > 0:
        if wait > 1.0:
            return Retry(
                f"the app's limit of {APP_LIMITS.per_minute} messages a minute is reached",
                after=wait,
            )
        await io.sleep(wait)
    return None


def code_of(response: Response) -> Any:
    data = response.json()
    return data.get("code") if isinstance(data, dict) else None


async def tenant_token(io: SendIO, app: App, stale: str | None) -> str | Outcome:
    """The app's tenant token: cached until less than 30 minutes are left, fetched by one
    sender at a time (concurrent sends wait for it rather than each fetching one)."""
    key = ("feishu_token", *app.cache_key)
    lock = io.cache.setdefault(("feishu_token_lock", *app.cache_key), asyncio.Lock())
    async with lock:
        cached = io.cache.get(key)
        now = io.now()
        if cached and cached[0] != stale and cached[1] - now > RENEW_BEFORE:
            return str(cached[0])
        io.cache.pop(key, None)
        body = {"app_id": app.app_id, "app_secret": app.secret}
        response = await post(io, app.base + TOKEN_PATH, body)
        data = response.json()
        code = platform_code(data.get("code")) if isinstance(data, dict) else None
        where = f"system.im_apps {app.ref!r} (app_id {app.app_id})"
        if response.status == 429 or code == RATE_LIMITED:
            return Retry(
                f"{where}: token request rate limited", after=reset_after(response), code=code
            )
        if response.status >= 500 and code != 0:
            return Retry(f"{where}: token request answered HTTP {response.status}", code=code)
        if not isinstance(data, dict):
            return Fail(
                f"{where}: the token request answered HTTP {response.status}, not the open "
                f"platform's JSON: {response.body[:100]!r} — check its base_url / type"
            )
        token = data.get("tenant_access_token")
        if code != 0 or not accepted(response) or not isinstance(token, str) or not token:
            message = data.get("msg", "")
            hints = {
                10014: "its app_secret is wrong",
                10003: "its app_id is unknown to the platform (or type lark / lark_intl is wrong)",
            }
            hint = hints.get(code, "") if isinstance(code, int) else ""
            hint = hint or "check its app_id and app_secret"
            return Fail(
                f"{where}: the open platform refused the app's credentials: HTTP "
                f"{response.status}, code {code}: "
                f"{message} — {hint}",
                code,
            )
        expire = data.get("expire")
        lifetime = float(expire) if isinstance(expire, int | float) else 7200.0
        io.cache[key] = (token, now + lifetime)
        return token


async def lookup(
    io: SendIO, app: App, token: str, executor: dict[str, Any], id_type: str
) -> tuple[str, str] | Outcome | None:
    """(receive_id_type, id) of the task creator, by phone then email; None when the token
    was refused (refresh and ask again)."""
    name = executor.get("name") or "?"
    mobile, email = executor.get("mobile") or "", executor.get("email") or ""
    if id_type == "email" and email:
        return "email", email
    kind = id_type if id_type in LOOKUP_TYPES else "open_id"
    now = io.now()
    wanted = [("mobile", mobile), ("email", email)]
    wanted = [(field, value) for field, value in wanted if value]

    def cached(field: str, value: str) -> str | None:
        entry = io.cache.get(("feishu_id", *app.cache_key, kind, field, value))
        return entry[0] if entry and entry[1] > now else None

    missing = [(f, v) for f, v in wanted if cached(f, v) is None]
    if missing:
        query = {
            "mobiles": [v for f, v in missing if f == "mobile"],
            "emails": [v for f, v in missing if f == "email"],
            "include_resigned": False,
        }
        url = f"{app.base}{LOOKUP_PATH}?user_id_type={kind}"
        response = await post(io, url, query, token)
        data = response.json()
        code = platform_code(data.get("code")) if isinstance(data, dict) else None
        if code == INVALID_TOKEN:
            return None
        if response.status == 429 or code == RATE_LIMITED:
            return Retry("user lookup rate limited", after=reset_after(response), code=code)
        if code != 0 or not accepted(response):
            if response.status >= 500:
                return Retry(f"user lookup answered HTTP {response.status}", code=code)
            message = (
                data.get("msg", "")
                if isinstance(data, dict)
                else response.body[:200].decode("utf-8", "replace")
            )
            hint = (
                "the app needs contact:user.id:readonly to look users up"
                if code == _PERMISSION
                else ""
            )
            return Fail(
                f"looking up the task creator {name!r} failed: code {code}: {message}"
                + (f" — {hint}" if hint else ""),
                code,
            )
        found = {}
        for item in (data.get("data") or {}).get("user_list") or []:
            for field in ("mobile", "email"):
                if item.get(field):
                    found[(field, item[field])] = item.get("user_id") or ""
        for field, value in missing:
            uid = found.get((field, value), "")
            ttl = FOUND_TTL if uid else MISSING_TTL
            io.cache[("feishu_id", *app.cache_key, kind, field, value)] = (uid, now + ttl)
    for field, value in wanted:
        uid = cached(field, value)
        if uid:
            return kind, uid
    tried = " or ".join(f"{field} {value}" for field, value in wanted)
    return Fail(
        f"the task creator {name!r} is not a Feishu user the app {app.ref!r} can see: no user "
        f"has {tried} (batch_get_id) — fix their phone / email under users:, or widen the "
        "app's contact scope (通讯录权限范围)"
    )


def reset_after(response: Response) -> float:
    """Seconds until the rate window resets: x-ogw-ratelimit-reset, else Retry-After, else 1."""
    for name in ("x-ogw-ratelimit-reset", "retry-after"):
        for key, value in response.headers.items():
            if key.lower() == name:
                try:
                    return max(0.0, float(int(float(value))))
                except ValueError:
                    pass
    return 1.0
