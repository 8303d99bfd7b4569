"""The task snapshot: Zadig's webhook `workflow` object, used as input, content source and payload.

One model serves three roles (DESIGN.md): what another CI hands us, what content is rendered
from, and what the generic webhook sends back out. Field names are Zadig's exactly.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from tidings.statuses import STATUSES as STATUSES  # re-exported: statuses are the snapshot's
from tidings.statuses import Status as Status

# What both databases store (BIGINT): a number past it is refused naming its field, never
# left to fail the transaction it shares with other events.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
TaskId = Annotated[int, Field(ge=0, le=2**63 - 1)]


class _Snapshot(BaseModel):
    # Unknown fields are kept: a receiver may rely on fields we do not model.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Repository(_Snapshot):
    source: str = ""
    repo_owner: str = ""
    repo_namespace: str = ""
    repo_name: str = ""
    branch: str = ""
    prs: list[Int64] | None = None
    tag: str = ""
    author_name: str | None = None
    commit_id: str = ""
    commit_url: str = ""
    commit_message: str = ""
    # An extension: the repository 代码信息 shows, when not the first (Zadig's is_primary).
    is_primary: bool = False


class ServiceModule(_Snapshot):
    service_module: str = ""
    image: str = ""


class TestResult(_Snapshot):
    """Counts shown as 测试结果 (an extension: Zadig reads them from its own test records)."""

    total: Int64 = 0
    success: Int64 = 0
    failed: Int64 = 0


class SonarMetrics(_Snapshot):
    """SonarQube's figures shown as 扫描结果 (an extension: Zadig reads them from the scan's
    sonar_get_metrics step)."""

    quality_gate_status: str = ""
    ncloc: str = ""
    bugs: str = ""
    vulnerabilities: str = ""
    code_smells: str = ""
    coverage: str = ""


class JobSpec(_Snapshot):
    """Build, deploy and test details; every field optional since spec varies by job type."""

    repositories: list[Repository] | None = None
    image: str | None = None
    env: str | None = None
    service_name: str | None = None
    service_modules: list[ServiceModule] | None = None
    test_result: TestResult | None = None
    sonar_metrics: SonarMetrics | None = None


class Job(_Snapshot):
    name: str = ""
    display_name: str | None = None
    type: str = ""
    status: str = ""
    start_time: Int64 = 0
    end_time: Int64 = 0
    error: str = ""
    spec: JobSpec | None = None

    @property
    def shown_name(self) -> str:
        return self.display_name or self.name


class Stage(_Snapshot):
    name: str = ""
    status: str = ""
    start_time: Int64 = 0
    end_time: Int64 = 0
    error: str = ""
    jobs: list[Job] = Field(default_factory=list)


class Task(_Snapshot):
    """A task snapshot: exactly the `workflow` object of Zadig's webhook payload."""

    task_id: TaskId
    workflow_name: str
    status: str
    workflow_display_name: str = ""
    project_name: str = ""
    project_display_name: str = ""
    remark: str = ""
    detail_url: str = ""
    error: str = ""
    create_time: Int64 = 0
    start_time: Int64 = 0
    end_time: Int64 = 0
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


