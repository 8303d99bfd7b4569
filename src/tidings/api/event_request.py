"""The one parser of an event request (POST /api/v1/events and /preview): its query
parameters, idempotency key headers and JSON body, read with Starlette's own
`request.query_params`, `request.headers` and `request.body()`.

The routes declare only the Request: FastAPI's per-request solving of declared parameters cost
more CPU than planning and recording the event (bench/README.md, "The HTTP API under load").
So each parameter is defined once here, as a `Param` that both checks its value and describes
it in the OpenAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from starlette.requests import Request

from tidings.api.errors import invalid_request
from tidings.errors import Problem
from tidings.statuses import STATUSES

MAX_PARAM = 200  # characters of `workflow` and of the idempotency key headers


@dataclass(frozen=True)
class Param:
    """A query parameter or header of the request: how it is checked and documented."""

    name: str
    where: Literal["query", "header"]
    description: str
    max_length: int | None = None
    choices: tuple[str, ...] = ()

    def read(self, request: Request, problems: list[Problem]) -> str | None:
        """Its value as FastAPI would take it (a repeated query parameter: the last one; a
        repeated header: the first one), or None; what is wrong with it goes to `problems`."""
        source = request.query_params if self.where == "query" else request.headers
        value = source.get(self.name)
        if value is None:
            return None
        if self.max_length is not None and len(value) > self.max_length:
            message = f"string should have at most {self.max_length} characters"
            problems.append(Problem(f"{self.where}.{self.name}", message))
        elif self.choices and value not in self.choices:
            message = f"must be one of {', '.join(self.choices)}"
            problems.append(Problem(f"{self.where}.{self.name}", message))
        return value

    def openapi(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.choices:
            schema["enum"] = list(self.choices)
        return {
            "name": self.name,
            "in": self.where,
            "required": False,
            "description": self.description,
            "schema": schema,
        }


_STATUS = "Notify as this status (default: the snapshot's)."
KEY_DESCRIPTION = (
    "An idempotency key: the same key twice is recorded once (the second post answers 200 "
    "with the first one's deliveries)."
)
PLAN_PARAMS = (
    Param("workflow", "query", "Default: the snapshot's workflow_name.", max_length=MAX_PARAM),
    Param("status", "query", _STATUS, choices=STATUSES),
    Param("previous_status", "query", "The status before, for `changed` rules.", choices=STATUSES),
)
EVENT_PARAMS = (
    *PLAN_PARAMS,
    Param("x-zadig-event-uuid", "header", f"Zadig's event id. {KEY_DESCRIPTION}", MAX_PARAM),
    Param("idempotency-key", "header", f"Without X-Zadig-Event-UUID: {KEY_DESCRIPTION}", MAX_PARAM),
)

_EXAMPLE = {
    "object_kind": "workflow",
    "event": "workflow",
    "workflow": {
        "task_id": 12,
        "workflow_name": "release",
        "project_name": "shop",
        "status": "failed",
        "task_creator": "admin",
    },
}
_EVENT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": True,
                "description": "Zadig's webhook payload, or its `workflow` object alone (a task "
                "snapshot; docs/snapshot.md): task_id, workflow_name and status are required.",
            },
            "examples": {"zadig webhook": {"value": _EXAMPLE}},
        }
    },
}


def openapi(params: tuple[Param, ...]) -> dict[str, Any]:
    """The operation's parameters and body in the OpenAPI document (FastAPI documents the
    parameters a route declares; these routes declare only the Request)."""
    return {"parameters": [p.openapi() for p in params], "requestBody": _EVENT_BODY}


@dataclass(frozen=True)
class EventRequest:
    payload: dict[str, Any]
    workflow: str | None
    status: str | None
    previous_status: str | None
    key: str | None  # the idempotency key: X-Zadig-Event-UUID, else Idempotency-Key


def _is_json(content_type: str | None) -> bool:
    """FastAPI's rule for a JSON body: application/json or application/*+json, parameters
    allowed (parsed by the stdlib's email module, as FastAPI does, unless it is the plain
    value nearly every client sends)."""
    if content_type == "application/json":
        return True
    if content_type is None:
        return False
    import email.message

    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def _json_object(request: Request, problems: list[Problem]) -> dict[str, Any]:
    """The body, a JSON object sent as JSON; what is wrong with it goes to `problems`. The
    body is within system.api_max_body: the BodyLimit middleware refused it otherwise."""
    body = await request.body()
    if not body:
        why = "required: Zadig's webhook payload or a task snapshot, as JSON"
    elif not _is_json(request.headers.get("content-type")):
        why = "send JSON with Content-Type: application/json"
    else:
        try:
            # orjson, as for every stored body: strict JSON (no NaN), a tenth of json's time.
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:  # not JSON, or not UTF-8
            why = f"not valid JSON (UTF-8): {exc}"
        else:
            if isinstance(payload, dict):
                return payload
            why = "must be a JSON object: Zadig's webhook payload or a task snapshot"
    problems.append(Problem("body", why))
    return {}


async def read_event(request: Request, params: tuple[Param, ...] = EVENT_PARAMS) -> EventRequest:
    """The one parser of an event request (POST /events, /preview): its query parameters,
    idempotency key headers and JSON body, every problem in one 422."""
    problems: list[Problem] = []
    values = {param.name: param.read(request, problems) for param in params}
    payload = await _json_object(request, problems)
    if problems:
        raise invalid_request(problems)
    return EventRequest(
        payload,
        values["workflow"],
        values["status"],
        values["previous_status"],
        values.get("x-zadig-event-uuid") or values.get("idempotency-key"),
    )
