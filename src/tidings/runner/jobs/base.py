"""What a job kind is handed by the runner (JobHost), and how it says it did not pass."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tidings.config.workflows import JobDef

if TYPE_CHECKING:
    from tidings.config.models import Config, WorkflowConfig
    from tidings.model import Job, Stage, Task
    from tidings.runner.notifier import Notifications
    from tidings.runner.observer import Observer
    from tidings.store.db import Store


class JobFailed(Exception):
    """The job ended without passing: its status (failed, reject) and what went wrong."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class JobHost(Protocol):
    """The run a job belongs to, as a job kind sees it (runner.engine.Run has this shape)."""

    config: Config
    workflow: WorkflowConfig
    store: Store
    task: Task
    run_dir: Path
    variables: dict[str, str]  # --var NAME=VALUE
    outputs: dict[str, dict[str, str]]  # each script job's outputs, by job name
    notifications: Notifications
    observer: Observer
    executed_stages: dict[str, str]  # each manual stage run so far -> the user who ran it

    def values(self) -> dict[str, str]:
        """The variables of {{.path}} templates now (task, vars, job statuses and outputs)."""
        ...

    def save(self) -> None:
        """Persist the task snapshot (others read it: tasks, logs, the API)."""
        ...

    def stage_of(self, job: Job) -> Stage: ...

    def notify(
        self, status: str, job: JobDef | None = None, key: str = "", **more: list[str]
    ) -> None:
        """Notify an event of the task (with `job`: that job's own ctls), once per `key`."""
        ...


# A job kind: run `job` (its definition given) in `host`, writing its log to the path; it
# returns when the job passed, raises JobFailed (or TimeoutError / CancelledError) otherwise.
JobKind = Callable[["JobHost", "JobDef", "Job", Path], Awaitable[None]]


def log(path: Path, line: str) -> None:
    """Append one line to a job's log."""
    with open(path, "a", encoding="utf-8") as file:
        file.write(line.rstrip("\n") + "\n")
