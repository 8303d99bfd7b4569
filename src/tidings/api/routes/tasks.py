"""Tasks: list, one (stages, jobs, statuses), cancel, approve, reject, run a manual stage,
logs — the runner's state layer, as `tidings tasks`, `cancel`, `approve`, `reject`,
`run-stage` and `logs` use it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from tidings.api.auth import CanRead, CanRun
from tidings.api.errors import ApiError
from tidings.api.routes import Svc, errors
from tidings.api.schemas import ActionOut, CancelIn, DecisionIn, LogsOut, RunStageIn, TaskOut
from tidings.api.service import Service
from tidings.errors import InputError, Problem
from tidings.model import STATUSES
from tidings.runner import state

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

Workflow = Annotated[str, Path(max_length=200)]
TaskId = Annotated[int, Path(ge=0, le=2**63 - 1)]


@router.get("", response_model=list[TaskOut], responses=errors(401, 403, 422))
async def list_tasks(
    svc: Svc,
    _who: CanRead,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[
        str | None, Query(json_schema_extra={"enum": list(STATUSES)}, max_length=40)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise ApiError(
            422, "unknown status", [Problem("query.status", f"one of {', '.join(STATUSES)}")]
        )
    await svc.db(state.reap, svc.store, None, svc.config)
    rows = await svc.db(state.list_tasks, svc.store, workflow, limit, status)
    return [state.describe(row) for row in rows]


async def _task(svc: Service, workflow: str, task_id: int) -> dict[str, Any]:
    await svc.db(state.reap, svc.store, None, svc.config)
    row = await svc.db(state.get_task, svc.store, workflow, task_id)
    if row is None:
        raise ApiError(404, f"no task {workflow}#{task_id}; GET /api/v1/tasks lists them")
    return row


async def _run(svc: Service, workflow: str, task_id: int) -> dict[str, Any]:
    row = await _task(svc, workflow, task_id)
    if row["pid"] is None:
        raise ApiError(
            409,
            f"task {workflow}#{task_id} was not run by tidings (a snapshot another system "
            "sent): it cannot be cancelled, approved or logged here",
        )
    return row


@router.get("/{workflow}/{task_id}", response_model=TaskOut, responses=errors(401, 403, 404, 422))
async def get_task(
    workflow: Workflow,
    task_id: TaskId,
    svc: Svc,
    _who: CanRead,
) -> dict[str, Any]:
    return state.describe(await _task(svc, workflow, task_id))


@router.post(
    "/{workflow}/{task_id}/cancel",
    response_model=ActionOut,
    status_code=202,
    responses=errors(401, 403, 404, 409, 422),
    summary="Ask the task's runner to cancel it (it stops within a second)",
)
async def cancel(
    workflow: Workflow,
    task_id: TaskId,
    svc: Svc,
    _who: CanRun,
    body: Annotated[CancelIn | None, Body()] = None,
) -> dict[str, Any]:
    await _run(svc, workflow, task_id)
    user = body.user if body else ""
    if not await svc.db(state.request_cancel, svc.store, workflow, task_id, user):
        row = await _task(svc, workflow, task_id)
        raise ApiError(409, f"task {workflow}#{task_id} already ended: {row['status']}")
    return {"workflow": workflow, "task_id": task_id, "result": "cancel requested"}


async def _waiting(svc: Service, workflow: str, task_id: int, stage: bool) -> dict[str, Any]:
    """What the run waits for, if it is an approval (`stage` False) or a manual stage; 409
    otherwise."""
    waiting = state.waiting_of(await _run(svc, workflow, task_id))
    if not waiting or ("stage" in waiting) != stage:
        what = "paused before a manual stage" if stage else "waiting for an approval"
        raise ApiError(409, f"task {workflow}#{task_id} is not {what}")
    return waiting


async def _record(svc: Service, call: Any, *args: Any) -> None:
    """A decision recorded by the state layer; its refusal (decided already, the run ended
    meanwhile) is a 409."""
    try:
        await svc.db(call, svc.store, *args)
    except InputError as exc:
        raise ApiError(409, exc.message) from None


async def _decide(
    svc: Service, workflow: str, task_id: int, body: DecisionIn, decision: str
) -> dict[str, Any]:
    waiting = await _waiting(svc, workflow, task_id, stage=False)
    if body.user not in waiting["approvers"]:
        raise ApiError(
            422,
            f"user {body.user!r} may not decide on job {waiting['job']}",
            [Problem("user", "not an approver; approvers: " + ", ".join(waiting["approvers"]))],
        )
    await _record(svc, state.decide, workflow, task_id, body.user, decision, body.comment)
    word = "approved" if decision == "approve" else "rejected"
    return {"workflow": workflow, "task_id": task_id, "result": f"{word} by {body.user}"}


@router.post(
    "/{workflow}/{task_id}/approve",
    response_model=ActionOut,
    responses=errors(401, 403, 404, 409, 422),
)
async def approve(
    workflow: Workflow,
    task_id: TaskId,
    body: DecisionIn,
    svc: Svc,
    _who: CanRun,
) -> dict[str, Any]:
    return await _decide(svc, workflow, task_id, body, "approve")


@router.post(
    "/{workflow}/{task_id}/reject",
    response_model=ActionOut,
    responses=errors(401, 403, 404, 409, 422),
)
async def reject(
    workflow: Workflow,
    task_id: TaskId,
    body: DecisionIn,
    svc: Svc,
    _who: CanRun,
) -> dict[str, Any]:
    return await _decide(svc, workflow, task_id, body, "reject")


@router.post(
    "/{workflow}/{task_id}/run-stage",
    response_model=ActionOut,
    responses=errors(401, 403, 404, 409, 422),
    summary="Run the manual stage the task is paused before",
)
async def run_stage(
    workflow: Workflow,
    task_id: TaskId,
    body: RunStageIn,
    svc: Svc,
    _who: CanRun,
) -> dict[str, Any]:
    waiting = await _waiting(svc, workflow, task_id, stage=True)
    if body.user not in waiting["executors"]:
        raise ApiError(
            422,
            f"user {body.user!r} may not run stage {waiting['stage']}",
            [Problem("user", "may be run by: " + ", ".join(waiting["executors"]))],
        )
    await _record(svc, state.run_stage, workflow, task_id, body.user)
    result = f"stage {waiting['stage']} run by {body.user}"
    return {"workflow": workflow, "task_id": task_id, "result": result}


@router.get(
    "/{workflow}/{task_id}/logs",
    response_model=LogsOut,
    responses=errors(401, 403, 404, 409, 422),
    summary="The log of each job (or of one: ?job=NAME)",
)
async def logs(
    workflow: Workflow,
    task_id: TaskId,
    svc: Svc,
    _who: CanRead,
    job: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    await _run(svc, workflow, task_id)
    try:
        jobs = await svc.db(state.job_logs, svc.store, workflow, task_id, job)
    except InputError as exc:
        raise ApiError(404, exc.message) from None
    return {"workflow": workflow, "task_id": task_id, "jobs": jobs}
