"""The task snapshot: Zadig's webhook `workflow` object, used as input, content source and payload.

One model serves three roles (DESIGN.md): what another CI hands us, what content is rendered
from, and what the generic webhook sends back out. Field names are Zadig's exactly.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tidings.statuses import STATUSES as STATUSES  # re-exported: statuses are the snapshot's
from tidings.statuses import Status as Status


class _Snapshot(BaseModel):
    # Unknown fields are kept: a receiver may rely on fields we do not model.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Repository(_Snapshot):
    source: str = ""
    repo_owner: str = ""
    repo_namespace: str = ""
    repo_name: str = ""
    branch: str = ""
    prs: list[int] | None = None
    tag: str = ""
    author_name: str | None = None
    commit_id: str = ""
    commit_url: str = ""
    commit_message: str = ""


class ServiceModule(_Snapshot):
    service_module: str = ""
    image: str = ""


class TestResult(_Snapshot):
    """Counts shown as 测试结果 (an extension: Zadig reads them from its own test records)."""

    total: int = 0
    success: int = 0
    failed: int = 0


class JobSpec(_Snapshot):
    """Build, deploy and test details; every field optional since spec varies by job type."""

    repositories: list[Repository] | None = None
    image: str | None = None
    env: str | None = None
    service_name: str | None = None
    service_modules: list[ServiceModule] | None = None
    test_result: TestResult | None = None


class Job(_Snapshot):
    name: str = ""
    display_name: str | None = None
    type: str = ""
    status: str = ""
    start_time: int = 0
    end_time: int = 0
    error: str = ""
    spec: JobSpec | None = None

    @property
    def shown_name(self) -> str:
        return self.display_name or self.name


class Stage(_Snapshot):
    name: str = ""
    status: str = ""
    start_time: int = 0
    end_time: int = 0
    error: str = ""
    jobs: list[Job] = Field(default_factory=list)


class Task(_Snapshot):
    """A task snapshot: exactly the `workflow` object of Zadig's webhook payload."""

    task_id: int
    workflow_name: str
    status: str
    workflow_display_name: str = ""
    project_name: str = ""
    project_display_name: str = ""
    remark: str = ""
    detail_url: str = ""
    error: str = ""
    create_time: int = 0
    start_time: int = 0
    end_time: int = 0
    stages: list[Stage] = Field(default_factory=list)
    task_creator: str = ""
    task_creator_id: str = ""
    task_creator_email: str = ""
    task_creator_phone: str = ""
    task_type: str = ""

    @property
    def display_name(self) -> str:
        return self.workflow_display_name or self.workflow_name

    def jobs(self) -> list[Job]:
        return [job for stage in self.stages for job in stage.jobs]


# Keys of the seed document's real webhook request (specs/seed-zadig-workflow-notification.md),
# always present in the payload; the other Task fields appear only when they hold a value.
SEED_WORKFLOW_KEYS: tuple[str, ...] = (
    "task_creator",
    "project_name",
    "task_creator_id",
    "task_creator_email",
    "stages",
    "error",
    "start_time",
    "workflow_name",
    "detail_url",
    "task_id",
    "remark",
    "workflow_display_name",
    "end_time",
    "task_creator_phone",
    "create_time",
    "status",
)
SEED_STAGE_KEYS: tuple[str, ...] = ("status", "start_time", "end_time", "name", "jobs", "error")
SEED_JOB_KEYS: tuple[str, ...] = (
    "status",
    "end_time",
    "start_time",
    "spec",
    "type",
    "error",
    "name",
)
SEED_REPOSITORY_KEYS: tuple[str, ...] = (
    "source",
    "repo_namespace",
    "branch",
    "commit_id",
    "commit_url",
    "repo_name",
    "prs",
    "tag",
    "repo_owner",
    "commit_message",
)


def _dump(model: BaseModel, seed_keys: tuple[str, ...]) -> dict[str, Any]:
    """Seed keys always, in the seed's order; any other field only when it holds a value."""
    data = model.model_dump(mode="json", exclude_none=False)
    out: dict[str, Any] = {key: data.get(key) for key in seed_keys}
    for key, value in data.items():
        if key not in out and value not in (None, "", [], {}):
            out[key] = value
    return out


def _spec_payload(spec: JobSpec | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    data = spec.model_dump(mode="json", exclude_none=True)
    if spec.repositories is not None:
        data["repositories"] = [_dump(repo, SEED_REPOSITORY_KEYS) for repo in spec.repositories]
    return data or None


def task_payload(task: Task) -> dict[str, Any]:
    """The `workflow` object as Zadig's webhook sends it (field for field with the seed)."""
    out = _dump(task, SEED_WORKFLOW_KEYS)
    stages = []
    for stage in task.stages:
        stage_out = _dump(stage, SEED_STAGE_KEYS)
        jobs = []
        for job in stage.jobs:
            job_out = _dump(job, SEED_JOB_KEYS)
            job_out["spec"] = _spec_payload(job.spec)
            jobs.append(job_out)
        stage_out["jobs"] = jobs
        stages.append(stage_out)
    out["stages"] = stages
    return out
