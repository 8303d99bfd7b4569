"""The runner's state in the store: task ids, snapshots, heartbeats, cancel requests, approvals
(their statements: store/tasks.py).

The snapshot (model.Task) in `tasks` is the state of a run; `runs` says which process runs it,
so another shell can cancel or approve it, and a run whose process died is marked failed by
the next `tidings run` / `tidings tasks` instead of showing `running` forever.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidings.errors import InputError
from tidings.model import Task
from tidings.store import tasks as stored
from tidings.store.db import Store
from tidings.store.tasks import RunRow

if TYPE_CHECKING:
    from tidings.config.models import Config

HEARTBEAT = 1.0  # seconds between a runner's heartbeats
STALE = 15.0  # a heartbeat older than this (from another host) means the runner died
ACTIVE = ("created", "running", "pause")  # a task whose runner is (or should be) alive
HOST = socket.gethostname()


def start(store: Store, workflow: str, snapshot: Any, run_dir: Any, now: float) -> int:
    """Allocate the next task id of the workflow and record the task and its runner, at once.

    `snapshot(task_id)` builds the created Task; `run_dir(task_id)` its directory.
    """

    def build(task_id: int) -> stored.NewRun:
        task: Task = snapshot(task_id)
        return stored.NewRun(task.status, task.model_dump(mode="json"), str(run_dir(task_id)))

    try:
        task_id = stored.start(store, workflow, build, pid=os.getpid(), host=HOST, now=now)
    except stored.NoNextId:
        raise InputError(
            f"workflow {workflow} has a task numbered {stored.LAST_TASK_ID}, the largest task "
            "id there is, so no task can come after it: such an id comes from a task sent "
            "from elsewhere (tidings send, POST /api/v1/events); run this workflow under "
            "another name, or send those tasks under another workflow name"
        ) from None
    if task_id is None:
        raise InputError(
            f"could not number a new task of workflow {workflow}: other runners took the "
            "next 20 ids first; try again"
        )
    return task_id


def save(store: Store, task: Task) -> None:
    stored.save(
        store,
        task.workflow_name,
        task.task_id,
        task.status,
        task.model_dump(mode="json"),
        time.time(),
    )


def beat(store: Store, workflow: str, task_id: int) -> RunRow:
    """Record that the runner is alive; return its row (a cancel request, the approvals)."""
    return stored.beat(store, workflow, task_id, time.time())


def finish(store: Store, workflow: str, task_id: int) -> None:
    stored.finish(store, workflow, task_id, time.time())


def set_waiting(store: Store, workflow: str, task_id: int, waiting: dict[str, Any] | None) -> None:
    stored.set_waiting(store, workflow, task_id, waiting)


def previous_status(store: Store, workflow: str, task_id: int) -> str | None:
    """The status of task `task_id - 1` of the workflow (Zadig's `changed`), None if none."""
    return stored.status_of(store, workflow, task_id - 1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(
    store: Store, now: float | None = None, config: Config | None = None
) -> list[tuple[str, int]]:
    """Mark failed the tasks whose runner died (same host: pid gone; else heartbeat stale).

    With the configuration, their `failed` notification is recorded in the outbox too (once:
    the same idempotency key the runner uses), for the next worker to deliver.
    """
    now = now or time.time()
    ended: list[Task] = []

    def judge(found: stored.ActiveRun) -> stored.Ended | None:
        row = found.run
        gone = (row.host == HOST and not _alive(row.pid)) or (now - row.heartbeat_at > STALE)
        if not gone or (row.host == HOST and row.pid == os.getpid()):
            return None
        error = (
            f"the runner (pid {row.pid} on {row.host}) stopped without finishing this task; "
            "marked failed"
        )
        task = mark_ended(Task.model_validate(found.snapshot), "failed", error, int(now))
        ended.append(task)
        return stored.Ended("failed", task.model_dump(mode="json"))

    dead = stored.end_runs(store, ACTIVE, now, judge)
    if config is not None:
        for task in ended:
            _notify_failed(store, config, task, now)
    return dead


def _notify_failed(store: Store, config: Config, task: Task, now: float) -> None:
    from tidings.dispatch.plan import plan_event
    from tidings.sending.record import record
    from tidings.store.outbox import NewEvent

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
    found = stored.latest_run(store, workflow, task_id)
    if found is None:
        what = f"task {workflow}#{task_id}" if task_id is not None else f"workflow {workflow!r}"
        raise InputError(
            f"no run of {what} in {store.display}; `tidings tasks` lists the runs "
            "(use the same -c / TIDINGS_HOME as `tidings run`)"
        )
    return workflow, found


def run_row(store: Store, workflow: str, task_id: int) -> RunRow:
    """The runner's row of a task tidings runs (`find` found it)."""
    row = stored.run_of(store, workflow, task_id)
    if row is None:
        raise LookupError(f"no run of task {workflow}#{task_id}")
    return row


def task_of(store: Store, workflow: str, task_id: int) -> Task:
    return Task.model_validate(stored.snapshot_of(store, workflow, task_id))


def request_cancel(store: Store, workflow: str, task_id: int, by: str) -> bool:
    """Ask the runner to cancel; False if the task already ended."""
    task = task_of(store, workflow, task_id)
    if task.status not in ACTIVE:
        return False
    stored.request_cancel(store, workflow, task_id, by, time.time())
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
    job = waiting["job"]
    if not stored.add_decision(store, workflow, task_id, job, user, decision, comment, time.time()):
        raise InputError(f"user {user!r} has already decided on job {job} of {name}")
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
    # Run twice by one user: the first one counts (add_decision keeps it).
    job = manual_key(waiting["stage"])
    stored.add_decision(store, workflow, task_id, job, user, "run", "", time.time())
    return waiting


def manual_key(stage: str) -> str:
    """Where a manual stage's run is recorded among the approvals ('/' is never in a job name)."""
    return f"stage/{stage}"


def decisions(store: Store, workflow: str, task_id: int, job: str) -> list[dict[str, Any]]:
    return stored.decisions(store, workflow, task_id, job)


def waiting_of(row: dict[str, Any]) -> dict[str, Any] | None:
    """What a task of `list_tasks` / `get_task` still waits for: an approval {job, approvers,
    needed, message} or a manual stage {stage, executors}; None once its run finished."""
    waiting: dict[str, Any] | None = row.get("waiting") if row.get("finished_at") is None else None
    return waiting


def describe(row: dict[str, Any]) -> dict[str, Any]:
    """A task of `list_tasks` / `get_task` as `--json` and the API show it."""
    return {
        "workflow": row["workflow"],
        "task_id": row["task_id"],
        "status": row["status"],
        "run_here": row["pid"] is not None,
        "task": row["snapshot"],
        "waiting": waiting_of(row),
        "cancel_requested": row.get("cancel_requested_at") is not None,
    }


def log_path(run_dir: str | Path, job: str) -> Path:
    """Where the log of job `job` of a run is: `<run_dir>/logs/<job>.log`. Only a job name of
    the configuration's shape (letters, digits, - and _) becomes part of a path: anything
    else (`../`, a slash, a NUL) could name a file outside the run's folder. ValueError."""
    from tidings.config.workflows import JOB_NAME

    if not JOB_NAME.fullmatch(job):
        raise ValueError(f"{job[:80]!r} is not a job name (letters, digits, - and _)")
    return Path(run_dir) / "logs" / f"{job}.log"


def job_logs(
    store: Store, workflow: str, task_id: int, job: str | None = None
) -> list[dict[str, Any]]:
    """[{name, log}] of each job of a task run here (or of `job`): log is None for a job that
    did not run. InputError: the task has no such job."""
    run_dir = run_row(store, workflow, task_id).run_dir
    names = [j.name for j in task_of(store, workflow, task_id).jobs()]
    if job is not None and job not in names:
        raise InputError(
            f"task {workflow}#{task_id} has no job {job!r}; its jobs: {', '.join(names)}"
        )
    found = []
    for name in [job] if job else names:
        try:
            path = log_path(run_dir, name)
        except ValueError:
            text = None  # never a path: the runner writes logs only for valid names
        else:
            text = path.read_text("utf-8", errors="replace") if path.exists() else None
        found.append({"name": name, "log": text})
    return found


def list_tasks(
    store: Store, workflow: str | None, limit: int, status: str | None = None
) -> list[dict[str, Any]]:
    """Newest first; `pid` tells tasks run here from snapshots sent by other systems."""
    return stored.list_tasks(store, workflow, limit, status)


def get_task(store: Store, workflow: str, task_id: int) -> dict[str, Any] | None:
    """One task with its runner's state (None when unknown): what the API shows of a task."""
    return stored.get_task(store, workflow, task_id)
