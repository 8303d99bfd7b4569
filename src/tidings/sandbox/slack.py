"""Slack incoming webhook (``POST /services/T00SANDBOX/{name}/sandbox-{name}``) taking Block
Kit.

Answers like Slack: HTTP 200 with the text ``ok``; plain-text codes otherwise: 400
``invalid_payload`` (not a JSON object, nothing to show) or ``invalid_blocks`` (over Slack's
block limits: 50 blocks, 3,000 characters a section, 150 a header, 75 a button), 404
``no_service`` (an unknown or disabled webhook), 410 ``channel_is_archived``, 429
``rate_limited`` with ``Retry-After`` above one message a second. Mentions are the
``<@U…>`` / ``<!channel>`` / ``<!here>`` tokens of the text and the mrkdwn blocks.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tidings.sandbox._http import dedupe, read_incoming, record, strings_in
from tidings.sandbox.clock import Clock
from tidings.sandbox.ratelimit import RollingWindow
from tidings.sandbox.records import MessageLog

PLATFORM = "slack"
TEAM = "T00SANDBOX"
RATE_PER_SECOND = 1
_MENTION = re.compile(r"<(@[UW][A-Z0-9]+|!channel|!here|!everyone)(?:\|[^>]*)?>")


@dataclass
class _Hook:
    secret: str
    archived: bool = False
    window: RollingWindow | None = None


def problem(body: Any) -> str | None:
    """Why Slack would refuse this payload (its error code), None if it shows it."""
    if not isinstance(body, dict):
        return "invalid_payload"
    blocks: list[Any] = list(body.get("blocks") or [])
    for attachment in body.get("attachments") or []:
        if not isinstance(attachment, dict):
            return "invalid_payload"
        blocks.extend(attachment.get("blocks") or [])
    if not (body.get("text") or blocks or body.get("attachments")):
        return "invalid_payload"
    if len(body.get("blocks") or []) > 50 or any(not isinstance(b, dict) for b in blocks):
        return "invalid_blocks"
    for block in blocks:
        text = (
            (block.get("text") or {}).get("text", "") if isinstance(block.get("text"), dict) else ""
        )
        kind = block.get("type")
        if kind == "header" and len(text) > 150:
            return "invalid_blocks"
        if kind == "section" and len(text) > 3000:
            return "invalid_blocks"
        if kind == "actions":
            for element in block.get("elements") or []:
                label = (element.get("text") or {}).get("text", "")
                if len(label) > 75 or len(element.get("url", "")) > 3000:
                    return "invalid_blocks"
        if kind not in ("header", "section", "divider", "context", "actions"):
            return "invalid_blocks"
    for attachment in body.get("attachments") or []:
        if len(attachment.get("blocks") or []) > 50:
            return "invalid_blocks"
    return None


def message_text(body: dict[str, Any]) -> str:
    """The fallback text, then every text of its blocks, joined by newlines."""
    parts = [body.get("text") or ""]
    for attachment in body.get("attachments") or []:
        parts.extend(strings_in(attachment.get("blocks") or [], skip=_not_text))
    parts.extend(strings_in(body.get("blocks") or [], skip=_not_text))
    return "\n".join(p for p in parts if p)


def _not_text(key: str) -> bool:
    return key not in ("text", "elements", "fields")


def mentions(text: str) -> list[str]:
    """Member ids and `channel` / `here` / `everyone` mentioned, in order, each once."""
    return dedupe([m.removeprefix("@").removeprefix("!") for m in _MENTION.findall(text)])


class Slack:
    """Named incoming webhooks plus the ``/services/...`` handler."""

    def __init__(self, log: MessageLog, clock: Clock, rate_limits: bool = True) -> None:
        self._log = log
        self._clock = clock
        self._rate_limits = rate_limits
        self._hooks: dict[str, _Hook] = {}
        self._lock = threading.Lock()

    def register(self, name: str, archived: bool = False) -> str:
        """Create (or change) a webhook; returns its path. Thread-safe."""
        if not name or "/" in name:
            raise ValueError("slack webhook name must be non-empty and contain no '/'")
        with self._lock:
            hook = self._hooks.setdefault(name, _Hook(f"sandbox-{name}"))
            hook.archived = archived
            hook.window = hook.window or RollingWindow(RATE_PER_SECOND, 1.0)
            return f"/services/{TEAM}/{name}/{hook.secret}"

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        inc = await read_incoming(request)
        headers: dict[str, str] = {}
        with self._lock:
            hook = self._hooks.get(name)
            now = self._clock()
            if (
                hook is None
                or request.match_info["team"] != TEAM
                or request.match_info["secret"] != hook.secret
            ):
                status, code = 404, "no_service"
            elif hook.archived:
                status, code = 410, "channel_is_archived"
            elif self._rate_limits and hook.window is not None and hook.window.full(now):
                status, code = 429, "rate_limited"
                headers["Retry-After"] = str(hook.window.free_in(now))
            else:
                if hook.window is not None:
                    hook.window.add(now)
                found = problem(inc.body) if inc.json_ok else "invalid_payload"
                status, code = (400, found) if found else (200, "ok")
        accepted = status == 200
        text = message_text(inc.body) if inc.json_ok and isinstance(inc.body, dict) else ""
        record(
            self._log,
            inc,
            platform=PLATFORM,
            destination=name,
            accepted=accepted,
            http_status=status,
            code=None,
            message=code,
            msgtype="blocks" if accepted else None,
            text=text,
            mentions=mentions(text) if accepted else [],
        )
        return web.Response(status=status, text=code, content_type="text/plain", headers=headers)
