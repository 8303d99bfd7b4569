"""GitHub's webhooks: `workflow_run` (a run requested, in progress, completed), `workflow_job`
(one job queued, waiting, in progress, completed) and `ping`, read into updates
(docs/sources.md lists each field).
"""

from __future__ import annotations

from typing import Any

from tidings.sources.payload import NAME, TEXT, URL, Reader
from tidings.sources.updates import (
    ENDED,
    QUEUED,
    RUNNING,
    Event,
    Ignored,
    JobEvent,
    JobUpdate,
    Origin,
    Ping,
    RunUpdate,
)

SOURCE = "github"

# workflow_run.status (before it completes) -> the task's status and its rank.
RUN_STATUSES: dict[str, tuple[str, int]] = {
    "requested": ("created", QUEUED),
    "queued": ("created", QUEUED),
    "pending": ("created", QUEUED),
    "waiting": ("wait_for_approval", RUNNING),  # an environment's reviewers must approve
    "in_progress": ("running", RUNNING),
}
# workflow_run.conclusion once completed.
RUN_CONCLUSIONS: dict[str, tuple[str, int]] = {
    "success": ("passed", ENDED),
    "neutral": ("passed", ENDED),
    "failure": ("failed", ENDED),
    "startup_failure": ("failed", ENDED),
    "cancelled": ("cancelled", ENDED),
    "stale": ("cancelled", ENDED),
    "timed_out": ("timeout", ENDED),
    "skipped": ("skipped", ENDED),
    # A maintainer must approve the run (a first-time contributor's pull request); it may
    # then run, so it is not ended.
    "action_required": ("wait_for_approval", RUNNING),
}
JOB_STATUSES: dict[str, tuple[str, int]] = {
    "queued": ("", QUEUED),  # not started: 未执行
    "requested": ("", QUEUED),
    "pending": ("", QUEUED),
    "waiting": ("wait_for_approval", QUEUED),
    "in_progress": ("running", RUNNING),
}
JOB_CONCLUSIONS: dict[str, str] = {
    "success": "passed",
    "neutral": "passed",
    "failure": "failed",
    "startup_failure": "failed",
    "cancelled": "cancelled",
    "stale": "cancelled",
    "timed_out": "timeout",
    "skipped": "skipped",
    "action_required": "wait_for_approval",
}


def parse(event: str, data: dict[str, Any]) -> Event:
    """The update an event of type `event` (X-GitHub-Event) makes; InputError (a 400 naming
    the field) when its payload lacks what tidings needs or holds it in the wrong type."""
    if event == "ping":
        return Ping(Reader(data, "GitHub ping payload").text("zen"))
    if event == "workflow_run":
        return _run(Reader(data, "GitHub workflow_run payload"))
    if event == "workflow_job":
        return _job(Reader(data, "GitHub workflow_job payload"))
    return Ignored(
        f"GitHub event {event or '(no X-GitHub-Event)'!r} is not one tidings acts on: let the "
        "webhook send only workflow runs and workflow jobs"
    )


def _login(r: Reader, *path: str) -> str:
    return r.text(*path, "login")


