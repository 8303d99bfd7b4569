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
from tidings.sandbox.demo import DEMO, DEMO_SMTP, DEMO_SMTP_PORT_OFFSET
from tidings.sandbox.dingtalk import DingTalk
from tidings.sandbox.feishu import Feishu
from tidings.sandbox.feishu_app import FeishuApp
from tidings.sandbox.inbox import Inbox
from tidings.sandbox.msteams import MsTeams
from tidings.sandbox.records import PLATFORMS, MessageLog, OnReceive, Received
from tidings.sandbox.slack import Slack
from tidings.sandbox.smtp import SmtpSandbox
from tidings.sandbox.wecom import WeCom

SHUTDOWN_TIMEOUT_S = 0.25  # in-flight "timeout" scripts are cancelled, not waited for
# above every platform limit, so the platforms' own size checks give the answer
MAX_REQUEST_BYTES = 8 * 1024 * 1024
REGISTRABLE = tuple(p for p in PLATFORMS if p != "mail")  # mail: Sandbox(smtp=...)


class _Core:
    """The simulators and the log: state shared by the HTTP side and the Python API."""

    def __init__(self, clock: Clock, rate_limits: bool, on_receive: OnReceive | None) -> None:
        self.clock = clock
        self.log = MessageLog(clock, on_receive)
        self.dingtalk = DingTalk(self.log, clock, rate_limits)
        self.wecom = WeCom(self.log, clock, rate_limits)
        self.feishu = Feishu(self.log, clock, rate_limits)
        self.feishu_app = FeishuApp(self.log, clock, rate_limits)
        self.msteams = MsTeams(self.log, clock, rate_limits)
        self.slack = Slack(self.log, clock, rate_limits)
        self.inbox = Inbox(self.log)
        self.smtp: SmtpSandbox | None = None

    def configure_smtp(self, host: str, kwargs: dict[str, Any]) -> SmtpSandbox:
        """An SMTP server writing to the shared log (``kwargs``: ``SmtpSandbox`` keywords)."""
        self.smtp = SmtpSandbox(**{"host": host, **kwargs, "log": self.log})
        return self.smtp


