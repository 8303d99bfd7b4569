"""Feishu/Lark self-built app: tenant access tokens, ``im/v1/messages``, user id lookup and
the bot's chat list, at open.feishu.cn's paths.

Behaves like the real open platform where clients go wrong: a token is reused until it has
less than 30 minutes left (the old one stays valid until its own expiry), every call needs
``Authorization: Bearer``, ``content`` is a JSON *string*, the bot must be in the chat,
``uuid`` makes a send idempotent for an hour, 5 sends per second per receiver and 50 per
app answer HTTP 429 with ``x-ogw-ratelimit-*`` headers. Business errors of the message API
are HTTP 400 with ``{"code","msg","error":{"log_id"}}``; the token API answers HTTP 200.

Only message sends are recorded as ``Received`` rows; token requests and id lookups are
counted (``token_requests``, ``lookups``) so a test can assert a client caches them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tidings.sandbox import feishu
from tidings.sandbox._http import Incoming, answer, read_incoming, record
from tidings.sandbox.clock import Clock
from tidings.sandbox.ratelimit import RollingWindow
from tidings.sandbox.records import MessageLog

PLATFORM = "feishu_app"
TOKEN_LIFETIME_S = 7200
TOKEN_RENEW_BELOW_S = 1800  # a token with less left than this is replaced by a new one
UUID_WINDOW_S = 3600
RATE_PER_RECEIVER = 5  # per second, per chat or user
RATE_PER_APP = 50  # per second
RECEIVE_ID_TYPES = ("open_id", "union_id", "user_id", "email", "chat_id")
USER_ID_TYPES = ("open_id", "user_id", "union_id")
MSG_TYPES = frozenset(
    {"text", "post", "image", "file", "audio", "media", "sticker", "interactive", "share_chat",
     "share_user", "system"}
)  # fmt: skip
MAX_CONTENT_BYTES = {"text": 150 * 1024}
MAX_CARD_BYTES = 30 * 1024  # post and interactive
PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100
LOOKUP_MAX = 50

MISSING_TOKEN = (
    99991661,
    "Missing access token for authorization. Please make a request with token attached.",
)
INVALID_TOKEN = (
    99991663,
    "Invalid access token for authorization. Please make a request with token attached.",
)
RATE_LIMITED = (99991400, "request trigger frequency limit")
FIELD_INVALID = (99992402, "field validation failed")
BAD_CONTENT = (230001, "invalid message content")
NOT_IN_CHAT = (230002, "Bot/User can NOT be out of the chat.")
NO_AVAILABILITY = (230013, "Bot has NO availability to this user.")
TOO_LONG = (230025, "The length of the message content reaches its limit.")


@dataclass(frozen=True, slots=True)
class _User:
    open_id: str
    user_id: str
    union_id: str | None
    mobile: str | None
    email: str | None
    name: str | None

    def id_of(self, id_type: str) -> str | None:
        return {
            "open_id": self.open_id,
            "user_id": self.user_id,
            "union_id": self.union_id,
            "email": self.email,
        }.get(id_type)


@dataclass(frozen=True, slots=True)
class _Chat:
    chat_id: str
    name: str
    bot_in_chat: bool


@dataclass
class _App:
    secret: str
    users: tuple[_User, ...]
    chats: dict[str, _Chat]
    current: str | None = None  # the token the token API hands out while it lasts
    token_requests: int = 0
    lookups: int = 0
    sent: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)  # uuid ->
    per_app: RollingWindow = field(default_factory=lambda: RollingWindow(RATE_PER_APP, 1.0))
    per_receiver: dict[str, RollingWindow] = field(default_factory=dict)


class ApiError(Exception):
    """A business error: HTTP status, code, msg (and extra ``error`` fields)."""

    def __init__(self, status: int, code_msg: tuple[int, str], **error: Any) -> None:
        super().__init__(code_msg[1])
        self.status = status
        self.code, self.msg = code_msg
        self.error = error
        self.headers: dict[str, str] | None = None


def _user(data: Any) -> _User:
    if not isinstance(data, dict):
        raise TypeError("each user must be an object")
    for key in ("open_id", "user_id"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"user {key!r} must be a non-empty string")
    for key in ("union_id", "mobile", "email", "name"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"user {key!r} must be a string")
    return _User(
        data["open_id"],
        data["user_id"],
        data.get("union_id") or None,
        data.get("mobile") or None,
        data.get("email") or None,
        data.get("name") or None,
    )


def _chat(data: Any) -> _Chat:
    if not isinstance(data, dict):
        raise TypeError("each chat must be an object")
    chat_id, name, bot = data.get("chat_id"), data.get("name", ""), data.get("bot_in_chat", True)
    if not isinstance(chat_id, str) or not chat_id:
        raise ValueError("chat 'chat_id' must be a non-empty string")
    if not isinstance(name, str) or not isinstance(bot, bool):
        raise ValueError("chat 'name' must be a string and 'bot_in_chat' a boolean")
    return _Chat(chat_id, name, bot)


def _mobile(m: str) -> str:
    """Mainland numbers match with or without +86, as the lookup API does."""
    m = m.replace(" ", "").replace("-", "")
    return m[3:] if m.startswith("+86") else m


def readable_body(msg_type: str, content: Any) -> dict[str, Any] | None:
    """The message in the custom bot's shape, so feishu.py's text and @ extraction apply
    (an app sends a post's locales and a card directly as ``content``)."""
    if msg_type == "text":
        return {"msg_type": "text", "content": content}
    if msg_type == "post":
        return {"msg_type": "post", "content": {"post": content}}
    if msg_type == "interactive":
        return {"msg_type": "interactive", "card": content}
    return None


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"chats:{offset}".encode()).decode("ascii")


