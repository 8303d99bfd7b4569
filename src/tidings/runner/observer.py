"""What a task's run tells whoever watches it (the CLI's live table or lines; nothing for the
API): every method is optional to override."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidings.delivery.worker import Final
    from tidings.model import Job, Stage, Task


class Observer:
    def task_changed(self, task: Task) -> None: ...

    def job_changed(self, task: Task, stage: Stage, job: Job) -> None: ...

    def notified(self, status: str, job: str | None, deliveries: int) -> None: ...

    def skipped(self, status: str, job: str | None, reasons: list[str]) -> None:
        """Why a ctl of this event sends nothing, or reaches fewer people."""

    def delivered(self, final: Final) -> None: ...

    def waiting(self, task: Task, job: Job, waiting: dict[str, Any]) -> None: ...

    def paused(self, task: Task, stage: Stage, waiting: dict[str, Any]) -> None:
        """The task waits before a manual stage until one of `waiting['executors']` runs it."""
