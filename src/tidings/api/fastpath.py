"""POST /api/v1/events, the request CI systems make for every task event, answered without
FastAPI's per-request machinery: resolving its parameters and dependencies costs more CPU
than planning and recording the event (bench/README.md, "The HTTP API under load").

Only a request that the FastAPI route would accept is answered here: a known token allowed to
send, each of its query parameters and key headers given once and within their limits, and a
JSON object body sent as application/json. Anything else goes on to the route, which answers
it (401, 403, 422, ...) as docs/api.md says. Both plan and record with `accept_event`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from tidings.api.auth import ADMIN, SEND, Tokens
from tidings.api.errors import ApiError, error_response
from tidings.api.middleware import replay_body
from tidings.api.routes.events import MAX_PARAM, accept_event
from tidings.api.schemas import EventAccepted
from tidings.api.service import Service
from tidings.errors import InputError

PATH = "/api/v1/events"
_QUERY = ("workflow", "status", "previous_status")
_HEADERS = (b"authorization", b"content-type", b"x-zadig-event-uuid", b"idempotency-key")


class FastEvents:
    """ASGI middleware: answers the common POST /api/v1/events itself, passes on the rest."""

    def __init__(self, app: Any, service: Service, tokens: Tokens) -> None:
        self.app = app
        self.service = service
        self.tokens = tokens

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        params = self._params(scope)
        if params is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            payload = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            await self.app(scope, replay_body(body, receive), send)
            return
        try:
            code, answer = await accept_event(self.service, payload, *params)
        except ApiError as exc:
            response = error_response(exc.status, exc.message, exc.problems, exc.headers)
        except InputError as exc:
            response = error_response(422, exc.message, exc.problems)
        else:
            content = EventAccepted.model_validate(answer).model_dump_json().encode("utf-8")
            await send(
                {
                    "type": "http.response.start",
                    "status": code,
                    "headers": [
                        (b"content-length", str(len(content)).encode("ascii")),
                        (b"content-type", b"application/json"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": content})
            return
        await response(scope, receive, send)

    def _params(
        self, scope: dict[str, Any]
    ) -> tuple[str | None, str | None, str | None, str | None] | None:
        """workflow, status, previous_status and the idempotency key, if the route would
        take them as they are and the token may send; None to leave it to the route."""
        found: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in _HEADERS:
                if name in found:
                    return None  # which one wins is the route's business
                found[name] = value.decode("latin-1")
        media_type = found.get(b"content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            return None
        scheme, _, credentials = found.get(b"authorization", "").partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            return None
        principal = self.tokens.identify(credentials)
        if principal is None or not principal.scopes & {SEND, ADMIN}:
            return None
        event_uuid = found.get(b"x-zadig-event-uuid")
        idempotency_key = found.get(b"idempotency-key")
        if any(v is not None and len(v) > MAX_PARAM for v in (event_uuid, idempotency_key)):
            return None
        query: dict[str, str] = {}
        if scope["query_string"]:
            for name, value in parse_qsl(scope["query_string"].decode("latin-1"), True):
                if name in _QUERY:
                    if name in query:
                        return None
                    query[name] = value
        workflow = query.get("workflow")
        if workflow is not None and len(workflow) > MAX_PARAM:
            return None
        key = event_uuid or idempotency_key
        return workflow, query.get("status"), query.get("previous_status"), key
