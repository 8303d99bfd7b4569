"""The tasks' statements: task ids and snapshots, the runner's state of a task it runs
(`runs`: heartbeat, cancel request, what it waits for) and decisions on approvals and manual
stages (`approvals`).

Snapshots come and go as plain JSON data (the runner turns them into model.Task); the
runner decides what a row means (alive or dead, who may decide).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from tidings.store.db import DatabaseError, Store, from_json, in_list, to_json


@dataclass(frozen=True)
class RunRow:
    """A task's runner: which process runs it, and what was asked of it."""

    workflow: str
    task_id: int
    pid: int
    host: str
    heartbeat_at: float
    finished_at: float | None
    cancel_requested_at: float | None
    cancel_requested_by: str | None
    run_dir: str
    waiting: dict[str, Any] | None  # what it waits for: an approval, a manual stage
    created_at: float


_RUN_COLUMNS = tuple(f.name for f in fields(RunRow))  # every column of `runs`


def _run_row(row: dict[str, Any]) -> RunRow:
    """A row of `runs`, its JSON decoded."""
    return RunRow(**{**row, "waiting": from_json(row["waiting"])})


class NewRun(NamedTuple):
    """A task about to run: its status, snapshot and run directory, once its id is known."""

    status: str
    snapshot: dict[str, Any]
    run_dir: str


_NEXT_ID = "SELECT max(task_id) FROM tasks WHERE workflow = :workflow"
_INSERT_TASK = """
INSERT INTO tasks (workflow, task_id, status, snapshot, created_at, updated_at)
VALUES (:workflow, :task_id, :status, :snapshot::json, :now, :now)
"""
_INSERT_RUN = """
INSERT INTO runs (workflow, task_id, pid, host, heartbeat_at, run_dir, created_at)
VALUES (:workflow, :task_id, :pid, :host, :now, :run_dir, :now)
"""


LAST_TASK_ID = 2**63 - 1  # BIGINT: the largest id either database stores


class NoNextId(Exception):
    """The workflow already has a task with the largest id there is: none comes after it."""


def start(
    store: Store,
    workflow: str,
    build: Callable[[int], NewRun],
    *,
    pid: int,
    host: str,
    now: float,
    tries: int = 20,
) -> int | None:
    """Allocate the next task id of the workflow and record the task (`build(task_id)`) and
    its runner (process `pid` on `host`) at once; the id, None if `tries` ids were all taken
    by other runners first. NoNextId: the workflow's largest id is LAST_TASK_ID."""
    for _ in range(tries):
        try:
            with store.transaction() as tx:
                task_id = int(tx.value(_NEXT_ID, {"workflow": workflow}) or 0) + 1
                if task_id > LAST_TASK_ID:
                    raise NoNextId(workflow)
                new = build(task_id)
                key = {"workflow": workflow, "task_id": task_id, "now": now}
                snapshot = to_json(new.snapshot)
                tx.run(_INSERT_TASK, {**key, "status": new.status, "snapshot": snapshot})
                tx.run(_INSERT_RUN, {**key, "pid": pid, "host": host, "run_dir": new.run_dir})
            return task_id
        except DatabaseError as exc:
            if not exc.integrity:
                raise
            # Another runner took the id first (PostgreSQL; SQLite writers queue): the next one.
    return None


def save(
    store: Store, workflow: str, task_id: int, status: str, snapshot: dict[str, Any], now: float
) -> None:
    """The task's new status and snapshot."""
    with store.transaction() as tx:
        tx.run(
            "UPDATE tasks SET status = :status, snapshot = :snapshot::json, updated_at = :now "
            "WHERE workflow = :workflow AND task_id = :task_id",
            {
                "workflow": workflow,
                "task_id": task_id,
                "status": status,
                "snapshot": to_json(snapshot),
                "now": now,
            },
        )


_THE_RUN = "WHERE workflow = :workflow AND task_id = :task_id"
_RUN = f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs {_THE_RUN}"