def _page_offset(token: str) -> int:
    try:
        prefix, _, n = base64.urlsafe_b64decode(token.encode("ascii")).decode().partition(":")
    except (binascii.Error, UnicodeError, ValueError) as e:
        raise ApiError(400, FIELD_INVALID) from e
    if prefix != "chats" or not n.isdigit():
        raise ApiError(400, FIELD_INVALID)
    return int(n)


class FeishuApp:
    """Registry of simulated self-built apps plus the open API handlers."""

    def __init__(self, log: MessageLog, clock: Clock, rate_limits: bool = True) -> None:
        self._log = log
        self._clock = clock
        self._rate_limits = rate_limits
        self._apps: dict[str, _App] = {}
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (app_id, expires at)
        self._throttles: dict[str, int] = {}  # receive_id -> forced 429s left
        self._token_requests: dict[str, int] = {}  # by app_id as sent, unknown ones too
        self._lock = threading.Lock()

    # --- Python API ---------------------------------------------------------------------

    def register(
        self,
        app_id: str,
        app_secret: str,
        users: Iterable[dict[str, Any]] = (),
        chats: Iterable[dict[str, Any]] = (),
    ) -> None:
        """Add an app, or replace its secret, users and chats (issued tokens, counters and
        rate windows stay); thread-safe."""
        if not app_id or not app_secret:
            raise ValueError("feishu app needs a non-empty app_id and app_secret")
        parsed_users = tuple(_user(u) for u in users)
        parsed_chats = {c.chat_id: c for c in (_chat(c) for c in chats)}
        with self._lock:
            app = self._apps.get(app_id)
            if app is None:
                self._apps[app_id] = _App(app_secret, parsed_users, parsed_chats)
            else:
                app.secret, app.users, app.chats = app_secret, parsed_users, parsed_chats

    def expire_tokens(self, app_id: str) -> None:
        """Invalidate the app's tokens now (the next token request gets a new one)."""
        with self._lock:
            for token in [t for t, (a, _) in self._tokens.items() if a == app_id]:
                del self._tokens[token]
            if app_id in self._apps:
                self._apps[app_id].current = None

    def throttle(self, receive_id: str, times: int = 1) -> None:
        """The next ``times`` sends to ``receive_id`` answer 429 (reset 1), limits on or off."""
        if times < 0:
            raise ValueError("times must be >= 0")
        with self._lock:
            self._throttles[receive_id] = times

    def token_requests(self, app_id: str) -> int:
        with self._lock:
            return self._token_requests.get(app_id, 0)

    def lookups(self, app_id: str) -> int:
        with self._lock:
            app = self._apps.get(app_id)
            return app.lookups if app is not None else 0

    # --- tenant_access_token ------------------------------------------------------------

    async def handle_token(self, request: web.Request) -> web.Response:
        inc = await read_incoming(request)
        body = inc.body if isinstance(inc.body, dict) else {}
        app_id, app_secret = body.get("app_id"), body.get("app_secret")
        with self._lock:
            if isinstance(app_id, str):
                self._token_requests[app_id] = self._token_requests.get(app_id, 0) + 1
            app = self._apps.get(app_id) if isinstance(app_id, str) else None
            if app is None or not isinstance(app_secret, str):
                return answer({"code": 10003, "msg": "invalid param"})
            if not secrets.compare_digest(app.secret.encode(), app_secret.encode()):
                return answer({"code": 10014, "msg": "app secret invalid"})
            now = self._clock()
            expires = self._tokens[app.current][1] if app.current in self._tokens else now
            token = app.current
            if token is None or expires - now < TOKEN_RENEW_BELOW_S:
                token = app.current = f"t-{secrets.token_hex(20)}"
                expires = now + TOKEN_LIFETIME_S
                self._tokens[token] = (str(app_id), expires)
        return answer(
            {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": int(expires - now)}
        )

    def _authorize(self, headers: dict[str, str]) -> str:
        """The app_id the bearer token belongs to; called under the lock."""
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(400, MISSING_TOKEN)
        found = self._tokens.get(token.strip())
        if found is None or self._clock() >= found[1] or found[0] not in self._apps:
            raise ApiError(400, INVALID_TOKEN)
        return found[0]

    # --- im/v1/messages -----------------------------------------------------------------

    async def handle_send(self, request: web.Request) -> web.Response:
        inc = await read_incoming(request)
        body = inc.body if isinstance(inc.body, dict) else None
        msg_type = body.get("msg_type") if body is not None else None
        msg_type = msg_type if isinstance(msg_type, str) else None
        receive_id = body.get("receive_id") if body is not None else None
        receive_id = receive_id if isinstance(receive_id, str) else ""
        content, content_ok = _parse_content(body)
        extra: dict[str, Any] = {"receive_id_type": inc.query.get("receive_id_type")}
        headers: dict[str, str] | None = None
        try:
            with self._lock:
                data = self._send(inc, body, msg_type, receive_id, content, content_ok, extra)
            status, code, msg, out = 200, 0, "success", {"code": 0, "msg": "success", "data": data}
        except ApiError as e:
            status, code, msg, out, headers = e.status, e.code, e.msg, self._error(e), e.headers
        readable = readable_body(msg_type, content) if content_ok and msg_type else None
        recorded = body
        if body is not None and content_ok:
            recorded = {**body, "content": content}
        record(
            self._log,
            inc,
            platform=PLATFORM,
            destination=receive_id,
            accepted=code == 0,
            http_status=status,
            code=code,
            message=msg,
            msgtype=msg_type,
            body=recorded if body is not None else inc.body,
            text=feishu.message_text(readable) if readable is not None else "",
            mentions=feishu.mentions(readable) if readable is not None and code == 0 else [],
            extra=extra,
        )
        return answer(out, status=status, headers=headers)

    def _error(self, e: ApiError) -> dict[str, Any]:
        log_id = time.strftime("%Y%m%d%H%M%S", time.gmtime(self._clock()))
        return {
            "code": e.code,
            "msg": e.msg,
            "error": {"log_id": log_id + secrets.token_hex(9).upper(), **e.error},
        }

    def _send(
        self,
        inc: Incoming,
        body: dict[str, Any] | None,
        msg_type: str | None,
        receive_id: str,
        content: Any,
        content_ok: bool,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        """Checks in the real API's order; returns the answer's ``data``. Under the lock."""
        app_id = self._authorize(inc.headers)
        extra["app_id"] = app_id
        app = self._apps[app_id]
        id_type = inc.query.get("receive_id_type")
        if id_type not in RECEIVE_ID_TYPES:
            raise ApiError(400, FIELD_INVALID, field_violations=[_violation("receive_id_type")])
        if body is None or not receive_id:
            raise ApiError(400, FIELD_INVALID, field_violations=[_violation("receive_id")])
        if msg_type not in MSG_TYPES:
            raise ApiError(400, FIELD_INVALID, field_violations=[_violation("msg_type")])
        if not content_ok or not _well_formed(msg_type, content):
            raise ApiError(400, BAD_CONTENT)
        limit = MAX_CONTENT_BYTES.get(msg_type, MAX_CARD_BYTES)
        if len(body["content"].encode("utf-8")) > limit:
            raise ApiError(400, TOO_LONG)
        now = self._clock()
        if self._throttles.get(receive_id, 0) > 0:
            self._throttles[receive_id] -= 1
            raise _limited(RATE_PER_RECEIVER, 1)
        chat_id, receiver = self._resolve(app, id_type, receive_id)
        if self._rate_limits:
            window = app.per_receiver.setdefault(receiver, RollingWindow(RATE_PER_RECEIVER, 1.0))
            if window.full(now):
                raise _limited(RATE_PER_RECEIVER, window.free_in(now))
            if app.per_app.full(now):
                raise _limited(RATE_PER_APP, app.per_app.free_in(now))
            window.add(now)
            app.per_app.add(now)
        uuid = body.get("uuid")
        if isinstance(uuid, str) and uuid:
            for key in [k for k, (at, _) in app.sent.items() if now - at >= UUID_WINDOW_S]:
                del app.sent[key]
            if uuid in app.sent:
                data = app.sent[uuid][1]
                extra.update(duplicate=True, message_id=data["message_id"])
                return data
        millis = str(int(now * 1000))
        data = {
            "message_id": f"om_{secrets.token_hex(16)}",
            "root_id": "",
            "parent_id": "",
            "msg_type": msg_type,
            "create_time": millis,
            "update_time": millis,
            "deleted": False,
            "updated": False,
            "chat_id": chat_id,
            "sender": {"id": app_id, "id_type": "app_id", "sender_type": "app"},
            "body": {"content": body["content"]},
        }
        if isinstance(uuid, str) and uuid:
            app.sent[uuid] = (now, data)
        extra["message_id"] = data["message_id"]
        return data

    @staticmethod
    def _resolve(app: _App, id_type: str, receive_id: str) -> tuple[str, str]:
        """(chat_id the message lands in, receiver key for the per-receiver limit)."""
        if id_type == "chat_id":
            chat = app.chats.get(receive_id)
            if chat is None or not chat.bot_in_chat:
                raise ApiError(400, NOT_IN_CHAT)
            return chat.chat_id, chat.chat_id
        user = next((u for u in app.users if u.id_of(id_type) == receive_id), None)
        if user is None:
            raise ApiError(400, NO_AVAILABILITY)
        p2p = "oc_" + hashlib.sha256(user.open_id.encode()).hexdigest()[:32]
        return p2p, user.open_id

    # --- contact/v3/users/batch_get_id --------------------------------------------------

    async def handle_batch_get_id(self, request: web.Request) -> web.Response:
        inc = await read_incoming(request)
        try:
            with self._lock:
                app = self._apps[self._authorize(inc.headers)]
                data = self._batch_get_id(app, inc)
        except ApiError as e:
            return answer(self._error(e), status=e.status)
        return answer({"code": 0, "msg": "success", "data": data})

    @staticmethod
    def _batch_get_id(app: _App, inc: Incoming) -> dict[str, Any]:
        id_type = inc.query.get("user_id_type", "open_id")
        body = inc.body if isinstance(inc.body, dict) else None
        emails = (body.get("emails") or []) if body is not None else None
        mobiles = (body.get("mobiles") or []) if body is not None else None
        if (
            id_type not in USER_ID_TYPES
            or not isinstance(emails, list)
            or not isinstance(mobiles, list)
            or not all(isinstance(x, str) for x in [*emails, *mobiles])
            or len(emails) > LOOKUP_MAX
            or len(mobiles) > LOOKUP_MAX
        ):
            raise ApiError(400, FIELD_INVALID)
        app.lookups += 1
        found: list[dict[str, Any]] = []
        for key, values in (("email", emails), ("mobile", mobiles)):
            for value in values:
                user = next((u for u in app.users if _same(key, u, value)), None)
                uid = user.id_of(id_type) if user is not None else None
                # an unknown address comes back without user_id, as the real API answers
                found.append({"user_id": uid, key: value} if uid else {key: value})
        return {"user_list": found}

    # --- im/v1/chats --------------------------------------------------------------------

    async def handle_chats(self, request: web.Request) -> web.Response:
        inc = await read_incoming(request)
        try:
            with self._lock:
                app = self._apps[self._authorize(inc.headers)]
                items = [c for c in app.chats.values() if c.bot_in_chat]
            size_s = inc.query.get("page_size", str(PAGE_SIZE_DEFAULT))
            if not size_s.isdigit() or not 1 <= int(size_s) <= PAGE_SIZE_MAX:
                raise ApiError(400, FIELD_INVALID)
            token = inc.query.get("page_token", "")
            start = _page_offset(token) if token else 0
        except ApiError as e:
            return answer(self._error(e), status=e.status)
        end = start + int(size_s)
        page = [
            {
                "chat_id": c.chat_id,
                "name": c.name,
                "description": "",
                "external": False,
                "chat_status": "normal",
            }
            for c in items[start:end]
        ]
        has_more = end < len(items)
        token = _page_token(end) if has_more else ""
        data = {"items": page, "has_more": has_more, "page_token": token}
        return answer({"code": 0, "msg": "success", "data": data})


def _same(key: str, user: _User, value: str) -> bool:
    if key == "email":
        return user.email is not None and user.email.lower() == value.lower()
    return user.mobile is not None and _mobile(user.mobile) == _mobile(value)


def _violation(name: str) -> dict[str, str]:
    return {"field": name, "description": f"{name} is invalid or missing"}


def _limited(limit: int, reset: int) -> ApiError:
    e = ApiError(429, RATE_LIMITED)
    e.headers = {"x-ogw-ratelimit-limit": str(limit), "x-ogw-ratelimit-reset": str(reset)}
    return e


def _parse_content(body: dict[str, Any] | None) -> tuple[Any, bool]:
    """(parsed content, True) if ``content`` is a string holding a JSON object."""
    raw = body.get("content") if body is not None else None
    if not isinstance(raw, str):
        return None, False
    try:
        content = json.loads(raw)
    except ValueError:
        return None, False
    return content, isinstance(content, dict)


def _well_formed(msg_type: str, content: dict[str, Any]) -> bool:
    if msg_type == "text":
        return isinstance(content.get("text"), str)
    if msg_type == "post":
        return bool(content) and all(isinstance(v, dict) for v in content.values())
    if msg_type == "image":
        return isinstance(content.get("image_key"), str)
    return True