class _Api:
    """Registration and inspection methods shared by ``Sandbox`` and ``SandboxThread``.
    Registries are lock-protected, so these are safe from any thread, before or after start."""

    _core: _Core

    @property
    def url(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _sandbox(self) -> Sandbox:  # pragma: no cover - overridden
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

    def feishu_app(
        self,
        app_id: str,
        app_secret: str,
        *,
        users: Iterable[dict[str, Any]] = (),
        chats: Iterable[dict[str, Any]] = (),
    ) -> str:
        """Register a Feishu self-built app; returns the open API base URL (``url``).
        users: {open_id, user_id, union_id?, mobile?, email?, name?};
        chats: {chat_id, name, bot_in_chat=True}."""
        self._core.feishu_app.register(app_id, app_secret, users, chats)
        return self.url

    def feishu_token_requests(self, app_id: str) -> int:
        """How many tenant_access_token requests named ``app_id`` (failed ones included)."""
        return self._core.feishu_app.token_requests(app_id)

    def feishu_lookups(self, app_id: str) -> int:
        """How many users/batch_get_id calls the app made."""
        return self._core.feishu_app.lookups(app_id)

    def expire_feishu_tokens(self, app_id: str) -> None:
        """Invalidate the app's tokens now (forces a client's refresh-and-retry path)."""
        self._core.feishu_app.expire_tokens(app_id)

    def feishu_app_throttle(self, receive_id: str, times: int = 1) -> None:
        """The next ``times`` app message sends to ``receive_id`` answer HTTP 429."""
        self._core.feishu_app.throttle(receive_id, times)

    def msteams_webhook(self, name: str) -> str:
        """Create a Microsoft Teams incoming webhook; returns its URL (unknown names are
        created on first use too)."""
        self._core.msteams.register(name)
        return f"{self.url}/msteams/{_q(name)}"

    def slack_webhook(self, name: str, archived: bool = False) -> str:
        """Register a Slack incoming webhook (or archive its channel); returns its URL."""
        return self.url + self._core.slack.register(name, archived)

    @property
    def smtp(self) -> SmtpSandbox | None:
        """The SMTP server (``Sandbox(smtp=...)`` or the demo's), else None."""
        return self._core.smtp

    def received(
        self, platform: str | None = None, destination: str | None = None
    ) -> list[Received]:
        """Every request in arrival order, rejected ones included."""
        return self._core.log.select(platform, destination)

    def accepted(
        self, platform: str | None = None, destination: str | None = None
    ) -> list[Received]:
        """Only the requests that became visible messages: accepted by the platform and not
        an idempotent repeat (a Feishu app ``uuid`` sent again is answered with success and
        recorded with ``duplicate`` set, but is left out here)."""
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
        for a in DEMO["feishu_app"]:
            self.feishu_app(a["app_id"], a["app_secret"], users=a["users"], chats=a["chats"])
        for t in DEMO["msteams"]:
            self.msteams_webhook(t["name"])
        for w in DEMO["slack"]:
            self.slack_webhook(w["name"])
        sb = self._sandbox()
        if self._core.smtp is None:  # port = sandbox port + 25 if fixed, else ephemeral
            port = sb.port + DEMO_SMTP_PORT_OFFSET if sb.port else 0
            smtp = self._core.configure_smtp(sb.host, {**DEMO_SMTP, "port": port})
            if sb.running:
                smtp.start()


def _q(part: str) -> str:
    return quote(part, safe="")


class Sandbox(_Api):
    """Loopback simulators of DingTalk, WeCom, Feishu (bots and self-built apps), Microsoft
    Teams, a webhook inbox and optionally SMTP (async API).

    ``port=0`` picks a free port, reserved as soon as ``url`` is first needed, so
    destinations can be registered (and their URLs handed out) before ``start()``.
    ``smtp``: ``SmtpSandbox`` keywords (host defaults to ``host``) for an SMTP server
    started and stopped with the sandbox, its rows in the shared log (platform "mail").
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        rate_limits: bool = True,
        on_receive: OnReceive | None = None,
        smtp: dict[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._core = _Core(clock or time.time, rate_limits, on_receive)
        if smtp is not None:
            self._core.configure_smtp(host, smtp)
        self._sock: socket.socket | None = None
        self._runner: web.AppRunner | None = None

    def _sandbox(self) -> Sandbox:
        return self

    @property
    def running(self) -> bool:
        return self._runner is not None

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
            if self._core.smtp is not None:
                await asyncio.to_thread(self._core.smtp.start)
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if self._core.smtp is not None:
            await asyncio.to_thread(self._core.smtp.stop)
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
        smtp: dict[str, Any] | None = None,
    ) -> None:
        self.sandbox = Sandbox(host, port, clock, rate_limits, on_receive, smtp)
        self._core = self.sandbox._core
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.sandbox.url

    def _sandbox(self) -> Sandbox:
        return self.sandbox

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
    """Run a sandbox with the demo destinations until cancelled (``tidings sandbox``),
    SMTP included (``DEMO_SMTP``, on ``port + 25``, or an ephemeral port when ``port`` is 0).
    ``on_ready`` gets the started sandbox (e.g. to print its URLs; ``sb.smtp.port``)."""
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
    app.router.add_post(
        "/open-apis/auth/v3/tenant_access_token/internal", core.feishu_app.handle_token
    )
    app.router.add_post("/open-apis/im/v1/messages", core.feishu_app.handle_send)
    app.router.add_get("/open-apis/im/v1/chats", core.feishu_app.handle_chats)
    app.router.add_post(
        "/open-apis/contact/v3/users/batch_get_id", core.feishu_app.handle_batch_get_id
    )
    app.router.add_post("/msteams/{name}", core.msteams.handle)
    app.router.add_post("/services/{team}/{name}/{secret}", core.slack.handle)
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
        if platform == "mail":
            return _error(400, "mail is not registered: start the sandbox with smtp=...")
        if platform not in REGISTRABLE:
            msg = f"unknown platform {platform!r}; use one of {', '.join(REGISTRABLE)}"
            return _error(404, msg)
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
        if platform == "feishu_app":
            return sb.feishu_app(
                _str(data, "app_id"),
                _str(data, "app_secret"),
                users=_objects(data, "users"),
                chats=_objects(data, "chats"),
            )
        if platform == "msteams":
            return sb.msteams_webhook(_str(data, "name"))
        if platform == "slack":
            return sb.slack_webhook(_str(data, "name"), bool(data.get("archived")))
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


def _objects(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    v = data.get(key) or []
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise ValueError(f"{key!r} must be a list of objects")
    return v


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
