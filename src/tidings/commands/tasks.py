"""`tidings tasks`, `logs`, `cancel`, `approve`, `reject`: runs seen from any shell."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.commands.common import open_store
from tidings.commands.history import _maybe_config
from tidings.commands.output import Output, when
from tidings.runner import state

if TYPE_CHECKING:
    from tidings.config.models import Config
    from tidings.store.db import Store


def _open(config_path: str | None, out: Output) -> tuple[Config | None, Store]:
    """The configuration if there is one, and the database, its dead runs reaped."""
    config = _maybe_config(config_path, out)
    store = open_store(config)
    # A run whose process died is shown failed, not running forever, and notified as such.
    state.reap(store, config=config)
    return config, store


def list_command(config_path: str | None, workflow: str | None, limit: int, as_json: bool) -> int:
    out = Output()
    config, store = _open(config_path, out)
    rows = state.list_tasks(store, workflow, limit)
    tz = config.system.tz if config else None
    if as_json:
        out.json([state.describe(r) for r in rows])
        return 0
    if not rows:
        out.err(f"no tasks in {store.display}" + (f" for workflow {workflow}" if workflow else ""))
        return 0
    lines = []
    for r in rows:
        snap = r["snapshot"]
        start, end = snap.get("start_time") or 0, snap.get("end_time") or 0
        jobs = [j for s in snap.get("stages", []) for j in s.get("jobs", [])]
        done = sum(1 for j in jobs if j.get("status") == "passed")
        notes = [snap.get("remark") or "", snap.get("error") or ""]
        waiting = state.waiting_of(r)
        if waiting and "stage" in waiting:
            notes.append(f"waits for stage {waiting['stage']}: {', '.join(waiting['executors'])}")
        elif waiting:
            notes.append(f"waits for approval of {', '.join(waiting['approvers'])}")
        lines.append(
            [
                f"{r['workflow']}#{r['task_id']}",
                r["status"],
                when(start, tz),
                f"{end - start} s" if end and start else "-",
                f"{done}/{len(jobs)} jobs",
                snap.get("task_creator") or "-",
                "  ".join(note for note in notes if note),
            ]
        )
    colour = {"passed": "green", "running": "cyan", "pause": "yellow"}
    out.table(lines, [colour.get(r["status"], "red") for r in rows])
    return 0


def logs_command(config_path: str | None, ref: str, job: str | None, as_json: bool) -> int:
    out = Output()
    _config, store = _open(config_path, out)
    workflow, task_id = state.find(store, ref)
    jobs = state.job_logs(store, workflow, task_id, job)
    if as_json:
        out.json({"workflow": workflow, "task_id": task_id, "jobs": jobs})
        return 0
    for found in jobs:
        if job is None:
            out.out(f"==> {found['name']} <==", bold=True)
        if found["log"] is not None:
            out.out(found["log"].rstrip("\n"))
        elif job is not None:
            out.err(f"job {job} has no log (it did not run)")
    return 0


def _done(out: Output, workflow: str, task_id: int, result: str, as_json: bool) -> int:
    """What an action did: a line on stderr, or the API's answer on stdout with --json."""
    if as_json:
        out.json({"workflow": workflow, "task_id": task_id, "result": result})
    else:
        out.err(f"{workflow}#{task_id}: {result}")
    return 0


def cancel_command(config_path: str | None, ref: str, user: str, as_json: bool) -> int:
    out = Output()
    _config, store = _open(config_path, out)
    workflow, task_id = state.find(store, ref)
    if not state.request_cancel(store, workflow, task_id, user):
        status = state.task_of(store, workflow, task_id).status
        if as_json:
            out.json({"workflow": workflow, "task_id": task_id, "result": f"already {status}"})
        else:
            out.err(f"{workflow}#{task_id} already ended: {status}")
        return 1
    by = f" by {user}" if user else ""
    return _done(
        out,
        workflow,
        task_id,
        f"cancel requested{by}; its runner stops it within a second",
        as_json,
    )


def run_stage_command(config_path: str | None, ref: str, user: str, as_json: bool) -> int:
    out = Output()
    _config, store = _open(config_path, out)
    workflow, task_id = state.find(store, ref)
    waiting = state.run_stage(store, workflow, task_id, user)
    return _done(out, workflow, task_id, f"stage {waiting['stage']} run by {user}", as_json)


def decide_command(
    config_path: str | None, ref: str, user: str, comment: str, decision: str, as_json: bool
) -> int:
    out = Output()
    _config, store = _open(config_path, out)
    workflow, task_id = state.find(store, ref)
    waiting = state.decide(store, workflow, task_id, user, decision, comment)
    word = "approved" if decision == "approve" else "rejected"
    return _done(out, workflow, task_id, f"job {waiting['job']} {word} by {user}", as_json)
