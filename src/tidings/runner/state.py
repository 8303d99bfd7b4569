"""The runner's state in the store: task ids, snapshots, heartbeats, cancel requests, approvals.

The snapshot (model.Task) in `tasks` is the state of a run; `runs` says which process runs it,
so another shell can cancel or approve it, and a run whose process died is marked failed by
the next `tidings run` / `tidings tasks` instead of showing `running` forever.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError

from tidings.errors import InputError
from tidings.model import Task
from tidings.store import tables
from tidings.store.db import Store

T = tables.tasks
R = tables.runs
A = tables.approvals
HEARTBEAT = 1.0  # seconds between a runner's heartbeats
STALE = 15.0  # a heartbeat older than this (from another host) means the runner died
ACTIVE = ("created", "running", "pause")  # a task whose runner is (or should be) alive
HOST = socket.gethostname()


@dataclass(frozen=True)
class RunRow:
    workflow: str
    task_id: int
    pid: int
    host: str
    heartbeat_at: float
    finished_at: float | None
    cancel_requested_at: float | None
    cancel_requested_by: str | None
    run_dir: str
    waiting: dict[str, Any] | None
    created_at: float


def start(store: Store, workflow: str, snapshot: Any, run_dir: Any, now: float) -> int:
    """Allocate the next task id of the workflow and record the task and its runner, at once.

    `snapshot(task_id)` builds the created Task; `run_dir(task_id)` its directory.
    """
    for _ in range(20):
        try:
            with store.engine.begin() as connection:
                last = connection.execute(
                    select(func.max(T.c.task_id)).where(T.c.workflow == workflow)
                ).scalar()
                task_id = int(last or 0) + 1
                task: Task = snapshot(task_id)
                connection.execute(
                    T.insert().values(
                        workflow=workflow,
                        task_id=task_id,
                        status=task.status,
                        snapshot=task.model_dump(mode="json"),
                        created_at=now,
                        updated_at=now,
                    )
                )
                connection.execute(
                    R.insert().values(
                        workflow=workflow,
                        task_id=task_id,
                        pid=os.getpid(),
                        host=HOST,
                        heartbeat_at=now,
                        run_dir=str(run_dir(task_id)),
                        created_at=now,
                    )
                )
                return task_id
        except IntegrityError:  # another runner took the id first (PostgreSQL): next one
            continue
    raise RuntimeError(f"could not allocate a task id for workflow {workflow}")


def save(store: Store, task: Task) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            update(T)
            .where(and_(T.c.workflow == task.workflow_name, T.c.task_id == task.task_id))
            .values(
                status=task.status, snapshot=task.model_dump(mode="json"), updated_at=time.time()
            )
        )


def beat(store: Store, workflow: str, task_id: int) -> RunRow:
    """Record that the runner is alive; return its row (a cancel request, the approvals)."""
    with store.engine.begin() as connection:
        where = and_(R.c.workflow == workflow, R.c.task_id == task_id)
        connection.execute(update(R).where(where).values(heartbeat_at=time.time()))
        row = connection.execute(select(R).where(where)).one()
    return RunRow(**row._mapping)


def finish(store: Store, workflow: str, task_id: int) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            update(R)
            .where(and_(R.c.workflow == workflow, R.c.task_id == task_id))
            .values(finished_at=time.time(), waiting=None)
        )


def set_waiting(store: Store, workflow: str, task_id: int, waiting: dict | None) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            update(R)
            .where(and_(R.c.workflow == workflow, R.c.task_id == task_id))
            .values(waiting=waiting)
        )


def previous_status(store: Store, workflow: str, task_id: int) -> str | None:
    """The status of task `task_id - 1` of the workflow (Zadig's `changed`), None if none."""
    with store.engine.connect() as connection:
        return connection.execute(
            select(T.c.status).where(and_(T.c.workflow == workflow, T.c.task_id == task_id - 1))
        ).scalar()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(store: Store, now: float | None = None, config: Any = None) -> list[tuple[str, int]]:
    """Mark failed the tasks whose runner died (same host: pid gone; else heartbeat stale).

    With the configuration, their `failed` notification is recorded in the outbox too (once:
    the same idempotency key the runner uses), for the next worker to deliver.
    """
    now = now or time.time()
    dead: list[tuple[str, int]] = []
    ended: list[Task] = []
    with store.engine.begin() as connection:
        rows = connection.execute(
            select(R, T.c.snapshot)
            .join(T, and_(T.c.workflow == R.c.workflow, T.c.task_id == R.c.task_id))
            .where(R.c.finished_at.is_(None), T.c.status.in_(ACTIVE))
        ).all()
        for row in rows:
            gone = (row.host == HOST and not _alive(row.pid)) or (now - row.heartbeat_at > STALE)
            if not gone or (row.host == HOST and row.pid == os.getpid()):
                continue
            task = Task.model_validate(row.snapshot)
            error = (
                f"the runner (pid {row.pid} on {row.host}) stopped without finishing this task; "
                "marked failed"
            )
            task = mark_ended(task, "failed", error, int(now))
            connection.execute(
                update(T)
                .where(and_(T.c.workflow == row.workflow, T.c.task_id == row.task_id))
                .values(status="failed", snapshot=task.model_dump(mode="json"), updated_at=now)
            )
            connection.execute(
                update(R)
                .where(and_(R.c.workflow == row.workflow, R.c.task_id == row.task_id))
                .values(finished_at=now, waiting=None)
            )
            dead.append((row.workflow, row.task_id))
            ended.append(task)
    if config is not None:
        for task in ended:
            _notify_failed(store, config, task, now)
    return dead


def _notify_failed(store: Store, config: Any, task: Task, now: float) -> None:
    from tidings.delivery.outbox import NewEvent
    from tidings.dispatch.plan import plan_event
    from tidings.sending.record import record

    workflow = next((w for w in config.workflows if w.name == task.workflow_name), None)
    if workflow is None:
        return  # no longer configured: nobody to tell
    found = previous_status(store, task.workflow_name, task.task_id)
    plan = plan_event(
        config, workflow, task, status="failed", previous_status="" if found is None else found
    )
    event = NewEvent(
        kind="task",
        workflow=task.workflow_name,
        task_id=task.task_id,
        status="failed",
        idempotency_key=f"run:{task.workflow_name}#{task.task_id}:failed",
    )
    record(store, plan, event, now=now, expires_in=config.system.delivery.max_age)


def mark_ended(task: Task, status: str, error: str, now: int) -> Task:
    """The task ended with `status`: unfinished jobs and stages are closed with it."""
    task = task.model_copy(deep=True)
    for stage in task.stages:
        for job in stage.jobs:
            if job.status in ("prepare", ""):
                job.status = "skipped"
            elif job.status in ("running", "wait_for_approval"):
                job.status, job.end_time = status, now
        if stage.status in ("running", "prepare", "", "pause"):
            stage.status = "skipped" if all(j.status == "skipped" for j in stage.jobs) else status
    task.status, task.error, task.end_time = status, error, now
    return task


def parse_ref(ref: str) -> tuple[str, int | None]:
    """`WORKFLOW#ID`, or `WORKFLOW` for its latest task."""
    name, sep, number = ref.partition("#")
    if not name or (sep and not number.isdigit()):
        raise InputError(
            f"task {ref!r}: write WORKFLOW#ID (e.g. release#12), or WORKFLOW for its latest task"
        )
    return name, int(number) if sep else None


def find(store: Store, ref: str) -> tuple[str, int]:
    """The (workflow, task id) a `WORKFLOW#ID` / `WORKFLOW` reference names, run by tidings."""
    workflow, task_id = parse_ref(ref)
    query = select(R.c.task_id).where(R.c.workflow == workflow)
    if task_id is not None:
        query = query.where(R.c.task_id == task_id)
    with store.engine.connect() as connection:
        found = connection.execute(query.order_by(R.c.task_id.desc()).limit(1)).scalar()
    if found is None:
        what = f"task {workflow}#{task_id}" if task_id is not None else f"workflow {workflow!r}"
        raise InputError(
            f"no run of {what} in {store.display}; `tidings tasks` lists the runs "
            "(use the same -c / TIDINGS_HOME as `tidings run`)"
        )
    return workflow, int(found)


def run_row(store: Store, workflow: str, task_id: int) -> RunRow:
    with store.engine.connect() as connection:
        row = connection.execute(
            select(R).where(and_(R.c.workflow == workflow, R.c.task_id == task_id))
        ).one()
    return RunRow(**row._mapping)


def task_of(store: Store, workflow: str, task_id: int) -> Task:
    with store.engine.connect() as connection:
        snapshot = connection.execute(
            select(T.c.snapshot).where(and_(T.c.workflow == workflow, T.c.task_id == task_id))
        ).scalar()
    return Task.model_validate(snapshot)


def request_cancel(store: Store, workflow: str, task_id: int, by: str) -> bool:
    """Ask the runner to cancel; False if the task already ended."""
    task = task_of(store, workflow, task_id)
    if task.status not in ACTIVE:
        return False
    with store.engine.begin() as connection:
        connection.execute(
            update(R)
            .where(and_(R.c.workflow == workflow, R.c.task_id == task_id))
            .values(cancel_requested_at=time.time(), cancel_requested_by=by)
        )
    return True


def decide(
    store: Store, workflow: str, task_id: int, user: str, decision: str, comment: str
) -> dict[str, Any]:
    """Record `user`'s approve/reject of the approval the task waits for; the waiting info."""
    run = run_row(store, workflow, task_id)
    name = f"{workflow}#{task_id}"
    if run.finished_at is not None or not run.waiting:
        raise InputError(f"task {name} is not waiting for an approval")
    waiting = run.waiting
    if "stage" in waiting:
        raise InputError(
            f"task {name} waits for stage {waiting['stage']} to be run by hand, not for an "
            f"approval: tidings run-stage {name} --user ID"
        )
    if user not in waiting["approvers"]:
        raise InputError(
            f"user {user!r} may not approve job {waiting['job']} of {name}; approvers: "
            + ", ".join(waiting["approvers"])
        )
    try:
        with store.engine.begin() as connection:
            connection.execute(
                A.insert().values(
                    workflow=workflow,
                    task_id=task_id,
                    job=waiting["job"],
                    user_id=user,
                    decision=decision,
                    comment=comment,
                    at=time.time(),
                )
            )
    except IntegrityError:
        raise InputError(
            f"user {user!r} has already decided on job {waiting['job']} of {name}"
        ) from None
    return waiting


def run_stage(store: Store, workflow: str, task_id: int, user: str) -> dict[str, Any]:
    """Record that `user` runs the manual stage the task is paused before; the waiting info."""
    run = run_row(store, workflow, task_id)
    name = f"{workflow}#{task_id}"
    waiting = run.waiting if run.finished_at is None else None
    if not waiting or "stage" not in waiting:
        raise InputError(f"task {name} is not paused before a manual stage")
    if user not in waiting["executors"]:
        raise InputError(
            f"user {user!r} may not run stage {waiting['stage']} of {name}; it may be run by: "
            + ", ".join(waiting["executors"])
        )
    # Run twice by one user: the first one counts.
    with contextlib.suppress(IntegrityError), store.engine.begin() as connection:
        connection.execute(
            A.insert().values(
                workflow=workflow,
                task_id=task_id,
                job=manual_key(waiting["stage"]),
                user_id=user,
                decision="run",
                comment="",
                at=time.time(),
            )
        )
    return waiting


def manual_key(stage: str) -> str:
    """Where a manual stage's run is recorded among the approvals ('/' is never in a job name)."""
    return f"stage/{stage}"


def decisions(store: Store, workflow: str, task_id: int, job: str) -> list[dict[str, Any]]:
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(A.c.user_id, A.c.decision, A.c.comment, A.c.at)
            .where(and_(A.c.workflow == workflow, A.c.task_id == task_id, A.c.job == job))
            .order_by(A.c.id)
        ).all()
    return [dict(row._mapping) for row in rows]


