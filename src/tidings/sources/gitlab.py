"""GitLab's webhooks: `Pipeline Hook` (a pipeline's status changed; it lists its jobs) and
`Job Hook` (one job's status changed), read into updates (docs/sources.md lists each field).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tidings.sources.payload import NAME, TEXT, URL, Reader
from tidings.sources.runs import MAX_JOBS
from tidings.sources.updates import (
    ENDED,
    QUEUED,
    RUNNING,
    Event,
    Ignored,
    JobEvent,
    JobUpdate,
    Origin,
    RunUpdate,
)

SOURCE = "gitlab"
REDACTED = "[REDACTED]"  # GitLab's email of a user without a public one

PIPELINE_STATUSES: dict[str, tuple[str, int]] = {
    "created": ("created", QUEUED),
    "pending": ("created", QUEUED),  # waiting for a runner: the first event most pipelines send
    "preparing": ("created", QUEUED),
    "waiting_for_resource": ("created", QUEUED),
    "waiting_for_callback": ("created", QUEUED),
    "scheduled": ("running", RUNNING),  # a delayed job counts down
    "running": ("running", RUNNING),
    "manual": ("pause", RUNNING),  # waits for someone to run a manual job
    "success": ("passed", ENDED),
    "failed": ("failed", ENDED),
    "canceling": ("cancelled", ENDED),
    "canceled": ("cancelled", ENDED),
    "skipped": ("skipped", ENDED),
}
JOB_STATUSES: dict[str, tuple[str, int]] = {
    "created": ("", QUEUED),
    "pending": ("", QUEUED),
    "preparing": ("", QUEUED),
    "waiting_for_resource": ("", QUEUED),
    "waiting_for_callback": ("", QUEUED),
    "scheduled": ("", QUEUED),
    "manual": ("", QUEUED),  # 未执行 until someone runs it
    "running": ("running", RUNNING),
    "success": ("passed", ENDED),
    "failed": ("failed", ENDED),
    "canceling": ("cancelled", ENDED),
    "canceled": ("cancelled", ENDED),
    "skipped": ("skipped", ENDED),
}


def parse(event: str, data: dict[str, Any]) -> Event:
    """The update an event of type `event` (X-Gitlab-Event) makes; InputError (a 400 naming
    the field) when its payload lacks what tidings needs or holds it in the wrong type."""
    kind = data.get("object_kind")
    if event == "Pipeline Hook" or (not event and kind == "pipeline"):
        return _pipeline(Reader(data, "GitLab Pipeline Hook payload"))
    if event == "Job Hook" or (not event and kind == "build"):
        return _job(Reader(data, "GitLab Job Hook payload"))
    return Ignored(
        f"GitLab event {event or '(no X-Gitlab-Event)'!r} is not one tidings acts on: let the "
        "webhook send only pipeline events and job events"
    )


def _job_update(
    build_id: int, name: str, stage: str, status: str, started: int, finished: int, reason: str
) -> JobUpdate:
    job_status, rank = JOB_STATUSES.get(status, ("", QUEUED))
    return JobUpdate(
        slot=f"{stage}/{name}",
        id=build_id,
        generation=0,  # a retried job has a new, larger id
        rank=rank,
        name=name,
        stage=stage,
        status=job_status,
        raw=status,
        start_time=started,
        end_time=finished if rank == ENDED else 0,
        error=reason if job_status in ("failed", "cancelled") else "",
    )


def _email(value: str) -> str:
    return "" if value == REDACTED else value


def _pipeline(r: Reader) -> Event:
    r.obj("object_attributes", required=True)
    pipeline_id = r.integer("object_attributes", "id", required=True)
    iid = r.integer("object_attributes", "iid", required=True)
    status = r.text("object_attributes", "status", required=True)
    path = r.text("project", "path_with_namespace", required=True, limit=500)
    project_id = r.integer("project", "id")
    web_url = r.text("project", "web_url", limit=URL)
    ref = r.text("object_attributes", "ref")
    tag = r.flag("object_attributes", "tag")
    sha = r.text("object_attributes", "sha", limit=64)
    url = r.text("object_attributes", "url", limit=URL)
    name = r.text("object_attributes", "name", limit=TEXT)
    source = r.text("object_attributes", "source")
    created = r.time("object_attributes", "created_at")
    finished = r.time("object_attributes", "finished_at")
    duration = r.seconds("object_attributes", "duration")
    stages = [
        r.text("object_attributes", "stages", index)
        for index in range(len(r.items("object_attributes", "stages")))
    ]
    message = r.text("commit", "message", limit=TEXT)
    commit_url = r.text("commit", "url", limit=URL)
    author = r.text("commit", "author", "name")
    author_email = r.text("commit", "author", "email")
    username = r.text("user", "username")
    user_name = r.text("user", "name")
    user_email = _email(r.text("user", "email"))
    mr_iid = r.integer("merge_request", "iid")
    mr_title = r.text("merge_request", "title", limit=TEXT)
    mr_url = r.text("merge_request", "url", limit=URL)
    jobs = []
    for index in range(len(r.items("builds", limit=MAX_JOBS))):
        at = ("builds", index)
        jobs.append(
            _job_update(
                r.integer(*at, "id", required=True),
                r.text(*at, "name", required=True, limit=NAME),
                r.text(*at, "stage", required=True, limit=NAME),
                r.text(*at, "status", required=True),
                r.time(*at, "started_at"),
                r.time(*at, "finished_at"),
                r.text(*at, "failure_reason"),
            )
        )
    r.done()
    mapped = PIPELINE_STATUSES.get(status)
    if mapped is None:
        return Ignored(f"pipeline status {status!r} is not one tidings maps (docs/sources.md)")
    task_status, rank = mapped
    namespace, _, repo_name = path.rpartition("/")
    base = web_url or (commit_url.split("/-/commit/")[0] if "/-/commit/" in commit_url else "")
    info = {
        "ci_workflow": "",
        "project": path,
        "remark": name or message.split("\n", 1)[0],
        "detail_url": url or (f"{base}/-/pipelines/{pipeline_id}" if base else ""),
        "create_time": created,
        "start_time": finished - duration if finished and duration else created,
        "end_time": finished if rank == ENDED else 0,
        "creator": {"login": username, "name": user_name, "email": user_email},
        "repository": {
            "source": SOURCE,
            "repo_owner": namespace,
            "repo_namespace": namespace,
            "repo_name": repo_name,
            "branch": "" if tag else ref,
            "tag": ref if tag else "",
            "prs": [mr_iid] if mr_iid else None,
            "commit_id": sha,
            "commit_url": commit_url or (f"{base}/-/commit/{sha}" if base and sha else ""),
            "commit_message": message,
            "author_name": author,
        },
        "payload": {
            "object_attributes": {
                "id": pipeline_id,
                "iid": iid,
                "name": name,
                "ref": ref,
                "tag": tag,
                "sha": sha,
                "source": source,
                "status": status,
                "url": url,
            },
            "user": {"name": user_name, "username": username, "email": user_email},
            "project": {"id": project_id, "path_with_namespace": path, "web_url": web_url},
            "commit": {
                "id": sha,
                "message": message,
                "url": commit_url,
                "author": {"name": author, "email": author_email},
            },
            "merge_request": {"iid": mr_iid, "title": mr_title, "url": mr_url} if mr_iid else {},
        },
    }
    return RunUpdate(
        source=SOURCE,
        key=f"{SOURCE}:{project_id}:{pipeline_id}",
        origin=Origin(path, None, None if tag else ref or None),
        # A retried job gets a new id: the pipeline's newest job id tells its retries apart.
        generation=max((job.id for job in jobs), default=0),
        rank=rank,
        status=task_status,
        raw=status,
        task_id=iid,
        info=info,
        stages=tuple(s for s in stages if s),
        jobs=tuple(jobs),
    )


def _job(r: Reader) -> Event:
    build_id = r.integer("build_id", required=True)
    name = r.text("build_name", required=True, limit=NAME)
    stage = r.text("build_stage", required=True, limit=NAME)
    status = r.text("build_status", required=True)
    pipeline_id = r.integer("pipeline_id", required=True)
    project_id = r.integer("project_id")
    path = r.text("project", "path_with_namespace", limit=500)
    if not path:  # before GitLab 16.3 a job event had no `project`: its homepage names it
        path = urlsplit(r.text("repository", "homepage", limit=URL)).path.strip("/")
    if not path:
        r.text("project", "path_with_namespace", required=True)
    ref = r.text("ref")
    tag = r.flag("tag")
    started = r.time("build_started_at")
    finished = r.time("build_finished_at")
    reason = r.text("build_failure_reason")
    r.done()
    return JobEvent(
        source=SOURCE,
        key=f"{SOURCE}:{project_id}:{pipeline_id}",
        origin=Origin(path, None, None if tag else ref or None),
        job=_job_update(build_id, name, stage, status, started, finished, reason),
    )
