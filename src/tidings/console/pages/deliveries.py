"""Deliveries: filtered by status, workflow, channel and time, a page at a time by keyset;
one delivery with its attempts (times, HTTP status, platform code, the hint); retry and
re-plan for a token with scope `send` (the history layer, as `tidings retry` and the API)."""

from __future__ import annotations

import time
import urllib.parse
from datetime import datetime, tzinfo
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings import channels
from tidings.api.auth import SEND
from tidings.console.views import Missing, Views, pager, query_int
from tidings.errors import InputError
from tidings.store import browse

router = APIRouter()

PAGE = 50
STATUSES = ("pending", "sent", "failed", "dead", "coalesced")
_REPLAN = "re-plan it with today's configuration"


def _views(request: Request) -> Views:
    views: Views = request.app.state.views
    return views


def _time(value: str | None, zone: tzinfo | None) -> float | None:
    """A datetime-local field, read in the team's zone (system.timezone), as pages show times."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value[:32])
    except ValueError:
        return None
    if moment.tzinfo is None and zone is not None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def _hint(text: str | None) -> tuple[str, str]:
    message, _, hint = (text or "").partition(" — ")
    return message, hint


@router.get("/deliveries", response_class=HTMLResponse)
async def deliveries(request: Request) -> HTMLResponse:
    views = _views(request)
    session = views.viewer(request)
    query = request.query_params
    status = query.get("status") if query.get("status") in STATUSES else ""
    channel = query.get("channel") if query.get("channel") in channels.supported() else ""
    workflow = (query.get("workflow") or "")[:200]
    since, until = query.get("since", "")[:32], query.get("until", "")[:32]
    zone = views.service.config.system.tz
    found = await views.service.db(
        browse.page,
        views.service.store,
        status=status,
        channel=channel,
        workflow=workflow,
        since=_time(since, zone),
        until=_time(until, zone),
        before=query_int(query.get("before")),
        after=query_int(query.get("after")),
        limit=PAGE,
    )
    kept = {
        k: v
        for k, v in {
            "status": status,
            "channel": channel,
            "workflow": workflow,
            "since": since,
            "until": until,
        }.items()
        if v
    }
    base = urllib.parse.urlencode(kept)
    older, newer = pager("/deliveries", kept, found)
    for row in found.rows:
        row["message"], row["hint"] = _hint(row["last_error"])
    paused = await views.service.db(browse.paused, views.service.store, time.time())
    return views.page(
        "deliveries.html",
        request,
        session,
        rows=found.rows,
        paused=paused,
        older=older,
        newer=newer,
        filters={
            "status": status,
            "channel": channel,
            "workflow": workflow,
            "since": since,
            "until": until,
        },
        query=base,
        statuses=STATUSES,
        channels=channels.supported(),
        workflows=[w.name for w in views.service.config.workflows],
    )


def _detail(views: Views, given: str) -> dict[str, Any]:
    from tidings.sending.history import find, show

    store = views.service.store
    try:
        delivery = show(store, find(store, given))
    except InputError:
        raise Missing(given) from None
    for attempt in delivery["attempts_log"]:
        attempt["message"], attempt["hint"] = _hint(attempt["detail"])
    delivery["message"], delivery["hint"] = _hint(delivery["last_error"])
    return delivery


@router.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
async def delivery(request: Request, delivery_id: str) -> HTMLResponse:
    views = _views(request)
    session = views.viewer(request)
    found = await views.service.db(_detail, views, delivery_id[:36])
    import orjson

    request_json = orjson.dumps(found["request"], option=orjson.OPT_INDENT_2).decode()
    return views.page(
        "delivery.html", request, session, d=found, request_json=request_json, now=time.time()
    )


@router.get("/deliveries/{delivery_id}/state", response_class=HTMLResponse)
async def delivery_state(request: Request, delivery_id: str) -> HTMLResponse:
    """The delivery's status and attempts, polled by its page while it is pending."""
    views = _views(request)
    session = views.viewer(request)
    found = await views.service.db(_detail, views, delivery_id[:36])
    html = views.render("_delivery_state.html", request, session, d=found, now=time.time())
    return HTMLResponse(html)


def _retry(views: Views, delivery_id: str, replan: bool) -> tuple[bool, str, dict[str, object]]:
    """(queued, what happened: a phrase and its values) for a failed or dead delivery, as
    `tidings retry`."""
    from tidings.delivery.resolve import Unresolved
    from tidings.sending.history import requeue
    from tidings.sending.replan import replan as replanned

    service = views.service
    max_age = service.config.system.delivery.max_age
    if replan:
        done = replanned(
            service.store, service.config, [delivery_id], now=time.time(), expires_in=max_age
        )
        if not done.delivery_ids:
            return False, "; ".join(done.notes) or "nothing to send", {}
        return True, "queued {count} new deliveries", {"count": len(done.delivery_ids)}
    queued, left = requeue(
        service.store,
        [delivery_id],
        max_age=max_age,
        can_send=lambda key: not isinstance(service.resolver(key), Unresolved),
    )
    if left:
        return False, left[0].explain(_REPLAN), {}
    if not queued:
        return False, "only a failed or dead delivery is retried", {}
    return True, "queued again under the same id", {}


@router.post("/deliveries/{delivery_id}/retry")
async def retry(request: Request, delivery_id: str) -> Response:
    views = _views(request)
    session, fields = await views.form(request, SEND)
    found = await views.service.db(_detail, views, delivery_id[:36])
    replan = fields.get("replan") == "1"
    queued, said, values = await views.service.db(_retry, views, found["id"], replan)
    if queued:
        views.service.wake()
    session.flash("ok" if queued else "bad", said, **values)
    return RedirectResponse(f"/deliveries/{found['id']}", status_code=303)
