"""Workflows: list, validate the configuration, start a run (the runner `tidings run` uses)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path

from tidings.api.auth import CanRead, CanRun
from tidings.api.errors import ApiError
from tidings.api.routes import Svc, errors
from tidings.api.schemas import StartIn, StartOut, ValidateOut, WorkflowOut
from tidings.errors import InputError, Problem

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])


@router.get("", response_model=list[WorkflowOut], responses=errors(401, 403))
async def list_workflows(svc: Svc, _who: CanRead) -> list[dict[str, Any]]:
    return [
        {
            "name": w.name,
            "display_name": w.display_name or w.name,
            "project": w.project,
            "notify": [ctl.webhook_type for ctl in w.notify_ctls],
            "stages": [s.name for s in w.stages],
            "runnable": bool(w.stages),
        }
        for w in svc.config.workflows
    ]


def _problems(problems: list[Problem]) -> list[dict[str, str]]:
    return [p.as_json() for p in problems]


@router.post(
    "/validate",
    response_model=ValidateOut,
    responses=errors(401, 403),
    summary="Check the configuration file as it is on disk now (the server keeps the one it "
    "started with)",
)
async def validate(svc: Svc, _who: CanRead) -> dict[str, Any]:
    from tidings.config.loading import load

    source = svc.config.source
    if not source:
        return {"valid": True, "source": "", "warnings": _problems(svc.config.warnings)}
    try:
        config = await asyncio.to_thread(load, source)
    except InputError as exc:
        return {"valid": False, "source": source, "problems": _problems(exc.problems)}
    return {"valid": True, "source": source, "warnings": _problems(config.warnings)}


@router.post(
    "/{name}/tasks",
    response_model=StartOut,
    status_code=202,
    responses=errors(401, 403, 404, 409, 422),
    summary="Start a run of the workflow; it goes on in the background",
)
async def start(
    name: Annotated[str, Path(max_length=200)],
    body: StartIn,
    svc: Svc,
    _who: CanRun,
) -> dict[str, Any]:
    from tidings.runner.engine import RunOptions

    try:
        workflow = svc.config.workflow(name)
    except InputError as exc:
        raise ApiError(404, exc.message) from None
    if not workflow.stages:
        raise ApiError(
            409, f"workflow {name!r} has no stages: nothing to run; add stages: (docs/runner.md)"
        )
    problems = [
        Problem(f"vars.{key}", "a name is a letter or _, then letters, digits, _")
        for key in body.vars
        if not key.isidentifier()
    ]
    if body.creator and svc.config.user(body.creator) is None:
        known = ", ".join(u.id for u in svc.config.users) or "none"
        problems.append(Problem("creator", f"not a configured user (users: {known})"))
    if problems:
        raise ApiError(422, "invalid run request", problems)
    options = RunOptions(
        creator=body.creator,
        remark=body.remark,
        variables=dict(body.vars),
        home=svc.home,
        handle_sigint=False,
    )
    task = svc.start_run(workflow, options)
    return {
        "workflow": name,
        "task_id": task.task_id,
        "status": task.status,
        "url": f"/api/v1/tasks/{name}/{task.task_id}",
    }