def waiting_of(row: dict[str, Any]) -> dict[str, Any] | None:
    """What a task of `list_tasks` / `get_task` still waits for: an approval {job, approvers,
    needed, message} or a manual stage {stage, executors}; None once its run finished."""
    return row.get("waiting") if row.get("finished_at") is None else None


def _tasks_query() -> Any:
    """Tasks with their runner's state (none for snapshots sent by other systems)."""
    return select(
        T.c.workflow,
        T.c.task_id,
        T.c.status,
        T.c.snapshot,
        R.c.pid,
        R.c.run_dir,
        R.c.waiting,
        R.c.cancel_requested_at,
        R.c.finished_at,
    ).outerjoin(R, and_(R.c.workflow == T.c.workflow, R.c.task_id == T.c.task_id))


def list_tasks(
    store: Store, workflow: str | None, limit: int, status: str | None = None
) -> list[dict[str, Any]]:
    """Newest first; `pid` tells tasks run here from snapshots sent by other systems."""
    query = _tasks_query().order_by(T.c.created_at.desc(), T.c.task_id.desc()).limit(limit)
    if workflow:
        query = query.where(T.c.workflow == workflow)
    if status:
        query = query.where(T.c.status == status)
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def get_task(store: Store, workflow: str, task_id: int) -> dict[str, Any] | None:
    """One task with its runner's state (None when unknown): what the API shows of a task."""
    query = _tasks_query().where(and_(T.c.workflow == workflow, T.c.task_id == task_id))
    with store.engine.connect() as connection:
        row = connection.execute(query).first()
    return dict(row._mapping) if row is not None else None