def _run(r: Reader) -> Event:
    r.obj("workflow_run", required=True)
    full_name = r.text("repository", "full_name", required=True, limit=200)
    run_id = r.integer("workflow_run", "id", required=True)
    number = r.integer("workflow_run", "run_number", required=True)
    status = r.text("workflow_run", "status", required=True)
    conclusion = r.text("workflow_run", "conclusion")
    attempt = r.integer("workflow_run", "run_attempt") or 1
    name = r.text("workflow_run", "name") or r.text("workflow", "name")
    branch = r.text("workflow_run", "head_branch")
    sha = r.text("workflow_run", "head_sha", limit=64)
    html_url = r.text("workflow_run", "html_url", limit=URL)
    title = r.text("workflow_run", "display_title", limit=TEXT)
    message = r.text("workflow_run", "head_commit", "message", limit=TEXT)
    author = r.text("workflow_run", "head_commit", "author", "name")
    author_email = r.text("workflow_run", "head_commit", "author", "email")
    repo_url = r.text("repository", "html_url", limit=URL) or f"https://github.com/{full_name}"
    owner = _login(r, "repository", "owner") or full_name.split("/")[0]
    repo_name = r.text("repository", "name") or full_name.split("/")[-1]
    prs = [
        r.integer("workflow_run", "pull_requests", index, "number")
        for index in range(len(r.items("workflow_run", "pull_requests", limit=20)))
    ]
    actor = (
        _login(r, "workflow_run", "triggering_actor")
        or _login(r, "workflow_run", "actor")
        or _login(r, "sender")
    )
    event = r.text("workflow_run", "event")
    created = r.time("workflow_run", "created_at")
    started = r.time("workflow_run", "run_started_at") or created
    updated = r.time("workflow_run", "updated_at")
    repository_id = r.integer("repository", "id")
    r.done()
    if status == "completed":
        mapped = RUN_CONCLUSIONS.get(conclusion)
        raw = f"completed/{conclusion or 'null'}"
    else:
        mapped = RUN_STATUSES.get(status)
        raw = status
    if mapped is None:
        return Ignored(f"workflow_run status {raw!r} is not one tidings maps (docs/sources.md)")
    task_status, rank = mapped
    info = {
        "ci_workflow": name,
        "project": full_name,
        "remark": title or message.split("\n", 1)[0],
        "detail_url": html_url,
        "create_time": created,
        "start_time": started,
        "end_time": updated if rank == ENDED else 0,
        "creator": {"login": actor, "name": "", "email": ""},
        "repository": {
            "source": SOURCE,
            "repo_owner": owner,
            "repo_name": repo_name,
            "branch": branch,
            "prs": [n for n in prs if n] or None,
            "commit_id": sha,
            "commit_url": f"{repo_url}/commit/{sha}" if sha else "",
            "commit_message": message,
            "author_name": author,
        },
        # {{.payload.…}}: what dynamic_recipients and notification jobs may name.
        "payload": {
            "workflow_run": {
                "id": run_id,
                "name": name,
                "run_number": number,
                "run_attempt": attempt,
                "event": event,
                "status": status,
                "conclusion": conclusion,
                "head_branch": branch,
                "head_sha": sha,
                "html_url": html_url,
                "display_title": title,
                "head_commit": {
                    "message": message,
                    "author": {"name": author, "email": author_email},
                },
                "triggering_actor": {"login": actor},
            },
            "repository": {"full_name": full_name, "html_url": repo_url},
        },
    }
    return RunUpdate(
        source=SOURCE,
        key=f"{SOURCE}:{repository_id}:{run_id}",
        origin=Origin(full_name, name, branch or None),
        generation=attempt,
        rank=rank,
        status=task_status,
        raw=raw,
        task_id=number,
        info=info,
    )


def _job(r: Reader) -> Event:
    r.obj("workflow_job", required=True)
    full_name = r.text("repository", "full_name", required=True, limit=200)
    job_id = r.integer("workflow_job", "id", required=True)
    run_id = r.integer("workflow_job", "run_id", required=True)
    name = r.text("workflow_job", "name", required=True, limit=NAME)
    status = r.text("workflow_job", "status", required=True)
    conclusion = r.text("workflow_job", "conclusion")
    attempt = r.integer("workflow_job", "run_attempt") or 1
    # Both newer than the event itself (2022): without them the job is routed by repository.
    ci_workflow = r.text("workflow_job", "workflow_name") or None
    branch = r.text("workflow_job", "head_branch") or None
    started = r.time("workflow_job", "started_at")
    completed = r.time("workflow_job", "completed_at")
    repository_id = r.integer("repository", "id")
    r.done()
    if status == "completed":
        job_status, rank = JOB_CONCLUSIONS.get(conclusion, conclusion or "failed"), ENDED
        raw = f"completed/{conclusion or 'null'}"
    else:
        job_status, rank = JOB_STATUSES.get(status, ("", QUEUED))
        raw = status
    job = JobUpdate(
        slot=name,
        id=job_id,
        generation=attempt,
        rank=rank,
        name=name,
        stage="",
        status=job_status,
        raw=raw,
        start_time=started,
        end_time=completed if rank == ENDED else 0,
    )
    return JobEvent(
        source=SOURCE,
        key=f"{SOURCE}:{repository_id}:{run_id}",
        origin=Origin(full_name, ci_workflow, branch),
        job=job,
    )
