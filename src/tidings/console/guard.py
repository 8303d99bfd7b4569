"""What wraps every answer of the console, as plain ASGI: security headers, redaction of
every known secret, and how long the server took (`Server-Timing`).

Pages are redacted whole; a Server-Sent Events stream is redacted event by event as it goes
(buffering it would stop the live updates). Static files are tidings' own and pass as they are.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

from tidings.redact import Redactor

ASGIApp = Any
Scope = dict[str, Any]

# No script but tidings' own files, no inline script (htmx reads attributes, never evaluates
# them: allowEval is off), nothing from elsewhere. Inline style attributes are allowed: the
# platforms' own colours (DingTalk's <font color>) and the mail's HTML use them.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; frame-src 'self'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def html_variants(secrets: list[str]) -> list[str]:
    """Each secret as it appears in HTML too (entities for & < > " ')."""
    return [*secrets, *(html.escape(s) for s in secrets)]


class Guard:
    """Headers, redaction and timing around the console's answers."""

    def __init__(self, app: ASGIApp, redactor: Callable[[], Redactor]) -> None:
        self.app = app
        self.redactor = redactor  # read per answer: the service learns secrets as it runs

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        static = scope.get("path", "").startswith("/static/")
        start: dict[str, Any] | None = None
        chunks: list[bytes] = []
        streaming = False

        def headers_of(message: dict[str, Any], length: int | None) -> list[tuple[bytes, bytes]]:
            headers = [
                (k, v)
                for k, v in message.get("headers") or []
                if not (length is not None and k == b"content-length")
            ]
            if length is not None:
                headers.append((b"content-length", str(length).encode("ascii")))
            names = {k for k, _ in headers}
            headers += [(k, v) for k, v in _HEADERS if k not in names]
            if not static and b"cache-control" not in names:
                headers.append((b"cache-control", b"no-store"))
            elapsed = (time.perf_counter() - started) * 1000
            headers.append((b"server-timing", f"app;dur={elapsed:.1f}".encode("ascii")))
            return headers

        async def guarded(message: dict[str, Any]) -> None:
            nonlocal start, streaming
            if message["type"] == "http.response.start":
                start = message
                kind = dict(message.get("headers") or []).get(b"content-type", b"")
                streaming = kind.startswith(b"text/event-stream")
                if static or streaming:
                    await send({**message, "headers": headers_of(message, None)})
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            if static:
                await send(message)
                return
            if streaming:
                body = message.get("body", b"")
                if body:
                    body = self.redactor()(body.decode("utf-8", "replace")).encode("utf-8")
                await send({**message, "body": body})
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            payload = b"".join(chunks)
            kind = dict(start.get("headers") or []).get(b"content-type", b"")
            if kind.startswith((b"text/", b"application/json")):
                payload = self.redactor()(payload.decode("utf-8", "replace")).encode("utf-8")
            await send({**start, "headers": headers_of(start, len(payload))})
            await send({"type": "http.response.body", "body": payload})

        await self.app(scope, receive, guarded)


class Dispatch:
    """One ASGI app for uvicorn: the console's paths to the console, everything else (and
    the lifespan, which starts the worker) to the API."""

    def __init__(self, api: ASGIApp, console: ASGIApp, prefixes: tuple[str, ...]) -> None:
        self.api = api
        self.console = console
        self.prefixes = prefixes

    def is_console(self, path: str) -> bool:
        return path == "/" or any(
            path == prefix or path.startswith(prefix + "/") for prefix in self.prefixes
        )

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.is_console(scope.get("path", "")):
            await self.console(scope, receive, send)
        else:
            await self.api(scope, receive, send)
