"""DingTalk custom robot (``POST /robot/send?access_token=T[&timestamp=MS&sign=S]``).

Verifies like oapi.dingtalk.com: errors are HTTP 200 with ``errcode`` in the body; the
signature is checked against the query value decoded once (so a sign URL-encoded twice
fails with "sign not match", the most common client bug); keywords are matched against
what a person reads; 20 accepted messages per minute, then 10 minutes of throttling.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tidings.sandbox._http import answer, dedupe, read_incoming, record
from tidings.sandbox.clock import Clock
from tidings.sandbox.ratelimit import RollingWindow
from tidings.sandbox.records import MessageLog

PLATFORM = "dingtalk"
MSGTYPES = frozenset({"text", "link", "markdown", "actionCard", "feedCard"})
MAX_BODY_BYTES = 20000
RATE_LIMIT = 20
RATE_WINDOW_S = 60.0
THROTTLE_S = 600.0
TIMESTAMP_TOLERANCE_MS = 3600 * 1000


def expected_sign(secret: str, timestamp_ms: str) -> str:
    """base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), not URL-encoded."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def message_text(body: dict[str, Any]) -> str:
    """What a person reads (titles included: DingTalk matches keywords against them too)."""
    msgtype = body.get("msgtype")
    part = body.get(msgtype) if isinstance(msgtype, str) else None
    if not isinstance(part, dict):
        return ""
    if msgtype == "text":
        keys: tuple[str, ...] = ("content",)
    elif msgtype == "feedCard":
        links = part.get("links")
        titles = (
            [x.get("title") for x in links if isinstance(x, dict)]
            if isinstance(links, list)
            else []
        )
        return "\n".join(t for t in titles if isinstance(t, str) and t)
    else:  # markdown, actionCard, link
        keys = ("title", "text")
    return "\n".join(v for k in keys if isinstance(v := part.get(k), str) and v)


def mentions(body: dict[str, Any], text: str) -> list[str]:
    """Who DingTalk would notify: only text/markdown support @; a mobile or user id in
    ``at`` counts only if "@<it>" also appears in the text; ``isAtAll`` -> "all"."""
    if body.get("msgtype") not in ("text", "markdown"):
        return []
    at = body.get("at")
    if not isinstance(at, dict):
        return []
    found: list[str] = []
    for key in ("atMobiles", "atUserIds"):
        ids = at.get(key)
        if isinstance(ids, list):
            found.extend(str(i) for i in ids if f"@{i}" in text)
    if at.get("isAtAll") is True:
        found.append("all")
    return dedupe(found)


@dataclass
class _Robot:
    secret: str | None
    keywords: tuple[str, ...]
    window: RollingWindow = field(default_factory=lambda: RollingWindow(RATE_LIMIT, RATE_WINDOW_S))
    throttled_until: float = float("-inf")


class DingTalk:
    """Registry of simulated robots plus the ``/robot/send`` handler."""

    def __init__(self, log: MessageLog, clock: Clock, rate_limits: bool = True) -> None:
        self._log = log
        self._clock = clock
        self._rate_limits = rate_limits
        self._robots: dict[str, _Robot] = {}
        self._lock = threading.Lock()

    def register(
        self, token: str, secret: str | None = None, keywords: tuple[str, ...] = ()
    ) -> None:
        """Add (or replace) a robot; thread-safe."""
        if not token:
            raise ValueError("dingtalk robot needs a non-empty access token")
        with self._lock:
            self._robots[token] = _Robot(secret or None, tuple(keywords))

    async def handle(self, request: web.Request) -> web.Response:
        inc = await read_incoming(request)
        token = inc.query.get("access_token", "")
        body = inc.body if isinstance(inc.body, dict) else None
        msgtype = body.get("msgtype") if body is not None else None
        msgtype = msgtype if isinstance(msgtype, str) else None
        text = message_text(body) if body is not None else ""
        with self._lock:
            code, msg = self._verify(token, request.content_type, inc.raw, inc.query, body, text)
        accepted = code == 0
        record(
            self._log,
            inc,
            platform=PLATFORM,
            destination=token,
            accepted=accepted,
            http_status=200,
            code=code,
            message=msg,
            msgtype=msgtype,
            text=text,
            mentions=mentions(body, text) if accepted and body is not None else [],
        )
        return answer({"errcode": code, "errmsg": msg})

    def _verify(
        self,
        token: str,
        content_type: str,
        raw: bytes,
        query: dict[str, str],
        body: dict[str, Any] | None,
        text: str,
    ) -> tuple[int, str]:
        """(errcode, errmsg) in the order the real robot checks; called under the lock."""
        if not token:
            return 400101, "access_token is missing"
        robot = self._robots.get(token)
        if robot is None:
            return 300001, "token is not exist"
        now = self._clock()
        if self._rate_limits and now < robot.throttled_until:
            return 130101, "send too fast, exceed 20 times per minute"
        if content_type != "application/json":
            return 43004, "invalid HTTP header Content-Type, expected application/json"
        if len(raw) > MAX_BODY_BYTES:
            return 460101, "message too long, exceed 20000 bytes"
        msgtype = body.get("msgtype") if body is not None else None
        if not msgtype:
            return 400402, "missing param"
        if msgtype not in MSGTYPES:
            return 400105, "unsupported msgtype"
        if robot.secret is not None:
            ts, sign = query.get("timestamp", ""), query.get("sign", "")
            if (
                not (ts.isascii() and ts.isdigit())
                or abs(now * 1000 - int(ts)) > TIMESTAMP_TOLERANCE_MS
            ):
                return 310000, "invalid timestamp"
            if not hmac.compare_digest(
                expected_sign(robot.secret, ts).encode(), sign.encode("utf-8")
            ):
                return 310000, "sign not match"
        if robot.keywords and not any(k in text for k in robot.keywords):
            return 310000, "keywords not in content"
        if self._rate_limits:
            if robot.window.full(now):
                robot.throttled_until = now + THROTTLE_S
                return 130101, "send too fast, exceed 20 times per minute"
            robot.window.add(now)
        return 0, "ok"