def beat(store: Store, workflow: str, task_id: int, now: float) -> RunRow:
    """Record that the task's runner is alive at `now`; its row as it stands."""
    key = {"workflow": workflow, "task_id": task_id}
    with store.transaction() as tx:
        tx.run(f"UPDATE runs SET heartbeat_at = :now {_THE_RUN}", {**key, "now": now})
        (row,) = tx.dicts(_RUN, key)
    return _run_row(row)


def finish(store: Store, workflow: str, task_id: int, now: float) -> None:
    """The task's runner is done with it: it waits for nothing any more."""
    with store.transaction() as tx:
        tx.run(
            f"UPDATE runs SET finished_at = :now, waiting = NULL {_THE_RUN}",
            {"workflow": workflow, "task_id": task_id, "now": now},
        )


def set_waiting(store: Store, workflow: str, task_id: int, waiting: dict[str, Any] | None) -> None:
    """What the task waits for now (None: nothing)."""
    with store.transaction() as tx:
        tx.run(
            f"UPDATE runs SET waiting = :waiting::json {_THE_RUN}",
            {"workflow": workflow, "task_id": task_id, "waiting": to_json(waiting)},
        )


def status_of(store: Store, workflow: str, task_id: int) -> str | None:
    """The task's status, None if there is no such task."""
    with store.transaction(write=False) as tx:
        status: str | None = tx.value(
            f"SELECT status FROM tasks {_THE_RUN}", {"workflow": workflow, "task_id": task_id}
        )
    return status


def snapshot_of(store: Store, workflow: str, task_id: int) -> dict[str, Any] | None:
    """The task's latest snapshot, None if there is no such task."""
    with store.transaction(write=False) as tx:
        snapshot = tx.value(
            f"SELECT snapshot FROM tasks {_THE_RUN}", {"workflow": workflow, "task_id": task_id}
        )
    found: dict[str, Any] | None = from_json(snapshot)
    return found


@dataclass(frozen=True)
class ActiveRun:
    """An unfinished run of a task whose status says its runner should be alive."""

    run: RunRow
    snapshot: dict[str, Any]


class Ended(NamedTuple):
    """How a task whose runner died ends: its status and snapshot."""

    status: str
    snapshot: dict[str, Any]


_ACTIVE = f"""
SELECT {", ".join(f"r.{name}" for name in _RUN_COLUMNS)}, t.snapshot
FROM runs r JOIN tasks t ON t.workflow = r.workflow AND t.task_id = r.task_id
WHERE r.finished_at IS NULL AND t.status IN {{active}}
"""
_END_TASK = f"""
UPDATE tasks SET status = :status, snapshot = :snapshot::json, updated_at = :now {_THE_RUN}
"""
_END_RUN = f"UPDATE runs SET finished_at = :now, waiting = NULL {_THE_RUN}"


def end_runs(
    store: Store, active: Sequence[str], now: float, judge: Callable[[ActiveRun], Ended | None]
) -> list[tuple[str, int]]:
    """End the unfinished runs of tasks with an `active` status that `judge` finds dead
    (it returns how the task ends, or None for a live one); the (workflow, task id) ended.

    Judged and written in one transaction: a run is ended as it was found."""
    marks, params = in_list(active)
    ended: list[tuple[str, int]] = []
    with store.transaction() as tx:
        for found in tx.dicts(_ACTIVE.format(active=marks), params):
            snapshot = found.pop("snapshot")
            row = _run_row(found)
            end = judge(ActiveRun(row, from_json(snapshot)))
            if end is None:
                continue
            key = {"workflow": row.workflow, "task_id": row.task_id, "now": now}
            tx.run(_END_TASK, {**key, "status": end.status, "snapshot": to_json(end.snapshot)})
            tx.run(_END_RUN, key)
            ended.append((row.workflow, row.task_id))
    return ended


def latest_run(store: Store, workflow: str, task_id: int | None = None) -> int | None:
    """The id of the workflow's latest task run by tidings (of task `task_id` when given);
    None if there is none."""
    params: dict[str, Any] = {"workflow": workflow}
    sql = "SELECT task_id FROM runs WHERE workflow = :workflow"
    if task_id is not None:
        sql += " AND task_id = :task_id"
        params["task_id"] = task_id
    with store.transaction(write=False) as tx:
        found = tx.value(sql + " ORDER BY task_id DESC LIMIT 1", params)
    return None if found is None else int(found)


