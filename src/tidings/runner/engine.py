"""The task state machine: runs a workflow's stages and jobs, persists the snapshot after every
change, and notifies every event through runner.notifier while the process's delivery worker
(given by the caller: one per process) delivers them.

Statuses (specs/zadig.md §2): task created -> running (-> pause before a manual stage, until
someone runs it) -> passed | failed | cancelled | timeout | reject; jobs prepare, running,
wait_for_approval, then passed | failed | cancelled | timeout | reject, or skipped when an
earlier stage did not pass. Events are recorded in the order they happen, so each destination
gets its messages in that order; each is recorded once per task (an idempotency key), so a
message is never sent twice for the same change.

    run = Run(config, workflow, store, deliveries, options)
    task = run.start()          # the task id is allocated, the snapshot saved: `created`
    result = await run.execute()
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from tidings.config.models import Config, WorkflowConfig
from tidings.config.workflows import JobDef
from tidings.model import Job, Stage, Task
from tidings.notify import variables
from tidings.redact import Redactor
from tidings.runner import manual, state
from tidings.runner.jobs import KINDS
from tidings.runner.jobs.base import JobFailed, log
from tidings.runner.notifier import TERMINAL, Deliveries, Notifications
from tidings.runner.observer import Observer
from tidings.store.db import Store

# A stage takes the status of its worst job.
_WORST = ("cancelled", "timeout", "failed", "reject", "passed", "skipped")
POLL = 0.1  # seconds between looks at cancel requests


@dataclass
class RunOptions:
    creator: str = ""  # a configured user id; else the OS user's name, without contact
    remark: str = ""
    variables: dict[str, str] = field(default_factory=dict)  # --var NAME=VALUE
    home: Path | None = None  # run directories go under <home>/runs (default: data dir)
    delivery_wait: float = 30.0  # seconds to wait for the task's deliveries at the end
    handle_sigint: bool = True  # Ctrl-C cancels the task (CLI); tests and the demo say no


@dataclass
class Result:
    task: Task
    delivery_ids: list[str]
    delivery_statuses: dict[str, str]

    @property
    def undelivered(self) -> int:
        return sum(1 for s in self.delivery_statuses.values() if s != "sent")


class Run:
    """One task of a workflow, from created to its end."""

    def __init__(
        self,
        config: Config,
        workflow: WorkflowConfig,
        store: Store,
        deliveries: Deliveries,
        options: RunOptions | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.config = config
        self.workflow = workflow
        self.store = store
        self.options = options or RunOptions()
        self.observer = observer or Observer()
        self.variables = self.options.variables
        self.notifications = Notifications(config, workflow, store, deliveries, self.observer)
        self.outputs: dict[str, dict[str, str]] = {}
        self.executed_stages: dict[str, str] = {}  # manual stage -> the user who ran it
        self.task: Task
        self.run_dir: Path
        self._abort: tuple[str, str] | None = None  # (status, error) of a cancel or timeout
        self._stages_task: asyncio.Task[None] | None = None

    # --- the snapshot -------------------------------------------------------------------

    def _created(self, task_id: int) -> Task:
        from tidings.dispatch.task import complete_task
        from tidings.notify.content import workflow_url

        user = self.config.user(self.options.creator) if self.options.creator else None
        now = int(time.time())
        task = Task(
            task_id=task_id,
            workflow_name=self.workflow.name,
            status="created",
            remark=self.options.remark,
            create_time=now,
            task_creator=user.name or user.id if user else _os_user(),
            task_creator_id=user.id if user else "",
            task_creator_email=user.email if user else "",
            task_creator_phone=user.phone if user else "",
            task_type="workflow",
            stages=[
                Stage(
                    name=stage.name,
                    jobs=[
                        Job(name=j.name, display_name=j.display_name or None, type=j.type)
                        for j in stage.jobs
                    ],
                )
                for stage in self.workflow.stages
            ],
        )
        task = complete_task(task, self.workflow)
        return task.model_copy(
            update={"detail_url": workflow_url(self.config.system.address, task)}
        )

    def save(self) -> None:
        state.save(self.store, self.task)

    def values(self) -> dict[str, str]:
        task = self.task
        values = variables.task_values(task, self.config.system.address, self.config.system.tz)
        values.update(variables.params(self.variables))
        for job in task.jobs():
            values[f"job.{job.name}.status"] = job.status
        for name, outputs in self.outputs.items():
            values.update({f"job.{name}.output.{k}": v for k, v in outputs.items()})
        return values

    def stage_of(self, job: Job) -> Stage:
        return next(s for s in self.task.stages if job in s.jobs)

    def notify(
        self, status: str, job: JobDef | None = None, key: str = "", **more: list[str]
    ) -> None:
        """Notify an event of the task (or of a job: its own ctls). A manual stage's
        executors are, but while the task waits for one to run it, those who ran it
        (Zadig's executedManualStageUsers): for a job, who ran its own stage."""
        if "stage_executors" not in more:
            ran = self.executed_stages
            if job is not None:
                stage = next(s for s in self.workflow.stages if job in s.jobs)
                more["stage_executors"] = [ran[stage.name]] if stage.name in ran else []
            else:
                more["stage_executors"] = list(dict.fromkeys(ran.values()))
        self.notifications.event(
            self.task, status, job=job, key=key or status, values=self.values(), **more
        )

    # --- running -------------------------------------------------------------------------

    def start(self) -> Task:
        """Allocate the task id and its run directory; the task is `created`, not yet run."""
        from tidings.store.db import data_dir

        state.reap(self.store, config=self.config)
        base = (self.options.home or data_dir()) / "runs" / self.workflow.name
        task_id = state.start(
            self.store, self.workflow.name, self._created, lambda i: base / str(i), time.time()
        )
        self.task = state.task_of(self.store, self.workflow.name, task_id)
        self.run_dir = base / str(task_id)
        for sub in ("workspace", "logs", "outputs"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        return self.task

    async def execute(self) -> Result:
        """Run the started task to its end; wait a while for its deliveries."""
        loop = asyncio.get_running_loop()
        if self.options.handle_sigint:
            loop.add_signal_handler(signal.SIGINT, self.abort, "cancelled", "cancelled (Ctrl-C)")
        try:
            await self._lifecycle()
            # The task's messages, sent while it ran or still in the queue: wait a while.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.notifications.wait(list(self.notifications.delivery_ids)),
                    self.options.delivery_wait,
                )
        finally:
            if self.options.handle_sigint:
                loop.remove_signal_handler(signal.SIGINT)
            state.finish(self.store, self.workflow.name, self.task.task_id)
            self.notifications.close()
        statuses = self.notifications.statuses()
        return Result(self.task, list(statuses), statuses)

    def abort(self, status: str, error: str) -> None:
        """Stop the task with `status` (cancelled, timeout): running jobs end with it."""
        if self._abort is None and self.task.status not in TERMINAL:
            self._abort = (status, error)
            if self._stages_task is not None:
                self._stages_task.cancel()

    async def _lifecycle(self) -> None:
        self.observer.task_changed(self.task)
        self.notify("created")
        self.task.status, self.task.start_time = "running", int(time.time())
        self.save()
        self.observer.task_changed(self.task)
        watch = asyncio.create_task(self._watch())
        self._stages_task = asyncio.create_task(self._stages())
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await self._stages_task
        finally:
            watch.cancel()
        status, error = self._outcome()
        self.task = state.mark_ended(self.task, status, error, int(time.time()))
        self.save()
        self.observer.task_changed(self.task)
        self.notify(status)

    def _outcome(self) -> tuple[str, str]:
        if self._abort is not None:
            return self._abort
        for stage in self.task.stages:
            if stage.status in ("failed", "timeout", "reject", "cancelled"):
                job = next((j for j in stage.jobs if j.status == stage.status), None)
                error = f"{job.shown_name}: {job.error}" if job and job.error else stage.error
                return stage.status, error
        return "passed", ""

    async def _watch(self) -> None:
        """Heartbeat, cancel requests from other shells, the workflow's timeout."""
        started = time.monotonic()
        beat = 0.0
        while True:
            now = time.monotonic()
            if now - beat >= state.HEARTBEAT or beat == 0.0:
                run = state.beat(self.store, self.workflow.name, self.task.task_id)
                beat = now
                if run.cancel_requested_at is not None:
                    who = run.cancel_requested_by or "`tidings cancel`"
                    self.abort("cancelled", f"cancelled by {who}")
            if self.workflow.timeout and now - started > self.workflow.timeout:
                self.abort("timeout", f"the workflow timed out after {self.workflow.timeout:g} s")
            await asyncio.sleep(POLL if self.workflow.timeout else min(POLL * 2, 0.5))

    async def _stages(self) -> None:
        for index, definition in enumerate(self.workflow.stages):
            stage = self.task.stages[index]
            if definition.manual is not None and not await manual.pause(self, definition, stage):
                return  # nobody may run it: the task fails (mark_ended skips the rest)
            stage.status, stage.start_time = "running", int(time.time())
            self.save()
            if definition.parallel:
                await asyncio.gather(*(self._job(stage, job) for job in definition.jobs))
            else:
                for job in definition.jobs:
                    await self._job(stage, job)
                    if stage.jobs[definition.jobs.index(job)].status != "passed":
                        break  # one after the other: the rest of the stage is skipped
            stage.end_time = int(time.time())
            statuses = {job.status for job in stage.jobs}
            stage.status = next((s for s in _WORST if s in statuses), "passed")
            self.save()
            if stage.status not in ("passed", "skipped"):
                return  # later stages are skipped (mark_ended)

    async def _job(self, stage: Stage, definition: JobDef) -> None:
        job = next(j for j in stage.jobs if j.name == definition.name)
        job.status, job.start_time = "prepare", int(time.time())
        self.notify("prepare", definition, key=f"job:{job.name}:prepare")
        job.status = "running"
        self.save()
        self.observer.job_changed(self.task, stage, job)
        log_path = state.log_path(self.run_dir, job.name)
        try:
            body = KINDS[definition.type](self, definition, job, log_path)
            if definition.timeout:
                await asyncio.wait_for(body, definition.timeout)
            else:
                await body
            job.status = "passed"
        except JobFailed as exc:
            job.status, job.error = exc.status, exc.message
        except TimeoutError:
            job.status, job.error = "timeout", f"timed out after {definition.timeout:g} s"
        except asyncio.CancelledError:
            status, error = self._abort or ("cancelled", "cancelled")
            job.status, job.error = status, error
            self._job_ended(stage, job, definition, log_path)
            raise
        self._job_ended(stage, job, definition, log_path)

    def _job_ended(self, stage: Stage, job: Job, definition: JobDef, log_path: Path) -> None:
        job.end_time = int(time.time())
        if job.error:
            log(log_path, f"[tidings] job {job.status}: {job.error}")
        self.save()
        self.observer.job_changed(self.task, stage, job)
        self.notify(job.status, definition, key=f"job:{job.name}:end")


async def run_here(
    config: Config,
    workflow: WorkflowConfig,
    store: Store,
    options: RunOptions | None = None,
    observer: Observer | None = None,
    redactor: Redactor | None = None,
) -> Result:
    """Run a task in this process with a delivery worker of its own (`tidings run`, the demo,
    tests); a server gives its runs the worker it already has instead."""
    from tidings.delivery.background import BackgroundWorker

    async with BackgroundWorker(store, config, redactor=redactor) as deliveries:
        run = Run(config, workflow, store, deliveries, options, observer)
        run.start()
        return await run.execute()


def _os_user() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return os.environ.get("USER", "")
