"""`tidings run`: run a configured workflow here, showing its stages and jobs as they go."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

from tidings.commands.common import load_config, open_store
from tidings.commands.output import Output, colour_enabled
from tidings.errors import InputError
from tidings.runner.engine import RunOptions
from tidings.runner.observer import Observer

if TYPE_CHECKING:
    from tidings.delivery.worker import Final

_COLOUR = {
    "passed": "green",
    "failed": "red",
    "timeout": "red",
    "reject": "red",
    "cancelled": "yellow",
    "wait_for_approval": "yellow",
    "running": "cyan",
}


def parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise InputError(
                f"--var {pair!r}: write NAME=VALUE, NAME a letter then letters, digits, _"
            )
        found[key] = value
    return found


class LineObserver(Observer):
    """One line per change on stderr: for logs, pipes and CI."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.name = ""

    def task_changed(self, task: Any) -> None:
        self.name = f"{task.workflow_name}#{task.task_id}"
        error = f": {task.error}" if task.error else ""
        self.out.err(f"{self.name} {task.status}{error}", fg=_COLOUR.get(task.status), bold=True)

    def job_changed(self, task: Any, stage: Any, job: Any) -> None:
        took = ""
        if job.end_time and job.start_time:
            took = f" ({job.end_time - job.start_time} s)"
        error = f": {job.error}" if job.error else ""
        self.out.err(
            f"{self.name}  {stage.name} / {job.shown_name}  {job.status}{took}{error}",
            fg=_COLOUR.get(job.status),
        )

    def _note(self, text: str, fg: str | None = None) -> None:
        self.out.err(f"{self.name}  {text}", fg=fg)

    def notified(self, status: str, job: str | None, deliveries: int) -> None:
        if deliveries:
            what = f"job {job} {status}" if job else status
            self._note(f"notify {what}: {deliveries} message(s) queued")

    def skipped(self, status: str, job: str | None, reasons: list[str]) -> None:
        what = f"job {job} {status}" if job else status
        for reason in reasons:
            self._note(f"notify {what}: skipped {reason}", fg="yellow")

    def delivered(self, final: Final) -> None:
        if final.status != "sent":
            self._note(
                f"{final.status.upper()} {final.channel} {final.source or final.address}: "
                f"{final.detail}",
                fg="red",
            )

    def paused(self, task: Any, stage: Any, waiting: dict[str, Any]) -> None:
        self._note(
            f"stage {stage.name} waits to be run by hand by one of "
            f"{', '.join(waiting['executors'])}: "
            f"tidings run-stage {self.name} --user ID (or tidings cancel ...)",
            fg="yellow",
        )

    def waiting(self, task: Any, job: Any, waiting: dict[str, Any]) -> None:
        self._note(
            f"{job.shown_name} waits for {waiting['needed']} approval(s) of "
            f"{', '.join(waiting['approvers'])}: tidings approve {self.name} --user ID "
            f"(or tidings reject ...)",
            fg="yellow",
        )


class LiveObserver(LineObserver):
    """On a terminal: a live table of stages and jobs (rich), and the lines above it."""

    def __init__(self, out: Output) -> None:
        from rich.console import Console
        from rich.live import Live

        super().__init__(out)
        self.console = Console(stderr=True)
        self.live = Live(console=self.console, refresh_per_second=8, transient=False)
        self.task: Any = None

    def start(self) -> None:
        self.live.start()

    def stop(self) -> None:
        self.live.stop()

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(title=f"{self.name} {self.task.status}", expand=False)
        for column in ("stage", "job", "status", "time", "error"):
            table.add_column(column)
        for stage in self.task.stages:
            for job in stage.jobs:
                took = f"{job.end_time - job.start_time} s" if job.end_time else ""
                style = _COLOUR.get(job.status)
                status = f"[{style}]{job.status or '-'}[/]" if style else job.status or "-"
                table.add_row(stage.name, job.shown_name, status, took, job.error[:80])
        return table

    def task_changed(self, task: Any) -> None:
        self.task = task
        self.name = f"{task.workflow_name}#{task.task_id}"
        self.live.update(self._render())

    def job_changed(self, task: Any, stage: Any, job: Any) -> None:
        self.task = task
        self.live.update(self._render())

    def _note(self, text: str, fg: str | None = None) -> None:
        from rich.text import Text

        # A Text, not a str: brackets in it (notify_ctls[0]) are not markup. (markup=False
        # would also turn off the markup of the live table redrawn with this line.)
        line = Text(self.out.redact(text), style=fg or "")  # redacted, as Output.err does
        self.live.console.print(line, highlight=False)


def run(
    config_path: str | None,
    workflow_name: str,
    creator: str | None,
    remark: str,
    var: tuple[str, ...],
    delivery_wait: float,
    as_json: bool = False,
) -> int:
    from tidings.runner.engine import run_here

    out = Output()
    config = load_config(config_path, out)
    workflow = config.workflow(workflow_name)
    if not workflow.stages:
        raise InputError(
            f"workflow {workflow_name!r} has no stages: nothing to run; add stages: with jobs "
            "(docs/runner.md)"
        )
    if creator and config.user(creator) is None:
        known = ", ".join(u.id for u in config.users) or "none"
        raise InputError(f"--creator {creator!r} is not a configured user (users: {known})")
    options = RunOptions(
        creator=creator or "", remark=remark, variables=parse_vars(var), delivery_wait=delivery_wait
    )
    live = colour_enabled(sys.stderr)
    observer: LineObserver = LiveObserver(out) if live else LineObserver(out)
    store = open_store(config)
    if isinstance(observer, LiveObserver):
        observer.start()
    try:
        result = asyncio.run(run_here(config, workflow, store, options, observer, out.redact))
    finally:
        if isinstance(observer, LiveObserver):
            observer.stop()
    task = result.task
    sent = sum(1 for s in result.delivery_statuses.values() if s == "sent")
    code = 0 if task.status == "passed" and not result.undelivered else 1
    if as_json:
        from tidings.runner import state

        row = state.get_task(store, task.workflow_name, task.task_id)
        found = state.describe(row) if row else {"task": task.model_dump(mode="json")}
        out.json({**found, "notifications": {"sent": sent, "not_sent": result.undelivered}})
        return code
    out.out(
        f"{task.workflow_name}#{task.task_id} {task.status}"
        + (f": {task.error}" if task.error else "")
    )
    out.err(
        f"notifications: {sent} sent, {result.undelivered} not sent "
        f"(`tidings deliveries -w {task.workflow_name} --task {task.task_id}`); "
        f"logs: `tidings logs {task.workflow_name}#{task.task_id}`"
    )
    return code