def run_of(store: Store, workflow: str, task_id: int) -> RunRow | None:
    """The task's runner, None if tidings does not run it."""
    with store.transaction(write=False) as tx:
        rows = tx.dicts(_RUN, {"workflow": workflow, "task_id": task_id})
    return _run_row(rows[0]) if rows else None


def request_cancel(store: Store, workflow: str, task_id: int, by: str, now: float) -> None:
    """Ask the task's runner to cancel it (`by` whom)."""
    with store.transaction() as tx:
        tx.run(
            f"UPDATE runs SET cancel_requested_at = :now, cancel_requested_by = :by {_THE_RUN}",
            {"workflow": workflow, "task_id": task_id, "now": now, "by": by},
        )


_INSERT_DECISION = """
INSERT INTO approvals (workflow, task_id, job, user_id, decision, comment, at)
VALUES (:workflow, :task_id, :job, :user_id, :decision, :comment, :at)
"""


def add_decision(
    store: Store,
    workflow: str,
    task_id: int,
    job: str,
    user: str,
    decision: str,
    comment: str,
    at: float,
) -> bool:
    """Record `user`'s decision on the task's `job`; False (and nothing recorded) if that
    user has decided on it already."""
    try:
        with store.transaction() as tx:
            tx.run(
                _INSERT_DECISION,
                {
                    "workflow": workflow,
                    "task_id": task_id,
                    "job": job,
                    "user_id": user,
                    "decision": decision,
                    "comment": comment,
                    "at": at,
                },
            )
    except DatabaseError as exc:
        if exc.integrity:  # one decision per user and job (uq_approvals_user)
            return False
        raise
    return True


def decisions(store: Store, workflow: str, task_id: int, job: str) -> list[dict[str, Any]]:
    """The decisions on the task's `job`, in the order made: user_id, decision, comment, at."""
    with store.transaction(write=False) as tx:
        rows = tx.run(
            "SELECT user_id, decision, comment, at FROM approvals "
            "WHERE workflow = :workflow AND task_id = :task_id AND job = :job ORDER BY id",
            {"workflow": workflow, "task_id": task_id, "job": job},
        )
    return [
        {"user_id": user, "decision": decision, "comment": comment, "at": at}
        for user, decision, comment, at in rows
    ]


# Tasks with their runner's state (none for snapshots sent by other systems).
_TASKS = """
SELECT t.workflow, t.task_id, t.status, t.snapshot, r.pid, r.run_dir, r.waiting,
    r.cancel_requested_at, r.finished_at
FROM tasks t LEFT OUTER JOIN runs r ON r.workflow = t.workflow AND r.task_id = t.task_id
"""
# The only text a filter adds: its value is always a bound parameter, never part of the SQL.
_TASK_FILTERS = {"workflow": "t.workflow = :workflow", "status": "t.status = :status"}


def _task_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of _TASKS, its JSON decoded."""
    row["snapshot"] = from_json(row["snapshot"])
    row["waiting"] = from_json(row["waiting"])
    return row


def list_tasks(
    store: Store, workflow: str | None, limit: int, status: str | None = None
) -> list[dict[str, Any]]:
    """Tasks with their runner's state, newest first; a non-empty workflow or status
    narrows the list. `pid` is None for snapshots sent by other systems."""
    given = {"workflow": workflow or None, "status": status or None}
    params: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
    where = " AND ".join(_TASK_FILTERS[name] for name in params)
    sql = _TASKS + (f"WHERE {where}\n" if where else "")
    sql += "ORDER BY t.created_at DESC, t.task_id DESC LIMIT :limit"
    params["limit"] = limit
    with store.transaction(write=False) as tx:
        return [_task_row(row) for row in tx.dicts(sql, params)]


def get_task(store: Store, workflow: str, task_id: int) -> dict[str, Any] | None:
    """One task with its runner's state, None if unknown."""
    with store.transaction(write=False) as tx:
        rows = tx.dicts(
            _TASKS + "WHERE t.workflow = :workflow AND t.task_id = :task_id",
            {"workflow": workflow, "task_id": task_id},
        )
    return _task_row(rows[0]) if rows else None
