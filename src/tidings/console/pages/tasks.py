"""A task: its stages and jobs with status and times, logs, its notifications and their
deliveries, live while it runs (Server-Sent Events); approve, reject, run a manual stage and
cancel for a token with scope `run` (the runner's state layer, as the API uses it)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.requests import HTTPConnection

from tidings.api.auth import RUN
from tidings.console.sessions import Session
from tidings.console.views import Missing, Views, pick
from tidings.errors import InputError
from tidings.runner import state
from tidings.store import browse

router = APIRouter()

LOG_TAIL = 64 * 1024  # bytes of each job's log shown
STREAM_FOR = (
    15.0  # seconds one stream lasts; the browser reconnects (a server stop waits no longer)
)
POLL = 0.4  # seconds between looks at the task while streaming
ACTIONS = ("approve", "reject", "run-stage", "cancel")


def _views(request: HTTPConnection) -> Views:
    views: Views = request.app.state.views
    return views


def _tail(path: Path) -> tuple[str | None, bool]:
    """The end of a log (None when the job never wrote one) and whether it was cut."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            if size > LOG_TAIL:
                handle.seek(size - LOG_TAIL)
            data = handle.read(LOG_TAIL)
    except OSError:
        return None, False
    return data.decode("utf-8", "replace"), size > LOG_TAIL


def load(views: Views, workflow: str, task_id: int, logs: bool) -> dict[str, Any] | None:
    """Everything the task's page shows (None when there is no such task). Loading the page
    (`logs`) first marks failed the runs whose runner died, as the API's task reads do."""
    service = views.service
    if logs:
        state.reap(service.store, None, service.config)
    row = state.get_task(service.store, workflow, task_id)
    if row is None:
        return None
    snapshot: dict[str, Any] = row["snapshot"] or {}
    waiting = state.waiting_of(row)
    data: dict[str, Any] = {
        "workflow": workflow,
        "task_id": task_id,
        "status": row["status"],
        "task": snapshot,
        "stages": snapshot.get("stages") or [],
        "waiting": waiting,
        "run_here": row["pid"] is not None,
        "cancel_requested": row.get("cancel_requested_at") is not None,
        "active": row["status"] in state.ACTIVE,
        "deliveries": browse.task_deliveries(service.store, workflow, task_id),
        "logs": [],
    }
    if logs and row["run_dir"] and row["pid"] is not None:
        for stage in data["stages"]:
            for job in stage.get("jobs") or []:
                name = str(job.get("name", ""))
                try:
                    text, cut = _tail(state.log_path(row["run_dir"], name))
                except ValueError:  # not a job name: never part of a path
                    text, cut = None, False
                data["logs"].append({"job": name, "text": text, "cut": cut})
    return data


def _fragments(
    views: Views, request: HTTPConnection, session: Session, data: dict[str, Any]
) -> tuple[str, str]:
    """The live part of the page (status, stages, deliveries) and its actions, as HTML."""
    live = views.render("_task_live.html", request, session, **data)
    actions = views.render("_task_actions.html", request, session, **data)
    return live, actions


