"""Preview: a workflow and a status, or a pasted task snapshot / Zadig webhook payload, and
each fired ctl's message as its platform shows it; a test message to one destination. Scope
`send`, as the API's /preview."""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tidings.api.auth import SEND
from tidings.console import platforms
from tidings.console.sessions import Session
from tidings.console.views import Views, pick
from tidings.dispatch.plan import Plan
from tidings.errors import InputError, Problem

router = APIRouter()

EVENTS = (
    "created",
    "passed",
    "failed",
    "cancelled",
    "timeout",
    "reject",
    "pause",
    "wait_for_approval",
)
MAX_PAYLOAD = 512 * 1024  # characters of a pasted snapshot


def _views(request: Request) -> Views:
    views: Views = request.app.state.views
    return views


def _task(views: Views, workflow: str, payload: str) -> tuple[Any, str]:
    """The task to preview and where it came from: the pasted snapshot, else the workflow's
    latest task, else the example task renamed."""
    from tidings.dispatch.task import parse_task
    from tidings.runner import state

    if payload.strip():
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise InputError("the pasted text is not JSON", [Problem("", str(exc))]) from None
        return parse_task(data, "pasted snapshot"), "the pasted snapshot"
    latest = state.list_tasks(views.service.store, workflow, 1)
    if latest and latest[0]["snapshot"]:
        task = parse_task(latest[0]["snapshot"], "latest task")
        return task, f"{workflow}#{task.task_id}"
    example = json.loads(
        resources.files("tidings").joinpath("examples/task.json").read_text("utf-8")
    )
    example.update(workflow_name=workflow, workflow_display_name="")
    return parse_task(example, "example task"), "an example task"


def plan(views: Views, fields: dict[str, str]) -> tuple[Plan, str, str]:
    """The plan the form asks for: (plan, its workflow, where its task came from)."""
    from tidings.dispatch.plan import plan_event
    from tidings.sending.history import previous_status, wants_previous

    config = views.service.config
    payload = (fields.get("payload") or "")[:MAX_PAYLOAD]
    workflow = pick(fields, "workflow")
    if not workflow and not payload.strip():
        raise InputError("choose a workflow or paste a task snapshot")
    task, based = _task(views, workflow or "", payload)
    name = workflow or task.workflow_name
    workflow_config = config.workflow(name)
    status = pick(fields, "status") or task.status
    previous = None
    if wants_previous(workflow_config.notify_ctls):
        previous = previous_status(views.service.store, task.workflow_name, task.task_id)
    return (
        plan_event(config, workflow_config, task, status=status, previous_status=previous),
        name,
        based,
    )


def _page(
    views: Views,
    request: Request,
    session: Session,
    fields: dict[str, str],
    status_code: int = 200,
    **data: Any,
) -> HTMLResponse:
    return views.page(
        "preview.html",
        request,
        session,
        status_code=status_code,
        fields=fields,
        events=EVENTS,
        workflows=[w.name for w in views.service.config.workflows],
        wire=platforms.wire,
        **{"result": None, "problems": [], "error": "", "sent": [], "sent_to": "", **data},
    )


def _render(views: Views, fields: dict[str, str]) -> dict[str, Any]:
    made, workflow, based = plan(views, fields)
    return {
        "result": {
            "workflow": workflow,
            "status": made.status,
            "based": based,
            "fired": platforms.fired(made),
            "skipped": made.skipped,
        }
    }


async def _answer(
    views: Views, request: Request, session: Session, fields: dict[str, str], **extra: Any
) -> HTMLResponse:
    try:
        data = await views.service.db(_render, views, fields)
    except InputError as exc:
        return _page(views, request, session, fields, 422, error=exc.message, problems=exc.problems)
    return _page(views, request, session, fields, **data, **extra)


@router.get("/preview", response_class=HTMLResponse)
async def preview_form(request: Request) -> HTMLResponse:
    views = _views(request)
    session = views.viewer(request, SEND)
    fields = {"workflow": (request.query_params.get("workflow") or "")[:200], "status": "failed"}
    return _page(views, request, session, fields)


@router.post("/preview", response_class=HTMLResponse)
async def preview(request: Request) -> HTMLResponse:
    views = _views(request)
    session, fields = await views.form(request, SEND)
    return await _answer(views, request, session, fields)


def _send(views: Views, fields: dict[str, str]) -> list[str]:
    """Record the message of one fired ctl to one destination (what the form showed), for
    this process's worker to send: its delivery ids."""
    from tidings.delivery.outbox import NewEvent
    from tidings.sending.record import record

    made, workflow, _based = plan(views, fields)
    chosen = [
        item
        for item in made.planned
        if item.key == fields.get("key") and item.source == fields.get("source")
    ]
    if not chosen:
        raise InputError("that destination no longer receives this message: show the preview again")
    task = made.task
    event = NewEvent(
        kind="test",
        workflow=workflow,
        task_id=task.task_id if task is not None else None,
        status=made.status,
    )
    one = Plan(made.status, planned=chosen, task=task)
    config = views.service.config
    done = record(
        views.service.store, one, event, now=time.time(), expires_in=config.system.delivery.max_age
    )
    return done.delivery_ids


@router.post("/preview/send", response_class=HTMLResponse)
async def send_test(request: Request) -> Response:
    views = _views(request)
    session, fields = await views.form(request, SEND)
    try:
        ids = await views.service.db(_send, views, fields)
    except InputError as exc:
        session.flash("bad", exc.message)
        ids = []
    else:
        views.service.wake()
    return await _answer(views, request, session, fields, sent=ids, sent_to=fields.get("key", ""))
