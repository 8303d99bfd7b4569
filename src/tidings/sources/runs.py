"""A run's state across its events, and the task snapshot made from it.

GitHub reports a run in pieces: `workflow_run` events for the run, a `workflow_job` event for
each job's every step; GitLab sends whole pipelines but also single jobs. Events arrive in any
order (a job before its run, `completed` before `in_progress`) and may be delivered twice. So
each run has a state (kept in the database by `tidings.store.source_runs`, updated under a
lock), merged here by pure functions:

- a job's record is replaced only by one of the same or a later (attempt, job id, rank);
- the run's status is replaced only by one of the same or a later (generation, rank), and a
  change of status (or a new generation) is what is notified; a stale or repeated status is
  not — except the very delivery that set it, posted again, which the outbox then answers as
  a duplicate of what it recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tidings.sources.updates import JobEvent, JobUpdate, RunUpdate

if TYPE_CHECKING:
    from tidings.config.models import Config, User

MAX_JOBS = 500  # jobs kept per run (GitHub allows 256 per matrix; a payload cannot grow it)
JOB_TYPE = "freestyle"  # Zadig's 通用任务: a CI job running its scripts


@dataclass(frozen=True)
class Decision:
    """What an event did to its run: `notify` its (new) `status`, or not, and why not."""

    outcome: str  # "notify" | "stale" | "unchanged" | "recorded" (a job)
    status: str  # the run's status after the event ("" while only jobs are known)
    reason: str = ""
    workflow: str | None = None  # the run's workflow and task id, once its run is known
    task_id: int | None = None

    @property
    def notify(self) -> bool:
        return self.outcome == "notify"


def new_state(source: str) -> dict[str, Any]:
    return {"source": source, "workflow": None, "run": None, "jobs": {}, "dropped": 0}


def _merge_job(state: dict[str, Any], job: JobUpdate) -> None:
    jobs: dict[str, dict[str, Any]] = state["jobs"]
    known = jobs.get(job.slot)
    if known is None:
        if len(jobs) >= MAX_JOBS:
            state["dropped"] = state.get("dropped", 0) + 1
            return
        jobs[job.slot] = job.to_state()
        return
    if job.order() >= (known["generation"], known["id"], known["rank"]):
        jobs[job.slot] = job.to_state()


def merge_job(state: dict[str, Any] | None, event: JobEvent) -> tuple[dict[str, Any], Decision]:
    """A job's event: its record in the run's state; never notified by itself."""
    state = state or new_state(event.source)
    _merge_job(state, event.job)
    run = state.get("run")
    reason = f"job {event.job.name!r} recorded in its run"
    if run is None:
        return state, Decision("recorded", "", reason + " (the run itself is not known yet)")
    return state, Decision("recorded", run["status"], reason, state["workflow"], run["task_id"])


def merge_run(
    state: dict[str, Any] | None, update: RunUpdate, workflow: str, delivery: str | None
) -> tuple[dict[str, Any], Decision]:
    """A run's event: its jobs, and its status unless the run is already further."""
    state = state or new_state(update.source)
    for job in update.jobs:
        _merge_job(state, job)
    run = state.get("run")
    if run is not None and update.order() < (run["generation"], run["rank"]):
        return state, Decision(
            "stale",
            run["status"],
            f"stale: the run is already {run['raw']} ({run['status']}); this event "
            f"({update.raw}) came late and changes nothing",
            state["workflow"],
            run["task_id"],
        )
    before: dict[str, Any] = run or {}
    changed = (
        run is None or update.generation > before["generation"] or update.status != before["status"]
    )
    # The very delivery that set this status, posted again: the outbox answers it as the
    # duplicate it is (a crash between this state and the outbox loses nothing).
    again = not changed and delivery is not None and delivery == before.get("delivery")
    state["workflow"] = workflow
    state["run"] = {
        "task_id": update.task_id,
        "status": update.status,
        "raw": update.raw,
        "generation": update.generation,
        "rank": update.rank,
        "delivery": delivery if changed else before.get("delivery"),
        "info": update.info,
        "stages": list(update.stages) or before.get("stages", []),
    }
    if changed or again:
        return state, Decision("notify", update.status, "", workflow, update.task_id)
    return state, Decision(
        "unchanged",
        update.status,
        f"the run is still {update.status}: nothing new to notify",
        workflow,
        update.task_id,
    )


