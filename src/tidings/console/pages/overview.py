"""The overview: recent tasks per workflow, delivery health of the last 24 hours, the queue,
and the workers seen lately."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tidings.console.views import Views
from tidings.store import browse

router = APIRouter()

DAY = 24 * 3600.0
RECENT = 15 * 60.0  # a worker that made an attempt this recently is shown
MAX_WORKFLOWS = 50  # workflows shown with their recent tasks
STATES = ("sent", "retrying", "waiting", "failed", "dead")


def _hint(error: str | None) -> tuple[str, str]:
    """A platform error and the hint tidings wrote after it (` — what to do`)."""
    text = error or ""
    message, _, hint = text.partition(" — ")
    return message, hint


def gather(views: Views, now: float) -> dict[str, Any]:
    """Everything the overview shows, read in a few bounded statements."""
    service = views.service
    store = service.store
    names = [w.name for w in service.config.workflows[:MAX_WORKFLOWS]]
    health = browse.health(store, now - DAY)
    errors = browse.common_errors(store, now - DAY)
    for row in errors:
        row["message"], row["hint"] = _hint(row["error"])
    depth, oldest = browse.queue(store)
    return {
        "workflows": service.config.workflows[:MAX_WORKFLOWS],
        "recent": browse.recent_tasks(store, names),
        "health": sorted(health.items()),
        "states": STATES,
        "errors": errors,
        "depth": depth,
        "paused": browse.paused(store, now),
        "oldest": oldest,
        "now": now,
        "workers": browse.workers(store, now - RECENT, now),
        "own_worker": service.deliveries.name if service.deliveries is not None else None,
    }


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request) -> HTMLResponse:
    views: Views = request.app.state.views
    session = views.viewer(request)
    data = await views.service.db(gather, views, time.time())
    return views.page("overview.html", request, session, **data)
