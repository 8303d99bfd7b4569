"""POST /hooks/github and /hooks/gitlab: the CI platforms' own webhooks, signed by them (no
bearer token). Thin: the signature is checked (`sources.verify`) before anything is parsed,
the payload read (`sources.github`, `sources.gitlab`), the run's state merged in the database
(`store.source_runs`, `sources.runs`), and a status change recorded as `POST /events` records
a task event (its notify_ctls, `changed` from history, idempotent by the platform's delivery
id). docs/sources.md and docs/api.md say what each answer means.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request, Response

from tidings.api.errors import ApiError
from tidings.api.event_request import MAX_PARAM, EventRequest
from tidings.api.routes import errors, service
from tidings.api.routes.events import accept_event
from tidings.api.schemas import HookAnswer
from tidings.api.service import Service
from tidings.errors import InputError, Problem
from tidings.sources.updates import Event, Ignored, JobEvent, Ping, RunUpdate

router = APIRouter(prefix="/api/v1/hooks", tags=["hooks"])
log = logging.getLogger("tidings.api")

_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object", "additionalProperties": True},
        }
    },
}


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": HookAnswer, "description": "A ping, or a delivery seen before"},
    **errors(400, 401, 404, 413, 422, 503),
}


def _answer(svc: Service, code: int, answer: dict[str, Any]) -> Response:
    svc.hook_events.labels(answer["source"], answer["outcome"]).inc()
    content = HookAnswer.model_validate(answer).model_dump_json()
    return Response(content, status_code=code, media_type="application/json")


def _refused(
    svc: Service, source: str, status: int, why: str, problems: list[Problem] | None = None
) -> ApiError:
    """The error answer (nothing recorded), counted."""
    svc.hook_events.labels(source, "unauthorized" if status == 401 else "invalid").inc()
    return ApiError(status, why, problems)


def _delivery(svc: Service, source: str, request: Request, names: tuple[str, ...]) -> str | None:
    """The platform's delivery id: the first of these headers that is there."""
    for name in names:
        value = request.headers.get(name)
        if value:
            if len(value) > MAX_PARAM:
                message = f"string should have at most {MAX_PARAM} characters"
                problem = Problem(f"header.{name}", message)
                raise _refused(svc, source, 400, f"invalid request: header.{name}", [problem])
            return value
    return None


@router.post(
    "/github",
    response_model=HookAnswer,
    status_code=202,
    responses=_RESPONSES,
    summary="GitHub's webhook: workflow_run, workflow_job, ping (signed with sources.github)",
    openapi_extra={
        "parameters": [
            _header(
                "X-Hub-Signature-256",
                "sha256=<HMAC-SHA256 of the body, keyed with the webhook's secret>",
            ),
            _header("X-GitHub-Event", "workflow_run, workflow_job or ping."),
            _header("X-GitHub-Delivery", "The delivery's id: posted again, it is recorded once."),
        ],
        "requestBody": _BODY,
    },
)
async def github_hook(request: Request) -> Response:
    from tidings.sources import github, verify
    from tidings.sources.payload import decode_body

    svc = await service(request)
    settings = svc.config.sources.github
    if settings is None:
        raise _refused(
            svc,
            "github",
            404,
            "GitHub webhooks are not configured: add "
            "sources.github {secret, routes} to the configuration (docs/sources.md)",
        )
    body = await request.body()
    why = verify.github(settings.secret, request.headers.get("x-hub-signature-256"), body)
    if why is not None:
        raise _refused(svc, "github", 401, why)
    name = request.headers.get("x-github-event", "")
    delivery = _delivery(svc, "github", request, ("x-github-delivery",))
    try:
        event = github.parse(name, decode_body(body, request.headers.get("content-type")))
    except InputError as exc:
        raise _refused(svc, "github", 400, exc.message, exc.problems) from None
    return await _accept(svc, "github", name, event, delivery)