# --- the task snapshot ------------------------------------------------------------------


def _stage_status(jobs: list[dict[str, Any]], task_status: str) -> str:
    statuses = {job["status"] for job in jobs}
    if "running" in statuses:
        return "running"
    for bad in ("failed", "timeout", "cancelled", "wait_for_approval"):
        if bad in statuses:
            return bad
    if task_status == "pause" and any(job["raw"] == "manual" for job in jobs):
        return "pause"  # GitLab: the pipeline waits for a manual job of this stage
    if statuses and statuses <= {"passed", "skipped"}:
        return "skipped" if statuses == {"skipped"} else "passed"
    return ""


def _stages(state: dict[str, Any], status: str) -> list[dict[str, Any]]:
    run = state["run"]
    jobs = sorted(state["jobs"].values(), key=lambda j: (j["id"], j["name"]))
    if state["source"] == "github":
        # Actions has no stages: its jobs are one stage, named after the workflow.
        order = [run["info"].get("ci_workflow", "") or "jobs"]
        by_stage = {order[0]: jobs}
    else:
        order = list(run.get("stages") or [])
        by_stage = {name: [] for name in order}
        for job in jobs:
            if job["stage"] not in by_stage:
                order.append(job["stage"])
                by_stage[job["stage"]] = []
            by_stage[job["stage"]].append(job)
    stages = []
    first = True
    for name in order:
        members = by_stage[name]
        if not members:
            continue
        out_jobs = []
        for job in members:
            out: dict[str, Any] = {
                "name": job["name"],
                "type": JOB_TYPE,
                "status": job["status"],
                "start_time": job["start_time"],
                "end_time": job["end_time"],
                "error": job["error"],
            }
            repository = run["info"].get("repository")
            if first and repository:
                # The run's commit once, on its first job (as Zadig's build job shows it).
                out["spec"] = {"repositories": [repository]}
                first = False
            out_jobs.append(out)
        stages.append(
            {
                "name": name,
                "status": _stage_status(members, status),
                "start_time": min((j["start_time"] for j in members if j["start_time"]), default=0),
                "end_time": max((j["end_time"] for j in members), default=0),
                "jobs": out_jobs,
            }
        )
    return stages


def find_user(config: Config, login: str, email: str) -> User | None:
    """The configured user who ran it: by login (`logins`, else `id`), else by email."""
    if login:
        wanted = login.casefold()
        for user in config.users:
            if any(name.casefold() == wanted for name in user.logins):
                return user
        for user in config.users:
            if user.id.casefold() == wanted:
                return user
    if email:
        wanted = email.casefold()
        for user in config.users:
            if user.email and user.email.casefold() == wanted:
                return user
    return None


def snapshot(state: dict[str, Any], config: Config) -> dict[str, Any]:
    """The task snapshot (Zadig's webhook `workflow` object) of the run as it stands."""
    run = state["run"]
    info = run["info"]
    workflow = config.workflow(state["workflow"])
    creator = info.get("creator") or {}
    login, email = creator.get("login", ""), creator.get("email", "")
    user = find_user(config, login, email)
    status = run["status"]
    task: dict[str, Any] = {
        "task_id": run["task_id"],
        "workflow_name": workflow.name,
        "workflow_display_name": workflow.display_name or info.get("ci_workflow", ""),
        "project_display_name": workflow.project_display_name or info.get("project", ""),
        "status": status,
        "remark": info.get("remark", ""),
        "detail_url": info.get("detail_url", ""),
        "create_time": info.get("create_time", 0),
        "start_time": info.get("start_time", 0),
        "end_time": info.get("end_time", 0),
        "stages": _stages(state, status),
        "task_creator": (user.name or user.id) if user else creator.get("name") or login,
        "task_creator_id": user.id if user else "",
        "task_creator_email": (user.email if user else "") or email,
        "task_creator_phone": user.phone if user else "",
        "task_type": "workflow",
    }
    if info.get("payload"):
        task["payload"] = info["payload"]  # {{.payload.…}} of dynamic_recipients
    return task