# The keys of Zadig's webhook body (webhooknotify/types.go: WorkflowNotify,
# WorkflowNotifyStage, WorkflowNotifyJobTask, the build and deploy specs), in Go's order: each
# is always there, "" / 0 / null when the snapshot has no value, as Go writes it.
WORKFLOW_KEYS: tuple[str, ...] = (
    "task_id",
    "project_name",
    "project_display_name",
    "workflow_name",
    "workflow_display_name",
    "status",
    "remark",
    "detail_url",
    "error",
    "create_time",
    "start_time",
    "end_time",
    "stages",
    "task_creator",
    "task_creator_id",
    "task_creator_phone",
    "task_creator_email",
    "task_type",
)
STAGE_KEYS: tuple[str, ...] = ("name", "status", "start_time", "end_time", "jobs", "error")
JOB_KEYS: tuple[str, ...] = (
    "name",
    "display_name",
    "type",
    "status",
    "start_time",
    "end_time",
    "error",
    "spec",
)
REPOSITORY_KEYS: tuple[str, ...] = (
    "source",
    "repo_owner",
    "repo_namespace",
    "repo_name",
    "branch",
    "prs",
    "tag",
    "author_name",
    "commit_id",
    "commit_url",
    "commit_message",
)
BUILD_SPEC_KEYS: tuple[str, ...] = ("repositories", "image")
DEPLOY_SPEC_KEYS: tuple[str, ...] = ("env", "service_name", "service_modules")
BUILD_TYPES = ("zadig-build", "freestyle")  # WorkflowNotifyJobTaskBuildSpec
DEPLOY_TYPES = ("zadig-deploy", "zadig-helm-deploy")  # WorkflowNotifyJobTaskDeploySpec

# Go's zero value of each key, where it is not "": numbers 0, slices and pointers null.
_ZERO: dict[str, Any] = {
    "task_id": 0,
    "create_time": 0,
    "start_time": 0,
    "end_time": 0,
    "stages": [],
    "jobs": None,
    "spec": None,
    "prs": None,
    "repositories": None,
    "service_modules": [],
}


def _dump(model: BaseModel, keys: tuple[str, ...]) -> dict[str, Any]:
    """Go's keys always, in Go's order (its zero value for what the snapshot lacks); any
    other field of the snapshot after them, when it holds a value."""
    data = model.model_dump(mode="json", exclude_none=False)
    out: dict[str, Any] = {}
    for key in keys:
        value = data.get(key)
        out[key] = _ZERO.get(key, "") if value is None else value
    for key, value in data.items():
        if key not in out and value not in (None, "", [], {}, False):
            out[key] = value
    return out


def _spec_payload(job: Job) -> Any:
    """A job's spec as Zadig writes it: the build shape for build and freestyle jobs, the
    deploy shape for deploy jobs, else what the snapshot holds (Zadig: null)."""
    spec = job.spec
    if job.type in BUILD_TYPES:
        out = _dump(spec or JobSpec(), BUILD_SPEC_KEYS)
        if spec is not None and spec.repositories is not None:
            out["repositories"] = [_dump(repo, REPOSITORY_KEYS) for repo in spec.repositories]
        return out
    if job.type in DEPLOY_TYPES:
        out = _dump(spec or JobSpec(), DEPLOY_SPEC_KEYS)
        if spec is not None and spec.service_modules is not None:
            out["service_modules"] = [
                _dump(module, ("service_module", "image")) for module in spec.service_modules
            ]
        return out
    if spec is None:
        return None
    return spec.model_dump(mode="json", exclude_none=True) or None


def task_payload(task: Task) -> dict[str, Any]:
    """The `workflow` object as Zadig's webhook sends it: every key of WorkflowNotify, its
    stages and jobs, whatever the snapshot left out."""
    out = _dump(task, WORKFLOW_KEYS)
    out["project_display_name"] = task.project_display_name or task.project_name
    out["task_type"] = task.task_type or "workflow"
    release_plan = out.pop("release_plan", None)
    if release_plan:  # Zadig's newer body names the release plan a task belongs to
        at = list(out).index("workflow_display_name") + 1
        items = list(out.items())
        out = dict([*items[:at], ("release_plan", release_plan), *items[at:]])
    stages = []
    for stage in task.stages:
        stage_out = _dump(stage, STAGE_KEYS)
        jobs = []
        for job in stage.jobs:
            job_out = _dump(job, JOB_KEYS)
            job_out["display_name"] = job.shown_name
            job_out["spec"] = _spec_payload(job)
            jobs.append(job_out)
        stage_out["jobs"] = jobs or None
        stages.append(stage_out)
    out["stages"] = stages
    return out
