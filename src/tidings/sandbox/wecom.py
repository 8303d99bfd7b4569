"""WeCom (企业微信) group robot (``POST /cgi-bin/webhook/send?key=K``).

No signature; errors are HTTP 200 with ``errcode``; byte limits on UTF-8 content; 20
requests per minute per key, failed ones included (as WeCom counts them).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from aiohttp import web

from tidings.sandbox._http import answer, dedupe, read_incoming, record
from tidings.sandbox.clock import Clock
from tidings.sandbox.ratelimit import RollingWindow
from tidings.sandbox.records import MessageLog

PLATFORM = "wecom"
MSGTYPES = frozenset(
    {"text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"}
)
TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
RATE_LIMIT = 20
RATE_WINDOW_S = 60.0
_MD_MENTION = re.compile(r"<@([^<>\s]+)>")


def message_text(body: dict[str, Any]) -> str:
    """What a person reads: text.content / markdown(.v2).content, news and card titles."""
    msgtype = body.get("msgtype")
    part = body.get(msgtype) if isinstance(msgtype, str) else None
    if not isinstance(part, dict):
        return ""
    if msgtype in ("text", "markdown", "markdown_v2"):
        content = part.get("content")
        return content if isinstance(content, str) else ""
    if msgtype == "news":
        articles = part.get("articles")
        out = []
        for a in articles if isinstance(articles, list) else []:
            if isinstance(a, dict):
                out += [v for k in ("title", "description") if isinstance(v := a.get(k), str)]
        return "\n".join(out)
    if msgtype == "template_card":
        out = []
        for key in ("main_title", "quote_area"):
            sub = part.get(key)
            if isinstance(sub, dict):
                out += [
                    v for k in ("title", "desc", "quote_text") if isinstance(v := sub.get(k), str)
                ]
        if isinstance(v := part.get("sub_title_text"), str):
            out.append(v)
        return "\n".join(out)
    return ""


def mentions(body: dict[str, Any]) -> list[str]:
    """text: mentioned_list (+ mentioned_mobile_list), "@all" -> "all"; markdown: every
    ``<@id>`` in the content (``<@all>`` too) and nothing else; markdown_v2 cannot @."""
    msgtype = body.get("msgtype")
    part = body.get(msgtype) if isinstance(msgtype, str) else None
    if not isinstance(part, dict):
        return []
    found: list[str] = []
    if msgtype == "text":
        for key in ("mentioned_list", "mentioned_mobile_list"):
            ids = part.get(key)
            if isinstance(ids, list):
                found += ["all" if str(i) == "@all" else str(i) for i in ids if str(i)]
    elif msgtype == "markdown":
        content = part.get("content")
        if isinstance(content, str):
            found += _MD_MENTION.findall(content)
    return dedupe(found)


def _content_error(msgtype: str, part: Any) -> tuple[int, str] | None:
    if not isinstance(part, dict):
        return 44004, "empty content"
    if msgtype in ("text", "markdown", "markdown_v2"):
        content = part.get("content")
        if not isinstance(content, str) or not content:
            return 44004, "empty content"
        size = len(content.encode("utf-8"))
        if msgtype == "text" and size > TEXT_MAX_BYTES:
            return 40058, f"content exceed max length {TEXT_MAX_BYTES}"
        if msgtype != "text" and size > MARKDOWN_MAX_BYTES:
            return 40058, f"{msgtype}.content exceed max length {MARKDOWN_MAX_BYTES}"
    elif msgtype == "news":
        articles = part.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            return 45008, "invalid news articles count, must be 1..8"
    elif not part:
        return 44004, "empty content"
    return None


class WeCom:
    """Registry of simulated group robots plus the ``/cgi-bin/webhook/send`` handler."""

    def __init__(self, log: MessageLog, clock: Clock, rate_limits: bool = True) -> None:
        self._log = log
        self._clock = clock
        self._rate_limits = rate_limits
        self._robots: dict[str, RollingWindow] = {}
        self._lock = threading.Lock()

    def register(self, key: str) -> None:
        """Add (or reset) a robot; thread-safe."""
        if not key:
            raise ValueError("wecom robot needs a non-empty key")
        with self._lock:
            self._robots[key] = RollingWindow(RATE_LIMIT, RATE_WINDOW_S)

    async def handle(self, request: web.Request) -> web.Response:
        inc = await read_incoming(request)
        key = inc.query.get("key", "")
        body = inc.body if isinstance(inc.body, dict) else None
        msgtype = body.get("msgtype") if body is not None else None
        msgtype = msgtype if isinstance(msgtype, str) else None
        with self._lock:
            code, msg = self._verify(key, body)
        accepted = code == 0
        record(
            self._log,
            inc,
            platform=PLATFORM,
            destination=key,
            accepted=accepted,
            http_status=200,
            code=code,
            message=msg,
            msgtype=msgtype,
            text=message_text(body) if body is not None else "",
            mentions=mentions(body) if accepted and body is not None else [],
        )
        return answer({"errcode": code, "errmsg": msg})

    def _verify(self, key: str, body: dict[str, Any] | None) -> tuple[int, str]:
        window = self._robots.get(key)
        if window is None:
            return 93000, (
                "invalid webhook url, hint: the key is not registered in the tidings sandbox "
                "(sb.wecom_robot(key) or POST /_sandbox/wecom)"
            )
        if self._rate_limits:
            now = self._clock()
            if window.full(now):
                return 45009, "api freq out of limit"
            window.add(now)
        if body is None or not body:
            return 44004, "empty content"
        msgtype = body.get("msgtype")
        if msgtype not in MSGTYPES:
            return 40008, "invalid message type"
        return _content_error(msgtype, body.get(msgtype)) or (0, "ok")
