"""Generic webhook inbox (``/webhook/{name}``, any method): records everything and answers
from a script first (failures, dropped connections, slowness), so retry and timeout logic
can be tested against a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any, Literal

from aiohttp import web

from tidings.sandbox._http import answer, read_incoming, record
from tidings.sandbox.records import MessageLog

PLATFORM = "webhook"
TIMEOUT_SLEEP_S = 30.0

ScriptItem = int | Literal["reset", "timeout"] | tuple[Literal["delay"], float]
"""An HTTP status to answer; "reset" drops the connection unanswered; "timeout" answers
nothing for 30 s; ("delay", seconds) answers 200 after sleeping."""


def normalize_script(script: Iterable[Any]) -> list[ScriptItem]:
    """Validate script items (JSON lists ``["delay", 0.5]`` become tuples)."""
    out: list[ScriptItem] = []
    for item in script:
        if isinstance(item, bool):
            raise ValueError(f"invalid script item {item!r}")
        if isinstance(item, int):
            if not 200 <= item <= 599:
                raise ValueError(f"script status must be 200..599, got {item}")
            out.append(item)
        elif item in ("reset", "timeout"):
            out.append(item)
        elif (
            isinstance(item, list | tuple)
            and len(item) == 2
            and item[0] == "delay"
            and isinstance(item[1], int | float)
            and not isinstance(item[1], bool)
            and item[1] >= 0
        ):
            out.append(("delay", float(item[1])))
        else:
            raise ValueError(
                f"invalid script item {item!r}: use an HTTP status, 'reset', 'timeout' "
                "or ('delay', seconds)"
            )
    return out


class Inbox:
    """Named inboxes (created on first use) plus the ``/webhook/{name}`` handler."""

    def __init__(self, log: MessageLog) -> None:
        self._log = log
        self._scripts: dict[str, deque[ScriptItem]] = {}
        self._lock = threading.Lock()

    def register(self, name: str, script: Iterable[Any] = ()) -> None:
        """Create the inbox or replace its pending script; thread-safe."""
        if not name or "/" in name:
            raise ValueError("webhook inbox name must be non-empty and contain no '/'")
        items = normalize_script(script)
        with self._lock:
            self._scripts[name] = deque(items)

    def _next(self, name: str) -> ScriptItem:
        with self._lock:
            script = self._scripts.setdefault(name, deque())
            return script.popleft() if script else 200

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        inc = await read_incoming(request)
        item = self._next(name)
        if item == "reset":
            status, message = 0, "scripted reset: connection dropped without an answer"
        elif item == "timeout":
            status, message = 0, f"scripted timeout: no answer for {TIMEOUT_SLEEP_S:g} s"
        elif isinstance(item, tuple):
            status, message = 200, f"ok after scripted delay of {item[1]:g} s"
        else:
            status = item
            message = "ok" if status < 300 else f"scripted {status}"
        record(
            self._log,
            inc,
            platform=PLATFORM,
            destination=name,
            accepted=200 <= status < 300,
            http_status=status,
            code=None,
            message=message,
            msgtype=None,
            text="",
            mentions=[],
            # The bytes as sent (UTF-8 JSON from tidings), for checking signatures over them.
            extra={"raw": inc.raw.decode("utf-8", "replace")},
        )
        if item == "reset":
            _drop(request)
            return web.Response(status=500)  # never written: the transport is gone
        if item == "timeout":
            await asyncio.sleep(TIMEOUT_SLEEP_S)  # cancelled by Sandbox.stop()
            return answer({"ok": True})
        if isinstance(item, tuple):
            await asyncio.sleep(item[1])
            return answer({"ok": True})
        if status in (204, 205, 304):
            return web.Response(status=status)
        if status < 300:
            return answer({"ok": True}, status=status)
        headers = {"Retry-After": "1"} if status == 429 else None
        return answer({"ok": False, "error": message}, status=status, headers=headers)


def _drop(request: web.Request) -> None:
    """Abort with a TCP RST (SO_LINGER 0): the client sees a connection error, not an answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
