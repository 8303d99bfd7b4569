"""Guards around every request, as plain ASGI: a body-size limit checked before anything
parses the body, values a database cannot store refused before any route sees them, no API
token in a query string, and redaction of every known secret in every answer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from tidings.errors import Problem
from tidings.redact import Redactor, json_variants

__all__ = ["BodyLimit", "Redact", "json_variants", "unstorable"]

Scope = dict[str, Any]
ASGIApp = Any


def _error(
    status: int, message: str, problems: Sequence[Problem] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    shown = [{"path": p.path, "message": p.message} for p in problems]
    payload = json.dumps({"error": message, "problems": shown}).encode("utf-8")
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


# What may hide a value no database stores: an escaped NUL or surrogate, or a run of digits
# past 64 bits. Only a body that holds one is parsed here (to name the field); others pass.
_SUSPECT = re.compile(rb"\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2}|[0-9]{19}")


def unstorable(body: bytes) -> list[Problem]:
    """The fields of a JSON body that no database can store (NUL, lone surrogates, integers
    past 64 bits), each by its path; [] for any other body (not JSON: the route says so)."""
    if not _SUSPECT.search(body):
        if body.isascii():
            return []
        try:
            body.decode("utf-8")
            return []
        except UnicodeDecodeError:
            pass  # surrogates written as UTF-8 bytes, or not UTF-8 at all (the route says so)
    from tidings import storable

    try:
        # The stdlib reads what orjson refuses (surrogates, huge integers), so it can name them.
        value = json.loads(body)
    except (ValueError, RecursionError):
        return []
    return storable.problems(value, "body")


def _query_problems(query: bytes, names: frozenset[bytes]) -> list[Problem]:
    """What the query string must not hold: a NUL, or a parameter that carries a token."""
    found = []
    lowered = query.lower()
    if b"%00" in lowered or b"\x00" in query:
        found.append(Problem("query", "holds a NUL character (%00): remove it"))
    for pair in lowered.split(b"&"):
        name = pair.split(b"=", 1)[0]
        if name in names:
            found.append(
                Problem(
                    f"query.{name.decode('latin-1')}",
                    "a token parameter: send the token in the Authorization header",
                )
            )
    return found


TOKEN_PARAMS = frozenset(
    {b"token", b"access_token", b"api_token", b"api_key", b"apikey", b"bearer", b"authorization"}
)


class BodyLimit:
    """Refuse (413) a request whose body is over `limit` bytes, by its Content-Length or, when
    sent in chunks, as soon as the bytes read pass the limit; the app then sees a whole body.
    Refuse (422) a body or query string holding what no database stores (one event of a group
    commit must not fail the others), and (400) a token in the query string."""

    def __init__(self, app: ASGIApp, limit: int, token_params: frozenset[bytes] = TOKEN_PARAMS):
        self.app = app
        self.limit = limit
        self.token_params = token_params

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string") or b""
        if query:
            problems = _query_problems(query, self.token_params)
            if problems:
                if problems[0].path == "query":
                    await self._answer(send, 422, "invalid request: query", problems)
                else:  # refused before it could be taken for one
                    message = (
                        "a token in the query string is never accepted (URLs end up in logs): "
                        "send `Authorization: Bearer <token>`, and replace a token sent in a URL"
                    )
                    await self._answer(send, 401, message, problems)
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
        body = b"".join(chunks)
        problems = unstorable(body) if body else []
        if problems:
            fields = ", ".join(dict.fromkeys(p.path for p in problems))
            message = f"invalid request: {fields}; fix the fields listed in problems"
            await self._answer(send, 422, message, problems)
            return
        await self.app(scope, replay_body(body, receive), send)

    @staticmethod
    async def _answer(
        send: Any, status: int, message: str, problems: Sequence[Problem] = ()
    ) -> None:
        start, body = _error(status, message, problems)
        await send(start)
        await send(body)


class Redact:
    """Mask every known secret in JSON and text answers before they leave the process: the
    configuration's, and those a request brought itself (`request.state.secrets`: an ad-hoc
    destination's, for its own answer only). In JSON only string values are masked: a key
    is never rewritten, whatever a caller made a secret."""

    def __init__(self, app: ASGIApp, redactor: Callable[[], Redactor]) -> None:
        self.app = app
        self.redactor = redactor

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
            redactor = self.redactor()
            own = (scope.get("state") or {}).get("secrets")
            if own:
                redactor = redactor.add(json_variants(own))
            if redactor.active and content_type.startswith(b"application/json"):
                payload = redact_json(payload, redactor)
            elif redactor.active and content_type.startswith(b"text/"):
                payload = redactor(payload.decode("utf-8", "replace")).encode("utf-8")
            headers = [(k, v) for k, v in start.get("headers") or [] if k != b"content-length"]
            headers.append((b"content-length", str(len(payload)).encode("ascii")))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": payload})

        await self.app(scope, receive, capture)


def redact_json(payload: bytes, redactor: Redactor) -> bytes:
    """The JSON document with each string value masked (keys as they are); a body that is not
    JSON after all is masked as text."""
    import orjson

    if not redactor.search(payload.decode("utf-8", "replace")):
        return payload  # nearly always: nothing to mask, the bytes go as they are
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return redactor(payload.decode("utf-8", "replace")).encode("utf-8")
    return orjson.dumps(_masked(document, redactor))


def _masked(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, dict):
        return {key: _masked(item, redactor) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, redactor) for item in value]
    return value


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
