"""Approval jobs: the task waits (wait_for_approval, notified) until enough of the approvers
approve, from another shell or the API; one rejection ends the job and the task (reject)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidings.runner import state
from tidings.runner.jobs.base import JobFailed, JobHost, log

if TYPE_CHECKING:
    from tidings.config.workflows import JobDef
    from tidings.model import Job

POLL = 0.1  # seconds between looks at the decisions


async def run(host: JobHost, definition: JobDef, job: Job, log_path: Path) -> None:
    spec = definition.typed
    workflow, task_id = host.workflow.name, host.task.task_id
    eligible = host.config.approvers(spec)
    waiting: dict[str, Any] = {
        "job": job.name,
        "approvers": eligible,
        "needed": spec.needed_approvals,
        "message": spec.message,
    }
    job.status = "wait_for_approval"
    host.save()
    state.set_waiting(host.store, workflow, task_id, waiting)
    host.observer.job_changed(host.task, host.stage_of(job), job)
    host.notify("wait_for_approval", key=f"approval:{job.name}")
    host.notify("wait_for_approval", definition, key=f"job:{job.name}:wait_for_approval")
    log(log_path, f"[tidings] waiting for {spec.needed_approvals} of: {', '.join(eligible)}")
    host.observer.waiting(host.task, job, waiting)
    try:
        while True:
            decided = state.decisions(host.store, workflow, task_id, job.name)
            for row in decided:
                if row["decision"] == "reject":
                    comment = f": {row['comment']}" if row["comment"] else ""
                    log(log_path, f"[tidings] rejected by {row['user_id']}{comment}")
                    raise JobFailed("reject", f"rejected by {row['user_id']}{comment}")
            approved = [r["user_id"] for r in decided if r["decision"] == "approve"]
            if len(approved) >= spec.needed_approvals:
                log(log_path, f"[tidings] approved by {', '.join(approved)}")
                return
            await asyncio.sleep(POLL)
    finally:
        state.set_waiting(host.store, workflow, task_id, None)