@router.post(
    "/gitlab",
    response_model=HookAnswer,
    status_code=202,
    responses=_RESPONSES,
    summary="GitLab's webhook: Pipeline Hook, Job Hook (its secret token: sources.gitlab)",
    openapi_extra={
        "parameters": [
            _header("X-Gitlab-Token", "The webhook's secret token."),
            _header("X-Gitlab-Event", "Pipeline Hook or Job Hook."),
            _header("Idempotency-Key", "The same for every retry of one event (GitLab 17.4)."),
            _header("X-Gitlab-Event-UUID", "The event's id (without Idempotency-Key)."),
        ],
        "requestBody": _BODY,
    },
)
async def gitlab_hook(request: Request) -> Response:
    from tidings.sources import gitlab, verify
    from tidings.sources.payload import decode_body

    svc = await service(request)
    settings = svc.config.sources.gitlab
    if settings is None:
        raise _refused(
            svc,
            "gitlab",
            404,
            "GitLab webhooks are not configured: add "
            "sources.gitlab {token, routes} to the configuration (docs/sources.md)",
        )
    why = verify.gitlab(settings.token, request.headers.get("x-gitlab-token"))
    if why is not None:
        raise _refused(svc, "gitlab", 401, why)
    body = await request.body()
    name = request.headers.get("x-gitlab-event", "")
    delivery = _delivery(svc, "gitlab", request, ("idempotency-key", "x-gitlab-event-uuid"))
    try:
        event = gitlab.parse(name, decode_body(body, "application/json"))
    except InputError as exc:
        raise _refused(svc, "gitlab", 400, exc.message, exc.problems) from None
    return await _accept(svc, "gitlab", name, event, delivery)


def _route(svc: Service, source: str, event: RunUpdate | JobEvent) -> str | None:
    """The configured workflow that receives this run (a job: any workflow, when its event
    does not say which Actions workflow it belongs to), or None."""
    origin = event.origin
    if source == "github":
        github = svc.config.sources.github
        assert github is not None
        if isinstance(event, JobEvent) and origin.ci_workflow is None:
            return "" if github.has_repository(origin.repository) else None
        route = github.route(origin.repository, origin.ci_workflow, origin.branch)
        return None if route is None else route.workflow
    gitlab = svc.config.sources.gitlab
    assert gitlab is not None
    found = gitlab.route(origin.repository, origin.branch)
    return None if found is None else found.workflow


async def _accept(
    svc: Service, source: str, name: str, event: Event, delivery: str | None
) -> Response:
    from tidings.sources.runs import merge_job, merge_run, snapshot
    from tidings.store import source_runs
    from tidings.store.db import DatabaseError

    base: dict[str, Any] = {"source": source, "event": name}
    if isinstance(event, Ping):
        return _answer(svc, 200, {**base, "outcome": "pong", "message": event.zen})
    if isinstance(event, Ignored):
        return _answer(svc, 202, {**base, "outcome": "ignored", "message": event.reason})
    workflow = _route(svc, source, event)
    if workflow is None:
        message = (
            f"no workflow configured for {event.origin.describe(source)}: add a route under "
            f"sources.{source}.routes, or let the webhook send only what tidings should notify"
        )
        log.info("%s webhook not routed: %s", source, message)
        return _answer(svc, 202, {**base, "outcome": "unrouted", "message": message})

    def change(state: dict[str, Any] | None) -> tuple[dict[str, Any], Any]:
        if isinstance(event, RunUpdate):
            new, decision = merge_run(state, event, workflow, delivery)
        else:
            new, decision = merge_job(state, event)
        # Made under the run's lock: the snapshot is the state this event left.
        return new, (decision, snapshot(new, svc.config) if decision.notify else None)

    try:
        decision, task = await svc.db(
            source_runs.update, svc.store, event.key, change, now=time.time()
        )
    except (DatabaseError, svc.store.driver_error) as exc:
        log.error("%s webhook: the database did not record it: %s", source, type(exc).__name__)
        raise ApiError(
            503, "the database did not record the event; nothing of it was: deliver it again"
        ) from None
    if not decision.notify:
        answer = {**base, "outcome": decision.outcome, "message": decision.reason}
        answer.update(workflow=decision.workflow, task_id=decision.task_id)
        return _answer(svc, 202, {**answer, "status": decision.status or None})
    request = EventRequest(task, task["workflow_name"], None, None, _key(source, delivery))
    code, recorded = await accept_event(svc, request)
    outcome = "duplicate" if recorded["duplicate"] else "notified"
    answer = {**base, **recorded, "outcome": outcome}
    answer.update(workflow=task["workflow_name"], task_id=task["task_id"])
    return _answer(svc, code, answer)


def _key(source: str, delivery: str | None) -> str | None:
    """The outbox's idempotency key: the platform's delivery id, in its own namespace."""
    return f"{source}:{delivery}" if delivery else None
