"""Assembles the simulators into one aiohttp app on a loopback port, plus control
endpoints (``/_sandbox/...``) so a sandbox in another process can be driven and inspected.

``Sandbox`` is the async API, ``SandboxThread`` runs one on a background loop for sync code
(or while a subprocess talks to it), ``serve`` is the foreground ``tidings sandbox``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

from aiohttp import web

from tidings.sandbox.clock import Clock
from tidings.sandbox.demo import DEMO
from tidings.sandbox.dingtalk import DingTalk
from tidings.sandbox.feishu import Feishu
from tidings.sandbox.inbox import Inbox
from tidings.sandbox.records import PLATFORMS, MessageLog, OnReceive, Received
from tidings.sandbox.wecom import WeCom

SHUTDOWN_TIMEOUT_S = 0.25  # in-flight "timeout" scripts are cancelled, not waited for
# above every platform limit, so the platforms' own size checks give the answer
MAX_REQUEST_BYTES = 8 * 1024 * 1024


class _Core:
    """The simulators and the log: state shared by the HTTP side and the Python API."""

    def __init__(self, clock: Clock, rate_limits: bool, on_receive: OnReceive | None) -> None:
        self.clock = clock
        self.log = MessageLog(clock, on_receive)
        self.dingtalk = DingTalk(self.log, clock, rate_limits)
        self.wecom = WeCom(self.log, clock, rate_limits)
        self.feishu = Feishu(self.log, clock, rate_limits)
        self.inbox = Inbox(self.log)


class _Api:
    """Registration and inspection methods shared by ``Sandbox`` and ``SandboxThread``.
    Registries are lock-protected, so these are safe from any thread, before or after start."""

    _core: _Core

    @property
    def url(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def clock(self) -> Clock:
        return self._core.clock

    def dingtalk_robot(
        self, token: str, secret: str | None = None, keywords: Iterable[str] = ()
    ) -> str:
        """Register a DingTalk robot; returns its send URL."""
        self._core.dingtalk.register(token, secret, tuple(keywords))
        return f"{self.url}/robot/send?access_token={_q(token)}"

    def wecom_robot(self, key: str) -> str:
        """Register a WeCom group robot; returns its send URL."""
        self._core.wecom.register(key)
        return f"{self.url}/cgi-bin/webhook/send?key={_q(key)}"

    def feishu_bot(
        self, token: str, secret: str | None = None, keywords: Iterable[str] = ()
    ) -> str:
        """Register a Feishu custom bot; returns its hook URL."""
        self._core.feishu.register(token, secret, tuple(keywords))
        return f"{self.url}/open-apis/bot/v2/hook/{_q(token)}"

    def webhook_inbox(self, name: str, script: Iterable[Any] = ()) -> str:
        """Create a webhook inbox (or replace its script); returns its URL."""
        self._core.inbox.register(name, script)
        return f"{self.url}/webhook/{_q(name)}"

    def received(
        self, platform: str | None = None, destination: str | None = None
    ) -> list[Received]:
        """Every request in arrival order, rejected ones included."""
        return self._core.log.select(platform, destination)

    def accepted(
        self, platform: str | None = None, destination: str | None = None
    ) -> list[Received]:
        """Only the requests the platform accepted."""
        return self._core.log.select(platform, destination, accepted=True)

    def clear(self) -> None:
        """Forget received messages (registrations and rate windows stay)."""
        self._core.log.clear()

    def add_demo_destinations(self) -> None:
        """Register the ``DEMO`` destinations."""
        for d in DEMO["dingtalk"]:
            self.dingtalk_robot(d["token"], d["secret"], d["keywords"])
        for w in DEMO["wecom"]:
            self.wecom_robot(w["key"])
        for f in DEMO["feishu"]:
            self.feishu_bot(f["token"], f["secret"], f["keywords"])
        for i in DEMO["webhook"]:
            self.webhook_inbox(i["name"], i["script"])


def _q(part: str) -> str:
    return quote(part, safe="")


class Sandbox(_Api):
    """Loopback simulators of DingTalk, WeCom, Feishu and a webhook inbox (async API).

    ``port=0`` picks a free port, reserved as soon as ``url`` is first needed, so
    destinations can be registered (and their URLs handed out) before ``start()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        rate_limits: bool = True,
        on_receive: OnReceive | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._core = _Core(clock or time.time, rate_limits, on_receive)
        self._sock: socket.socket | None = None
        self._runner: web.AppRunner | None = None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            self._sock = socket.create_server((self.host, self.port), family=family)
            self._sock.setblocking(False)
        return self._sock

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (binds the port if not yet bound)."""
        port = self._socket().getsockname()[1]
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def app(self) -> web.Application:
        """The aiohttp application (platform routes + control endpoints)."""
        return build_app(self)

    async def start(self) -> None:
        if self._runner is not None:
            return
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            await web.SockSite(runner, self._socket()).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class SandboxThread(_Api):
    """A ``Sandbox`` on its own event loop in a daemon thread, for synchronous code and
    for tests where a subprocess (e.g. the CLI) talks to the sandbox."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        rate_limits: bool = True,
        on_receive: OnReceive | None = None,
    ) -> None:
        self.sandbox = Sandbox(host, port, clock, rate_limits, on_receive)
        self._core = self.sandbox._core
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.sandbox.url

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=_run_loop, args=(loop,), name="tidings-sandbox", daemon=True
        )
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self.sandbox.start(), loop).result(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.sandbox.stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._loop = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def serve(
    host: str,
    port: int,
    on_receive: OnReceive | None = None,
    clock: Clock | None = None,
    on_ready: Callable[[Sandbox], None] | None = None,
) -> None:
    """Run a sandbox with the demo destinations until cancelled (``tidings sandbox``).
    ``on_ready`` gets the started sandbox (e.g. to print its URLs)."""
    sb = Sandbox(host, port, clock=clock, on_receive=on_receive)
    sb.add_demo_destinations()
    async with sb:
        if on_ready is not None:
            on_ready(sb)
        await asyncio.Event().wait()


# --- HTTP app -------------------------------------------------------------------------


def build_app(sb: Sandbox) -> web.Application:
    """Platform routes at the real platforms' paths, control endpoints under ``/_sandbox``."""
    core = sb._core
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.router.add_post("/robot/send", core.dingtalk.handle)
    app.router.add_post("/cgi-bin/webhook/send", core.wecom.handle)
    app.router.add_post("/open-apis/bot/v2/hook/{token}", core.feishu.handle)
    app.router.add_route("*", "/webhook/{name}", core.inbox.handle)
    control = _Control(sb)
    app.router.add_get("/_sandbox/health", control.health)
    app.router.add_get("/_sandbox/messages", control.messages)
    app.router.add_delete("/_sandbox/messages", control.clear)
    app.router.add_post("/_sandbox/{platform}", control.register)
    return app


class _Control:
    """``/_sandbox/*``: register destinations and read the log over HTTP."""

    def __init__(self, sb: Sandbox) -> None:
        self._sb = sb

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "url": self._sb.url})

    async def messages(self, request: web.Request) -> web.Response:
        q = request.query
        accepted = q.get("accepted")
        rows = self._sb._core.log.select(
            q.get("platform") or None,
            q.get("destination") or None,
            None if accepted in (None, "") else accepted.lower() in ("1", "true", "yes"),
        )
        return web.json_response({"messages": [r.to_json() for r in rows]}, dumps=_dumps)

    async def clear(self, request: web.Request) -> web.Response:
        self._sb.clear()
        return web.json_response({"ok": True})

    async def register(self, request: web.Request) -> web.Response:
        platform = request.match_info["platform"]
        if platform not in PLATFORMS:
            return _error(404, f"unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}")
        try:
            data = await request.json()
        except ValueError:
            return _error(400, "body must be a JSON object")
        if not isinstance(data, dict):
            return _error(400, "body must be a JSON object")
        try:
            url = self._register(platform, data)
        except (KeyError, TypeError, ValueError) as e:
            return _error(400, f"cannot register {platform} destination: {e}")
        return web.json_response({"ok": True, "url": url})

    def _register(self, platform: str, data: dict[str, Any]) -> str:
        sb = self._sb
        if platform == "dingtalk":
            return sb.dingtalk_robot(
                _str(data, "token"), _opt_str(data, "secret"), _strs(data, "keywords")
            )
        if platform == "wecom":
            return sb.wecom_robot(_str(data, "key"))
        if platform == "feishu":
            return sb.feishu_bot(
                _str(data, "token"), _opt_str(data, "secret"), _strs(data, "keywords")
            )
        script = data.get("script") or []
        if not isinstance(script, list):
            raise TypeError("script must be a list")
        return sb.webhook_inbox(_str(data, "name"), script)


def _str(data: dict[str, Any], key: str) -> str:
    v = data.get(key)
    if not isinstance(v, str) or not v:
        raise ValueError(f"{key!r} must be a non-empty string")
    return v


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    v = data.get(key)
    if v is not None and not isinstance(v, str):
        raise ValueError(f"{key!r} must be a string or null")
    return v or None


def _strs(data: dict[str, Any], key: str) -> tuple[str, ...]:
    v = data.get(key) or []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError(f"{key!r} must be a list of strings")
    return tuple(v)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
