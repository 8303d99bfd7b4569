"""Microsoft Teams incoming webhook (``POST /msteams/{name}``) taking Adaptive Cards.

Answers like a real Teams webhook: HTTP 200 with the text ``1`` on success and plain-text
errors otherwise (400 for a payload Teams cannot render, 413 above 28 KB, 429 above 4
requests per second). An ``<at>`` mention only notifies if the card's ``msteams.entities``
declares it *and* its text appears in a TextBlock, the usual reason mentions show as text.
"""

from __future__ import annotations

import threading
from typing import Any

from aiohttp import web

from tidings.sandbox._http import dedupe, read_incoming, record
from tidings.sandbox.clock import Clock
from tidings.sandbox.ratelimit import RollingWindow
from tidings.sandbox.records import MessageLog

PLATFORM = "msteams"
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
MAX_BODY_BYTES = 28 * 1024
RATE_PER_SECOND = 4

OK_TEXT = "1"
BAD_PAYLOAD = "Bad payload received by generic incoming webhook."
TOO_LARGE = "Payload too large"
RATE_LIMITED = "Microsoft Teams endpoint returned HTTP error 429"


def cards(body: Any) -> list[dict[str, Any]] | None:
    """The Adaptive Cards of a valid payload, None if Teams would refuse it."""
    if not isinstance(body, dict):
        return None
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return None
    found = []
    for a in attachments:
        if not isinstance(a, dict) or a.get("contentType") != ADAPTIVE:
            return None
        card = a.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            return None
        found.append(card)
    return found


def _walk(value: Any) -> list[dict[str, Any]]:
    """Every object inside a card, depth-first in document order."""
    out: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            out.append(v)
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, list):
            stack.extend(reversed(v))
    return out


def _text_blocks(card: dict[str, Any]) -> list[str]:
    return [
        o["text"]
        for o in _walk(card.get("body"))
        if o.get("type") == "TextBlock" and isinstance(o.get("text"), str)
    ]


def _action_titles(card: dict[str, Any]) -> list[str]:
    return [
        o["title"]
        for o in _walk([card.get("body"), card.get("actions")])
        if str(o.get("type", "")).startswith("Action.") and isinstance(o.get("title"), str)
    ]


def message_text(found: list[dict[str, Any]]) -> str:
    """TextBlock texts, then action titles, of every card, joined by newlines."""
    return "\n".join(s for c in found for s in [*_text_blocks(c), *_action_titles(c)] if s)


def mentions(found: list[dict[str, Any]]) -> list[str]:
    """Ids of ``mention`` entities whose ``<at>`` text appears in a TextBlock."""
    ids: list[str] = []
    for card in found:
        msteams = card.get("msteams")
        entities = msteams.get("entities") if isinstance(msteams, dict) else None
        if not isinstance(entities, list):
            continue
        texts = _text_blocks(card)
        for e in entities:
            if not isinstance(e, dict) or e.get("type") != "mention":
                continue
            who, at = e.get("mentioned"), e.get("text")
            uid = who.get("id") if isinstance(who, dict) else None
            said = isinstance(at, str) and at and any(at in t for t in texts)
            if isinstance(uid, str) and uid and said:
                ids.append(uid)
    return dedupe(ids)


class MsTeams:
    """Named webhooks (created on first use) plus the ``/msteams/{name}`` handler."""

    def __init__(self, log: MessageLog, clock: Clock, rate_limits: bool = True) -> None:
        self._log = log
        self._clock = clock
        self._rate_limits = rate_limits
        self._windows: dict[str, RollingWindow] = {}
        self._lock = threading.Lock()

    def register(self, name: str) -> None:
        """Create the webhook (a no-op if it exists); thread-safe."""
        if not name or "/" in name:
            raise ValueError("msteams webhook name must be non-empty and contain no '/'")
        with self._lock:
            self._windows.setdefault(name, RollingWindow(RATE_PER_SECOND, 1.0))

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        inc = await read_incoming(request)
        found = cards(inc.body) if inc.json_ok else None
        with self._lock:
            window = self._windows.setdefault(name, RollingWindow(RATE_PER_SECOND, 1.0))
            now = self._clock()
            if len(inc.raw) > MAX_BODY_BYTES:
                status, message = 413, TOO_LARGE
            elif self._rate_limits and window.full(now):
                status, message = 429, RATE_LIMITED
            else:
                window.add(now)
                status, message = (200, OK_TEXT) if found is not None else (400, BAD_PAYLOAD)
        accepted = status == 200
        record(
            self._log,
            inc,
            platform=PLATFORM,
            destination=name,
            accepted=accepted,
            http_status=status,
            code=None,
            message=message,
            msgtype=ADAPTIVE if found is not None else None,
            text=message_text(found) if found is not None else "",
            mentions=mentions(found) if accepted and found is not None else [],
        )
        return web.Response(status=status, text=message, content_type="text/plain")
