"""POST /events (a task event from any CI system), /preview (what it would send), /notify
(an ad-hoc message): the same dispatch and outbox layers `send`, `preview` and `notify` use."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request, Response

from tidings.api.auth import CanSend
from tidings.api.errors import ApiError
from tidings.api.event_request import (
    EVENT_PARAMS,
    KEY_DESCRIPTION,
    MAX_PARAM,
    PLAN_PARAMS,
    EventRequest,
    openapi,
    read_event,
)
from tidings.api.routes import Svc, errors, service
from tidings.api.schemas import EventAccepted, PreviewOut
from tidings.api.service import Service
from tidings.dispatch.plan import Plan
from tidings.errors import InputError, Problem

router = APIRouter(prefix="/api/v1", tags=["events"])


def _plan(svc: Service, event: EventRequest) -> Plan:
    from tidings.dispatch.plan import plan_event
    from tidings.dispatch.task import parse_task

    task = parse_task(event.payload, "event")
    try:
        workflow_config = svc.config.workflow(event.workflow or task.workflow_name)
    except InputError as exc:
        raise ApiError(404, exc.message) from None
    previous_status = event.previous_status
    if previous_status is None:
        from tidings.sending.history import previous_status as looked_up
        from tidings.sending.history import wants_previous

        if wants_previous(workflow_config.notify_ctls):  # `changed`: the task before, as heard
            previous_status = looked_up(svc.store, task.workflow_name, task.task_id)
    return plan_event(
        svc.config,
        workflow_config,
        task,
        status=event.status,
        previous_status=previous_status,
    )


def _skipped(plan: Plan) -> list[dict[str, Any]]:
    return [s.__dict__ for s in plan.skipped]


@router.post(
    "/events",
    response_model=EventAccepted,
    status_code=202,
    responses={
        200: {"model": EventAccepted, "description": "Seen before: the first deliveries"},
        **errors(401, 403, 404, 409, 413, 422, 503),
    },
    summary="Notify a task event (Zadig's webhook payload or a task snapshot)",
    openapi_extra=openapi(EVENT_PARAMS),
)
async def post_event(request: Request, _who: CanSend) -> Response:
    code, answer = await accept_event(await service(request), await read_event(request))
    # Serialized here: returning the dict, FastAPI's response handling would cost ~0.03 M
    # instructions more per event (bench/README.md) for the same JSON.
    content = EventAccepted.model_validate(answer).model_dump_json()
    return Response(content, status_code=code, media_type="application/json")


async def accept_event(svc: Service, request: EventRequest) -> tuple[int, dict[str, Any]]:
    """Plan the event and record it (group commit); the HTTP status (202 new, 200 seen
    before) and the answer. Raises ApiError or InputError for the caller to answer."""
    from tidings.delivery.outbox import NewEvent
    from tidings.sending.history import summaries
    from tidings.sending.record import deliveries_of, task_event_key, with_skips

    plan = _plan(svc, request)
    task = plan.task
    assert task is not None
    key = request.key
    event = NewEvent(
        kind="task",
        workflow=task.workflow_name,
        task_id=task.task_id,
        status=plan.status,
        # One event, one notification: without the CI's own id, the same workflow, task
        # and status posted again is the same event (as `tidings send` has it).
        idempotency_key=f"api:{key}"
        if key
        else task_event_key(svc.config_name, task.workflow_name, task.task_id, plan.status),
        snapshot=task.model_dump(mode="json"),
        config=svc.config_name,
        scope=None if plan.previous_status is None else {"previous_status": plan.previous_status},
    )
    fresh = deliveries_of(plan)
    enqueued = await svc.recorder.record(with_skips(event, plan), fresh)
    if enqueued.refused:
        raise ApiError(409, enqueued.refused)
    if enqueued.duplicate:
        rows = await svc.db(summaries, svc.store, enqueued.delivery_ids)
    else:
        rows = [
            {
                "id": delivery_id,
                "channel": new.request.channel,
                "destination": new.request.destination,
                "source": new.source,
                "label": new.request.label,
                "status": "pending",
            }
            for delivery_id, new in zip(enqueued.delivery_ids, fresh, strict=True)
        ]
    return 200 if enqueued.duplicate else 202, {
        "event_id": enqueued.event_id,
        "duplicate": enqueued.duplicate,
        "status": plan.status,
        "deliveries": rows,
        "skipped": _skipped(plan),
    }


@router.post(
    "/preview",
    response_model=PreviewOut,
    responses=errors(401, 403, 404, 413, 422),
    summary="What an event would send, secrets masked; sends nothing",
    openapi_extra=openapi(PLAN_PARAMS),
)
async def preview(request: Request, svc: Svc, _who: CanSend) -> dict[str, Any]:
    from tidings.sending.preview import prepared_calls

    plan = _plan(svc, await read_event(request, PLAN_PARAMS))
    return {"status": plan.status, "requests": prepared_calls(plan), "skipped": _skipped(plan)}


_NOTIFY_EXAMPLE = {
    "webhook_type": "dingding",
    "dingding_notification_config": {
        "hook_address": "https://oapi.dingtalk.com/robot/send?access_token=...",
        "secret": "SEC...",
        "at_mobiles": ["13800000000"],
    },
    "title": "发布完成",
    "content": "工作流 release #12 已上线",
}


@router.post(
    "/notify",
    response_model=EventAccepted,
    status_code=202,
    responses={
        200: {"model": EventAccepted, "description": "Seen before: the first deliveries"},
        **errors(401, 403, 409, 413, 422, 503),
    },
    summary="Send one ad-hoc message (a notification job's spec)",
)
async def notify(
    spec: Annotated[
        dict[str, Any],
        Body(
            description="A notification job's spec (Zadig's fields): webhook_type, its "
            "*_notification_config, title, content; optional url, language (zh-cn, en-us).",
            openapi_examples={"dingding": {"value": _NOTIFY_EXAMPLE}},
        ),
    ],
    request: Request,
    response: Response,
    svc: Svc,
    _who: CanSend,
    idempotency_key: Annotated[
        str | None, Header(max_length=MAX_PARAM, description=KEY_DESCRIPTION)
    ] = None,
) -> dict[str, Any]:
    from tidings.config.adhoc import validate_ctl
    from tidings.delivery.outbox import NewEvent
    from tidings.dispatch.plan import plan_note
    from tidings.notify.content import Note
    from tidings.sending.history import summaries
    from tidings.sending.record import deliveries_of

    if not svc.with_worker:
        raise ApiError(
            409,
            "this server runs without a worker (--no-worker): ad-hoc destinations' secrets are "
            "never stored, so only a server with a worker can send them; post to one that has",
        )
    data = dict(spec)
    fields = {k: data.pop(k, "") for k in ("title", "content", "url", "language")}
    data.pop("source", None)
    problems = [
        Problem(name, "must be a string")
        for name, value in fields.items()
        if not isinstance(value, str)
    ]
    if fields["language"] not in ("", "zh-cn", "en-us"):
        problems.append(Problem("language", "must be zh-cn or en-us"))
    if problems:
        raise ApiError(422, "invalid notification", problems)
    ctl = validate_ctl(data, "notification")
    title, content = fields["title"], fields["content"]
    if not title and not content:
        raise ApiError(422, "nothing to send", [Problem("title", "give title and/or content")])
    note = Note(
        title=title or content.splitlines()[0],
        content=content,
        url=fields["url"],
        language=fields["language"] or "zh-cn",
    )
    # This request's own secrets mask its own answer (api/middleware.py), nobody else's.
    request.state.secrets = ctl.secrets()
    plan = plan_note(note, ctl)
    event = NewEvent(
        kind="notification",
        status="notification",
        idempotency_key=f"api-notify:{idempotency_key}" if idempotency_key else None,
    )
    destinations = _guarded(svc, ctl, plan.destinations())
    # Before recording: the worker may claim the deliveries at once.
    await svc.forget_sent()
    svc.resolver.add(destinations)
    enqueued = await svc.recorder.record(event, deliveries_of(plan))
    if enqueued.duplicate:
        response.status_code = 200
    rows = await svc.db(summaries, svc.store, enqueued.delivery_ids)
    return {
        "event_id": enqueued.event_id,
        "duplicate": enqueued.duplicate,
        "status": plan.status,
        "deliveries": rows,
        "skipped": _skipped(plan),
    }


def _guarded(svc: Service, ctl: Any, destinations: dict[str, Any]) -> dict[str, Any]:
    """The ad-hoc destinations, each checked against where /notify may send (422 naming the
    address field if not) and carrying that check to every connection the worker makes."""
    import dataclasses
    from urllib.parse import urlsplit

    guard = svc.adhoc_hosts
    found = {}
    for key, destination in destinations.items():
        try:
            host = urlsplit(destination.url).hostname or ""
        except ValueError:
            host = ""
        problem = guard.host_problem(host) if host else "no host in the address"
        if problem is not None:
            field = f"{ctl.config_key}.{ctl.channel.url_fields[0]}"
            raise ApiError(422, "address not allowed", [Problem(field, problem)])
        found[key] = dataclasses.replace(destination, guard=guard)
    return found
