"""Request and response bodies of API v1, as they appear in /openapi.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ProblemOut(BaseModel):
    path: str = Field(description="The field, e.g. `workflow.task_id` or `query.limit`.")
    message: str


class ErrorOut(BaseModel):
    error: str = Field(description="What is wrong and what to do.")
    problems: list[ProblemOut] = Field(default_factory=list)


class DeliveryRef(BaseModel):
    id: str
    channel: str
    destination: str = Field(
        description="The destination's key: a hash of what it addresses, e.g. "
        "`dingding:5f0c9a3e61b27d4488a1c2e0` (docs/delivery.md)."
    )
    source: str = Field(default="", description="The ctl it came from: `release/notify_ctls[0]`.")
    label: str
    status: str = Field(description="pending, sent, failed or dead.")


class SkippedOut(BaseModel):
    webhook_type: str
    reason: str
    ctl_index: int | None = None


class EventAccepted(BaseModel):
    event_id: str
    duplicate: bool = Field(description="True when the idempotency key was seen before.")
    status: str = Field(description="The status the event was notified with.")
    deliveries: list[DeliveryRef]
    skipped: list[SkippedOut] = Field(default_factory=list)


class HookAnswer(BaseModel):
    """What a GitHub or GitLab webhook did (POST /api/v1/hooks/github, /hooks/gitlab)."""

    source: str = Field(description="github or gitlab.")
    event: str = Field(description="The platform's event: workflow_run, Pipeline Hook, ...")
    outcome: str = Field(
        description="notified (its deliveries are below), duplicate (this delivery was "
        "notified before: its deliveries), recorded (a job, kept with its run), stale (the run "
        "is already further), unchanged (the run's status is the same), ignored (an event or "
        "status tidings does not act on), unrouted (no workflow configured for it), pong."
    )
    message: str = ""
    workflow: str | None = None
    task_id: int | None = None
    status: str | None = Field(default=None, description="The run's status after the event.")
    event_id: str | None = None
    deliveries: list[DeliveryRef] = Field(default_factory=list)
    skipped: list[SkippedOut] = Field(default_factory=list)


class PreviewOut(BaseModel):
    status: str
    requests: list[dict[str, Any]] = Field(description="Each call as sent, secrets masked.")
    skipped: list[SkippedOut] = Field(default_factory=list)


class WorkflowOut(BaseModel):
    name: str
    display_name: str
    project: str
    notify: list[str] = Field(description="The webhook_type of each notify_ctl.")
    stages: list[str]
    runnable: bool = Field(description="Has stages: POST .../tasks can run it.")


class ValidateOut(BaseModel):
    valid: bool
    source: str
    problems: list[ProblemOut] = Field(default_factory=list)
    warnings: list[ProblemOut] = Field(default_factory=list)


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    creator: str = Field(default="", max_length=200, description="A configured user id.")
    remark: str = Field(default="", max_length=2000)
    vars: dict[str, str] = Field(default_factory=dict, description="{{.var.NAME}}, $NAME.")


class StartOut(BaseModel):
    workflow: str
    task_id: int
    status: str
    url: str = Field(description="Where to follow it: GET this path.")


class TaskOut(BaseModel):
    workflow: str
    task_id: int
    status: str
    run_here: bool = Field(description="Run by tidings (else a snapshot another system sent).")
    task: dict[str, Any] = Field(description="The task snapshot: stages, jobs, statuses.")
    waiting: dict[str, Any] | None = Field(
        default=None,
        description="What the task waits for: an approval {job, approvers, needed, message}, "
        "or a manual stage {stage, executors}.",
    )
    cancel_requested: bool = False


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=200, description="A listed approver.")
    comment: str = Field(default="", max_length=2000)


class RunStageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(
        min_length=1, max_length=200, description="One of the stage's manual_exec_users."
    )


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(default="", max_length=200)


class ActionOut(BaseModel):
    workflow: str
    task_id: int
    result: str


class JobLog(BaseModel):
    name: str
    log: str | None = Field(description="None when the job did not run.")


class LogsOut(BaseModel):
    workflow: str
    task_id: int
    jobs: list[JobLog]


class DeliveryRow(BaseModel):
    id: str
    status: str
    channel: str
    destination: str = Field(description="The destination's key (what it addresses, hashed).")
    source: str = Field(
        default="", description="The ctl it came from, e.g. `release/notify_ctls[0]`."
    )
    address: str = Field(description="The destination as people see it, secrets masked.")
    label: str
    attempts: int
    last_code: str | None = None
    last_error: str | None = None
    created_at: float
    finished_at: float | None = None
    workflow: str | None = None
    task_id: int | None = None
    event_status: str | None = None
    kind: str = Field(description="`task`, `notification`, or `digest` (a backlog merged).")
    digest_id: str | None = Field(
        default=None, description="Status `coalesced`: the digest it was merged into."
    )
    paused_until: float | None = Field(
        default=None,
        description="While its destination's circuit breaker pauses it after failures in a "
        "row: nothing is sent to it before this time (docs/delivery.md).",
    )
    paused_reason: str | None = Field(
        default=None, description="The failure that paused its destination."
    )


class CarriedOut(BaseModel):
    """A delivery a digest carries."""

    id: str
    status: str
    source: str = ""
    event_id: str
    workflow: str | None = None
    task_id: int | None = None
    event_status: str | None = None


class AttemptOut(BaseModel):
    at: float
    duration_ms: float | None = None
    outcome: str
    http_status: int | None = None
    code: str | None = None
    detail: str | None = None
    worker: str | None = None


class DeliveryDetail(DeliveryRow):
    next_attempt_at: float | None = None
    expires_at: float | None = None
    request: dict[str, Any] = Field(description="As stored: no secrets; signed when sent.")
    attempts_log: list[AttemptOut]
    skipped: list[str] = Field(
        default_factory=list,
        description="Why its notify_ctl left someone out when it was planned (a person "
        "without an address, a dynamic recipient nobody could be found for).",
    )
    carries: list[CarriedOut] = Field(
        default_factory=list,
        description="A digest: the deliveries merged into it (their events), oldest first.",
    )


class RetryOut(BaseModel):
    queued: list[str]
    not_queued: list[str] = Field(
        default_factory=list,
        description="Why something was not queued: a destination not in this configuration "
        "(retry with replan=true), or an event that could not be planned again.",
    )


class HealthOut(BaseModel):
    status: str
