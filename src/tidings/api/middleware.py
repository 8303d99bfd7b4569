"""Two guards around every request, as plain ASGI: a body-size limit checked before anything
parses the body, and redaction of every known secret in every answer (errors included)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tidings.redact import Redactor

Scope = dict[str, Any]
ASGIApp = Any


def _error(status: int, message: str) -> tuple[dict[str, Any], dict[str, Any]]:
    payload = json.dumps({"error": message, "problems": []}).encode("utf-8")
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode("ascii")),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": payload}


class BodyLimit:
    """Refuse (413) a request whose body is over `limit` bytes, by its Content-Length or, when
    sent in chunks, as soon as the bytes read pass the limit; the app then sees a whole body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = f"request body over {self.limit} bytes (system.api_max_body): send less"
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await self._answer(send, 400, "invalid Content-Length header")
                return
            if declared > self.limit:
                await self._answer(send, 413, too_big)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._answer(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replay_body(b"".join(chunks), receive), send)

    @staticmethod
    async def _answer(send: Any, status: int, message: str) -> None:
        start, body = _error(status, message)
        await send(start)
        await send(body)


def json_variants(secrets: list[str]) -> list[str]:
    """Each secret as it appears inside a JSON string too (quotes, backslashes escaped)."""
    found = list(secrets)
    found += [json.dumps(s, ensure_ascii=False)[1:-1] for s in secrets]
    found += [json.dumps(s)[1:-1] for s in secrets]
    return found


class Redact:
    """Mask every known secret in JSON and text answers before they leave the process."""

    def __init__(self, app: ASGIApp, redactor: Callable[[], Redactor]) -> None:
        self.app = app
        self.redactor = redactor  # read per answer: secrets are added as /notify learns them

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            payload = b"".join(chunks)
            content_type = dict(start.get("headers") or []).get(b"content-type", b"")
            if content_type.startswith((b"application/json", b"text/")):
                payload = self.redactor()(payload.decode("utf-8", "replace")).encode("utf-8")
            headers = [(k, v) for k, v in start.get("headers") or [] if k != b"content-length"]
            headers.append((b"content-length", str(len(payload)).encode("ascii")))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": payload})

        await self.app(scope, receive, capture)


def replay_body(body: bytes, receive: Any) -> Any:
    """An ASGI receive that hands the app the body already read, then the connection's own
    messages (a disconnect)."""
    replayed = False

    async def replay() -> dict[str, Any]:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
