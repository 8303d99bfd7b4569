"""All tasks, the latest first: every workflow's, filtered by workflow and status, a page at
a time by keyset; each links to its page. Tasks sent from elsewhere (tidings send, the API,
GitHub and GitLab) are listed beside those tidings ran."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tidings.console.views import Views, pager, query_int
from tidings.statuses import STATUSES
from tidings.store import browse

router = APIRouter()

PAGE = 50


@router.get("/tasks", response_class=HTMLResponse)
async def tasks(request: Request) -> HTMLResponse:
    views: Views = request.app.state.views
    session = views.viewer(request)
    query = request.query_params
    status = query.get("status") if query.get("status") in STATUSES else ""
    workflow = (query.get("workflow") or "")[:200]
    found = await views.service.db(
        browse.task_page,
        views.service.store,
        workflow=workflow,
        status=status,
        before=query_int(query.get("before")),
        after=query_int(query.get("after")),
        limit=PAGE,
    )
    kept = {k: v for k, v in {"workflow": workflow, "status": status}.items() if v}
    older, newer = pager("/tasks", kept, found)
    configured = views.service.config.workflows
    return views.page(
        "tasks.html",
        request,
        session,
        rows=found.rows,
        older=older,
        newer=newer,
        filters={"workflow": workflow, "status": status},
        statuses=STATUSES,
        workflows=[w.name for w in configured],
        display={w.name: w.display_name or w.name for w in configured},
    )
