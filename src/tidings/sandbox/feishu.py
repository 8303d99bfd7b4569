"""Feishu/Lark custom bot (``POST /open-apis/bot/v2/hook/{token}``).

Verifies like open.feishu.cn: business errors are HTTP 200 ``{"code","msg","data"}``,
malformed requests HTTP 400 code 9499; the signature travels in the body (``timestamp`` in
seconds, ``sign`` = base64 HMAC-SHA256 keyed by "ts\\nsecret" over an empty message);
5 per second and 100 per minute per bot.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tidings.sandbox._http import answer, dedupe, read_incoming, record, strings_in
from tidings.sandbox.clock import Clock
from tidings.sandbox.ratelimit import RollingWindow
from tidings.sandbox.records import MessageLog

PLATFORM = "feishu"
MSG_TYPES = frozenset({"text", "post", "image", "share_chat", "interactive"})
MAX_BODY_BYTES = 20 * 1024
TIMESTAMP_TOLERANCE_S = 3600
RATE_PER_SECOND = 5
RATE_PER_MINUTE = 100

BAD_REQUEST = 9499
_AT_TAG = re.compile(
    r"""<\s*at\b[^>]*?(?<![\w-])(?:user_id|open_id|union_id|id|email)\s*=\s*"""
    r"""(?:"([^"]*)"|'([^']*)'|([^\s>"'/]+))""",
    re.IGNORECASE,
)


def expected_sign(secret: str, timestamp_s: str) -> str:
    """base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def _readable(body: dict[str, Any]) -> Any:
    """The part of the body a person reads (and keywords are matched against)."""
    msg_type = body.get("msg_type")
    content = body.get("content")
    if msg_type == "text":
        text = content.get("text") if isinstance(content, dict) else None
        return text if isinstance(text, str) else ""
    if msg_type == "post":
        return content.get("post") if isinstance(content, dict) else None
    if msg_type == "interactive":
        return body.get("card")
    return None


_STRUCTURAL_KEYS = frozenset(
    {"tag", "template", "schema", "type", "url", "href", "img_key", "image_key", "user_id"}
)


def _structural(key: str) -> bool:
    """Keys whose values nobody reads (element tags, colours, links, ids)."""
    return key in _STRUCTURAL_KEYS or key.endswith("_url")


def message_text(body: dict[str, Any]) -> str:
    """text: content.text; post and card: every readable string value (element tags,
    colours, URLs and ids left out) joined by newlines."""
    readable = _readable(body)
    if isinstance(readable, str):
        return readable
    return "\n".join(strings_in(readable, skip=_structural))


def _at_ids(s: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _AT_TAG.finditer(s)]


def _at_elements(value: Any) -> list[str]:
    found: list[str] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if v.get("tag") == "at":
                uid = v.get("user_id") or v.get("open_id") or v.get("email")
                if isinstance(uid, str) and uid:
                    found.append(uid)
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, list):
            stack.extend(reversed(v))
    return found


def mentions(body: dict[str, Any]) -> list[str]:
    """``<at user_id|id|open_id|email=...>`` in any string, plus post ``{"tag":"at"}``
    elements; user_id/id "all" -> "all"."""
    readable = _readable(body)
    if isinstance(readable, str):
        found = _at_ids(readable)
    else:
        found = [i for s in strings_in(readable) for i in _at_ids(s)] + _at_elements(readable)
    return dedupe(["all" if i.lower() == "all" else i for i in found if i])


@dataclass
class _Bot:
    secret: str | None
    keywords: tuple[str, ...]
    per_second: RollingWindow = field(default_factory=lambda: RollingWindow(RATE_PER_SECOND, 1.0))
    per_minute: RollingWindow = field(default_factory=lambda: RollingWindow(RATE_PER_MINUTE, 60.0))


class Feishu:
    """Registry of simulated custom bots plus the ``/open-apis/bot/v2/hook/{token}`` handler."""

    def __init__(self, log: MessageLog, clock: Clock, rate_limits: bool = True) -> None:
        self._log = log
        self._clock = clock
        self._rate_limits = rate_limits
        self._bots: dict[str, _Bot] = {}
        self._lock = threading.Lock()

    def register(
        self, token: str, secret: str | None = None, keywords: tuple[str, ...] = ()
    ) -> None:
        """Add (or replace) a bot; thread-safe."""
        if not token:
            raise ValueError("feishu bot needs a non-empty token")
        with self._lock:
            self._bots[token] = _Bot(secret or None, tuple(keywords))

    async def handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        inc = await read_incoming(request)
        body = inc.body if isinstance(inc.body, dict) else None
        msg_type = body.get("msg_type") if body is not None else None
        msg_type = msg_type if isinstance(msg_type, str) else None
        with self._lock:
            status, code, msg = self._verify(token, inc.raw, body)
        accepted = code == 0
        record(
            self._log,
            inc,
            platform=PLATFORM,
            destination=token,
            accepted=accepted,
            http_status=status,
            code=code,
            message=msg,
            msgtype=msg_type,
            text=message_text(body) if body is not None else "",
            mentions=mentions(body) if accepted and body is not None else [],
        )
        return answer({"code": code, "data": {}, "msg": msg}, status=status)

    def _verify(self, token: str, raw: bytes, body: dict[str, Any] | None) -> tuple[int, int, str]:
        """(http status, code, msg); called under the lock."""
        bot = self._bots.get(token)
        if bot is None:
            return 200, 19001, "param invalid: incoming webhook access token invalid"
        now = self._clock()
        if self._rate_limits:
            if bot.per_second.full(now) or bot.per_minute.full(now):
                return 200, 11232, "frequency limited"
            bot.per_second.add(now)
            bot.per_minute.add(now)
        if len(raw) > MAX_BODY_BYTES:
            return 400, BAD_REQUEST, "request body too large"
        if body is None or body.get("msg_type") not in MSG_TYPES:
            return 400, BAD_REQUEST, "Bad Request"
        if bot.secret is not None and not self._signed(bot.secret, body, now):
            return (
                200,
                19021,
                ("sign match fail or timestamp is not within one hour from current time"),
            )
        if not _well_formed(body):
            return 400, BAD_REQUEST, "Bad Request"
        if bot.keywords:
            text = message_text(body)
            if not any(k in text for k in bot.keywords):
                return 200, 19024, "Key Words Not Found"
        return 200, 0, "success"

    @staticmethod
    def _signed(secret: str, body: dict[str, Any], now: float) -> bool:
        ts, sign = body.get("timestamp"), body.get("sign")  # timestamp must be a string
        if not (isinstance(ts, str) and ts.isascii() and ts.isdigit() and isinstance(sign, str)):
            return False
        if abs(now - int(ts)) > TIMESTAMP_TOLERANCE_S:
            return False
        return hmac.compare_digest(expected_sign(secret, ts).encode(), sign.encode("utf-8"))


def _well_formed(body: dict[str, Any]) -> bool:
    msg_type = body["msg_type"]
    if msg_type == "interactive":
        return isinstance(body.get("card"), dict)
    content = body.get("content")
    if not isinstance(content, dict):
        return False
    if msg_type == "text":
        return isinstance(content.get("text"), str)
    if msg_type == "post":
        return isinstance(content.get("post"), dict)
    return True