def _sig(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


def _still_moving(data: dict[str, Any]) -> bool:
    return bool(data["active"]) or any(d["status"] == "pending" for d in data["deliveries"])


@router.get("/tasks/{workflow}/{task_id}", response_class=HTMLResponse)
async def task_page(request: Request, workflow: str, task_id: int) -> HTMLResponse:
    views = _views(request)
    session = views.viewer(request)
    data = await views.service.db(load, views, workflow[:200], task_id, True)
    if data is None:
        raise Missing(f"{workflow}#{task_id}")
    live, actions = _fragments(views, request, session, data)
    return views.page(
        "task.html",
        request,
        session,
        live=live,
        actions=actions,
        since=f"{_sig(live)}.{_sig(actions)}",
        streaming=_still_moving(data),
        **data,
    )


def _event(name: str, html: str, event_id: str) -> str:
    lines = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"id: {event_id}\nevent: {name}\n{lines}\n"


@router.get("/tasks/{workflow}/{task_id}/live")
async def live(request: Request, workflow: str, task_id: int) -> Response:
    """Server-Sent Events: `live` and `actions` with the parts of the page that changed,
    `end` once the task ended and its notifications are delivered. Each stream lasts at most
    STREAM_FOR seconds; the browser reconnects with the last event's id (what it shows), so
    nothing is sent twice."""
    views = _views(request)
    session = views.viewer(request)
    workflow = workflow[:200]
    seen = request.headers.get("last-event-id") or request.query_params.get("since") or "."
    shown_live, _, shown_actions = seen.partition(".")

    async def events() -> AsyncIterator[str]:
        nonlocal shown_live, shown_actions
        yield "retry: 1000\n\n"
        version: Any = object()
        ends = time.monotonic() + STREAM_FOR
        while time.monotonic() < ends:
            now = await views.service.db(
                browse.task_version, views.service.store, workflow, task_id
            )
            if now is None:
                return
            if now != version:
                version = now
                data = await views.service.db(load, views, workflow, task_id, False)
                if data is None:
                    return
                live_html, actions_html = _fragments(views, request, session, data)
                sigs = (_sig(live_html), _sig(actions_html))
                event_id = f"{sigs[0]}.{sigs[1]}"
                if sigs[0] != shown_live:
                    shown_live = sigs[0]
                    yield _event("live", live_html, event_id)
                if sigs[1] != shown_actions:
                    shown_actions = sigs[1]
                    yield _event("actions", actions_html, event_id)
                if not _still_moving(data):
                    yield _event("end", "", event_id)
                    return
            await asyncio.sleep(POLL)  # a closed connection cancels this (Starlette)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class Refused(Exception):
    """The task's state does not allow the action: a phrase of the catalogue and its values."""

    def __init__(self, phrase: str, **values: object) -> None:
        super().__init__(phrase)
        self.phrase = phrase
        self.values = values


def _act(
    views: Views, workflow: str, task_id: int, action: str, user: str, comment: str
) -> tuple[str, dict[str, object]]:
    """Do what the form asked, as the API would; the result to show (a phrase and its
    values). Refused when the task's state does not allow it (decided, not waiting, ended)."""
    store = views.service.store
    row = state.get_task(store, workflow, task_id)
    if row is None:
        raise Missing(f"{workflow}#{task_id}")
    task = f"{workflow}#{task_id}"
    if row["pid"] is None:
        raise Refused("task {task} was not run by tidings: it cannot be changed here", task=task)
    if action == "cancel":
        if not state.request_cancel(store, workflow, task_id, user):
            raise Refused("task {task} already ended: {status}", task=task, status=row["status"])
        return "{task}: cancel requested", {"task": task}
    waiting = state.waiting_of(row)
    if action == "run-stage":
        if not waiting or "stage" not in waiting:
            raise Refused("task {task} is not paused before a manual stage", task=task)
        state.run_stage(store, workflow, task_id, user)
        return "{task}: stage {stage} run by {user}", {
            "task": task,
            "stage": waiting["stage"],
            "user": user,
        }
    if not waiting or "stage" in waiting:
        raise Refused("task {task} is not waiting for an approval", task=task)
    state.decide(store, workflow, task_id, user, action, comment)
    phrase = "{task}: approved by {user}" if action == "approve" else "{task}: rejected by {user}"
    return phrase, {"task": task, "user": user}


@router.post("/tasks/{workflow}/{task_id}/{action}")
async def act(request: Request, workflow: str, task_id: int, action: str) -> Response:
    views = _views(request)
    session, fields = await views.form(request, RUN)
    if action not in ACTIONS:
        raise Missing(action)
    workflow = workflow[:200]
    user = pick(fields, "user")
    if action != "cancel" and not user:
        session.flash("bad", "choose a user")
    else:
        try:
            phrase, values = await views.service.db(
                _act,
                views,
                workflow,
                task_id,
                action,
                user or session.name,
                pick(fields, "comment", 2000),
            )
            session.flash("ok", phrase, **values)
        except Refused as refused:
            session.flash("bad", refused.phrase, **refused.values)
        except InputError as exc:
            session.flash("bad", exc.message)
    return RedirectResponse(f"/tasks/{_quote(workflow)}/{task_id}", status_code=303)


def _quote(value: str) -> str:
    import urllib.parse

    return urllib.parse.quote(value, safe="")
