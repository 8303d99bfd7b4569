"""The task state machine: runs a workflow's stages and jobs, persists the snapshot after every
change, and records every event in the outbox while a worker in this process delivers them.

Statuses (specs/zadig.md §2): task created -> running (-> pause before a manual stage, until
someone runs it) -> passed | failed | cancelled | timeout | reject; jobs prepare, running,
wait_for_approval, then passed | failed | cancelled | timeout | reject, or skipped when an
earlier stage did not pass. Events are recorded in the order they
happen, so each destination gets its messages in that order; each is recorded once per task
(an idempotency key), so a message is never sent twice for the same change.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import getpass
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidings.config.models import Config, WorkflowConfig
from tidings.config.workflows import SCRIPT_TYPES, JobDef, StageDef, TestSpec
from tidings.delivery.outbox import NewEvent
from tidings.model import Job, Stage, Task
from tidings.notify import variables
from tidings.runner import state
from tidings.runner.jobs import JobFailed, ScriptRun, job_spec, run_script, test_result
from tidings.store.db import Store

TERMINAL = ("passed", "failed", "cancelled", "timeout", "reject")
# A stage takes the status of its worst job.
_WORST = ("cancelled", "timeout", "failed", "reject", "passed", "skipped")
POLL = 0.1  # seconds between looks at cancel requests and approvals


class Observer:
    """What the CLI shows while a task runs; every method is optional to override."""

    def task_changed(self, task: Task) -> None: ...

    def job_changed(self, task: Task, stage: Stage, job: Job) -> None: ...

    def notified(self, status: str, job: str | None, deliveries: int) -> None: ...

    def skipped(self, status: str, job: str | None, reasons: list[str]) -> None:
        """Why a ctl of this event sends nothing, or reaches fewer people."""

    def delivered(self, final: Any) -> None: ...

    def waiting(self, task: Task, job: Job, waiting: dict[str, Any]) -> None: ...

    def paused(self, task: Task, stage: Stage, waiting: dict[str, Any]) -> None:
        """The task waits before a manual stage until one of `waiting['executors']` runs it."""


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
    """One task of a workflow, from created to its end; `await Run(...).execute()`."""

    def __init__(
        self,
        config: Config,
        workflow: WorkflowConfig,
        store: Store,
        options: RunOptions | None = None,
        observer: Observer | None = None,
        redactor: Any = None,
    ) -> None:
        self.config = config
        self.workflow = workflow
        self.store = store
        self.options = options or RunOptions()
        self.observer = observer or Observer()
        self.redactor = redactor
        self.task: Task
        self.run_dir: Path
        self.outputs: dict[str, dict[str, str]] = {}
        self.delivery_ids: list[str] = []
        self._finals: dict[str, Any] = {}
        self._final_seen = asyncio.Event()
        self._abort: tuple[str, str] | None = None  # (status, error) of a cancel or timeout
        self._stages_task: asyncio.Task[None] | None = None
        self._worker: Any = None

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

    def _save(self) -> None:
        state.save(self.store, self.task)

    def _values(self) -> dict[str, str]:
        task = self.task
        values = variables.task_values(task)
        values.update({f"var.{k}": v for k, v in self.options.variables.items()})
        for job in task.jobs():
            values[f"job.{job.name}.status"] = job.status
        for name, outputs in self.outputs.items():
            values.update({f"job.{name}.output.{k}": v for k, v in outputs.items()})
        return values

    # --- events --------------------------------------------------------------------------

    def _emit(
        self,
        status: str,
        job: JobDef | None = None,
        key: str = "",
        stage_executors: list[str] | None = None,  # of the manual stage the task waits at
    ) -> None:
        """Record the notifications of one event in the outbox; the worker sends them."""
        from tidings.dispatch.plan import plan_event
        from tidings.sending.record import record

        task = self.task
        previous = None
        if job is not None:
            stage = next(s for s in task.stages if any(j.name == job.name for j in s.jobs))
            only = stage.model_copy(update={"jobs": [j for j in stage.jobs if j.name == job.name]})
            task = task.model_copy(update={"stages": [only]})
            plan = plan_event(
                self.config,
                self.workflow,
                task,
                status=status,
                ctls=job.notify_ctls,
                source=f"{self.workflow.name}/jobs/{job.name}",
                values=self._values(),
            )
        else:
            if status in TERMINAL:
                # Zadig's `changed`: against task id - 1; no previous task counts as a change.
                found = state.previous_status(self.store, task.workflow_name, task.task_id)
                previous = "" if found is None else found
            plan = plan_event(
                self.config,
                self.workflow,
                task,
                status=status,
                previous_status=previous,
                values=self._values(),
                stage_executors=stage_executors or (),
            )
        if plan.skipped:
            reasons = [str(skipped) for skipped in plan.skipped]
            self.observer.skipped(status, job.name if job else None, reasons)
        if job is not None and not plan.planned:
            return  # a job without ctls for this status: nothing to record
        name = f"{task.workflow_name}#{task.task_id}"
        scope: dict[str, Any] = {"job": job.name} if job is not None else {}
        if previous is not None:
            scope["previous_status"] = previous
        if stage_executors:
            scope["stage_executors"] = list(stage_executors)
        event = NewEvent(
            kind="task",
            workflow=task.workflow_name,
            task_id=task.task_id,
            status=status,
            idempotency_key=f"run:{name}:{key or status}",
            config=self.config.name,
            notified=plan.task.model_dump(mode="json") if plan.task is not None else None,
            scope=scope or None,
        )
        enqueued = record(
            self.store,
            plan,
            event,
            now=time.time(),
            expires_in=self.config.system.delivery.max_age,
        )
        if not enqueued.duplicate:
            self.delivery_ids.extend(enqueued.delivery_ids)
            self._worker.wake()
        self.observer.notified(status, job.name if job else None, len(enqueued.delivery_ids))

    def _on_final(self, final: Any) -> None:
        self._finals[final.id] = final
        self._final_seen.set()
        self.observer.delivered(final)

    async def wait_finals(self, ids: list[str]) -> dict[str, Any]:
        """Until these deliveries are final (sent, failed, dead): their Final or status."""
        from tidings.delivery import queue

        checked = time.monotonic()
        while True:
            missing = [i for i in ids if i not in self._finals]
            if not missing:
                return {i: self._finals[i] for i in ids}
            if time.monotonic() - checked > 1.0:  # another worker may have sent them
                found = queue.statuses(self.store, missing)
                if all(found.get(i) in queue.FINAL for i in missing):
                    return {i: self._finals.get(i, found[i]) for i in ids}
                checked = time.monotonic()
            self._final_seen.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._final_seen.wait(), 0.5)

    # --- running -------------------------------------------------------------------------

    async def execute(self) -> Result:
        from tidings.delivery import queue
        from tidings.delivery.resolve import Resolver
        from tidings.delivery.worker import Worker
        from tidings.sending.record import limits_of, settings_of
        from tidings.store.db import data_dir

        state.reap(self.store, config=self.config)
        home = self.options.home or data_dir()
        base = home / "runs" / self.workflow.name
        task_id = state.start(
            self.store, self.workflow.name, self._created, lambda i: base / str(i), time.time()
        )
        self.task = state.task_of(self.store, self.workflow.name, task_id)
        self.run_dir = base / str(task_id)
        for sub in ("workspace", "logs", "outputs"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        self._worker = Worker(
            self.store,
            Resolver(self.config),
            settings=settings_of(self.config),
            limits=limits_of(self.config),
            redactor=self.redactor,
            on_final=self._on_final,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        async with self._worker:
            working = asyncio.create_task(self._worker.run(stop))
            if self.options.handle_sigint:
                loop.add_signal_handler(
                    signal.SIGINT, self.abort, "cancelled", "cancelled (Ctrl-C)"
                )
            try:
                await self._lifecycle()
                # The task's messages, sent while it ran or still in the queue: wait a while.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self.wait_finals(list(self.delivery_ids)), self.options.delivery_wait
                    )
            finally:
                if self.options.handle_sigint:
                    loop.remove_signal_handler(signal.SIGINT)
                state.finish(self.store, self.workflow.name, task_id)
                stop.set()
                await working
        statuses = queue.statuses(self.store, list(self.delivery_ids))
        return Result(self.task, list(self.delivery_ids), statuses)

    def abort(self, status: str, error: str) -> None:
        """Stop the task with `status` (cancelled, timeout): running jobs end with it."""
        if self._abort is None and self.task.status not in TERMINAL:
            self._abort = (status, error)
            if self._stages_task is not None:
                self._stages_task.cancel()

    async def _lifecycle(self) -> None:
        self.observer.task_changed(self.task)
        self._emit("created")
        self.task.status, self.task.start_time = "running", int(time.time())
        self._save()
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
        self._save()
        self.observer.task_changed(self.task)
        self._emit(status)

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
                    self.abort("cancelled", "cancelled by `tidings cancel`")
            if self.workflow.timeout and now - started > self.workflow.timeout:
                self.abort("timeout", f"the workflow timed out after {self.workflow.timeout:g} s")
            await asyncio.sleep(POLL if self.workflow.timeout else min(POLL * 2, 0.5))

    async def _stages(self) -> None:
        for index, definition in enumerate(self.workflow.stages):
            stage = self.task.stages[index]
            if definition.manual is not None and not await self._manual(definition, stage):
                return  # nobody may run it: the task fails (mark_ended skips the rest)
            stage.status, stage.start_time = "running", int(time.time())
            self._save()
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
            self._save()
            if stage.status not in ("passed", "skipped"):
                return  # later stages are skipped (mark_ended)

    async def _job(self, stage: Stage, definition: JobDef) -> None:
        job = next(j for j in stage.jobs if j.name == definition.name)
        job.status, job.start_time = "prepare", int(time.time())
        self._emit("prepare", definition, key=f"job:{job.name}:prepare")
        job.status = "running"
        self._save()
        self.observer.job_changed(self.task, stage, job)
        log_path = self.run_dir / "logs" / f"{job.name}.log"
        try:
            body = self._body(definition, job, log_path)
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
            _log(log_path, f"[tidings] job {job.status}: {job.error}")
        self._save()
        self.observer.job_changed(self.task, stage, job)
        self._emit(job.status, definition, key=f"job:{job.name}:end")

    async def _body(self, definition: JobDef, job: Job, log_path: Path) -> None:
        if definition.type in SCRIPT_TYPES:
            await self._script(definition, job, log_path)
        elif definition.type == "notification":
            await self._notification(definition, job, log_path)
        elif definition.type == "approval":
            await self._approval(definition, job, log_path)

    async def _script(self, definition: JobDef, job: Job, log_path: Path) -> None:
        spec = definition.typed
        env = {
            "TIDINGS_TASK_ID": str(self.task.task_id),
            "TIDINGS_WORKFLOW": self.workflow.name,
            "TIDINGS_JOB": job.name,
            "TIDINGS_WORKSPACE": str(self.run_dir / "workspace"),
            **self.options.variables,
        }
        values = self._values()
        run = ScriptRun(
            job.name,
            spec,
            self.run_dir / "workspace",
            log_path,
            self.run_dir / "outputs" / f"{job.name}.env",
            values,
            env,
        )
        try:
            outputs = await run_script(run)
        finally:
            self.outputs[job.name] = _read(run.output_path)
            job.spec = job_spec(spec, self.outputs[job.name], values)
        if isinstance(spec, TestSpec) and spec.junit_path:
            result = test_result(spec, run.workspace)
            job.spec = job.spec or _empty_spec()
            job.spec.test_result = result
            if result is not None and result.failed:
                raise JobFailed("failed", f"{result.failed} of {result.total} tests failed")
        self.outputs[job.name] = outputs

    async def _notification(self, definition: JobDef, job: Job, log_path: Path) -> None:
        from tidings.dispatch.plan import plan_note
        from tidings.notify.content import Note, detail_url
        from tidings.sending.record import record

        spec = definition.typed
        ctl = spec.ctl()
        values = self._values()
        try:
            # Variables are user-controlled text: escaped for the markup they land in.
            title = variables.render(spec.title, values, ctl.channel.escape)
            content = variables.render(spec.content, values, ctl.channel.escape)
        except variables.UnknownVariable as exc:
            raise JobFailed("failed", str(exc)) from None
        note = Note(
            title=title or content.splitlines()[0] if (title or content) else job.name,
            content=content,
            url=detail_url(self.config.system.address, self.task),
            language=self.config.system.language,
        )
        plan = plan_note(
            note,
            ctl,
            instance=self.config.system.address,
            source=f"{self.workflow.name}/jobs/{job.name}/spec",
            values=values,
            system=self.config.system,
        )
        for skipped in plan.skipped:
            _log(log_path, f"[tidings] skipped {skipped}")
        name = f"{self.workflow.name}#{self.task.task_id}"
        event = NewEvent(
            kind="notification",
            workflow=self.workflow.name,
            task_id=self.task.task_id,
            status="notification",
            idempotency_key=f"run:{name}:job:{job.name}:send",
            config=self.config.name,
            scope={"job": job.name, "note": dataclasses.asdict(note)},
        )
        enqueued = record(
            self.store, plan, event, now=time.time(), expires_in=self.config.system.delivery.max_age
        )
        self.delivery_ids.extend(enqueued.delivery_ids)
        self._worker.wake()
        _log(log_path, f"[tidings] {spec.webhook_type} message queued: {title}")
        finals = await self.wait_finals(enqueued.delivery_ids)
        refused = [f for f in finals.values() if _status(f) != "sent"]
        if refused:
            detail = "; ".join(_describe(f) for f in refused)
            raise JobFailed("failed", f"{spec.webhook_type} did not accept the message: {detail}")
        _log(log_path, f"[tidings] {spec.webhook_type} accepted the message")

    async def _approval(self, definition: JobDef, job: Job, log_path: Path) -> None:
        spec = definition.typed
        eligible = self.config.approvers(spec)
        waiting = {
            "job": job.name,
            "approvers": eligible,
            "needed": spec.needed_approvals,
            "message": spec.message,
        }
        job.status = "wait_for_approval"
        self._save()
        state.set_waiting(self.store, self.workflow.name, self.task.task_id, waiting)
        self.observer.job_changed(self.task, self._stage_of(job), job)
        self._emit("wait_for_approval", key=f"approval:{job.name}")
        self._emit("wait_for_approval", definition, key=f"job:{job.name}:wait_for_approval")
        _log(log_path, f"[tidings] waiting for {spec.needed_approvals} of: {', '.join(eligible)}")
        self.observer.waiting(self.task, job, waiting)
        try:
            while True:
                decided = state.decisions(
                    self.store, self.workflow.name, self.task.task_id, job.name
                )
                for row in decided:
                    if row["decision"] == "reject":
                        comment = f": {row['comment']}" if row["comment"] else ""
                        _log(log_path, f"[tidings] rejected by {row['user_id']}{comment}")
                        raise JobFailed("reject", f"rejected by {row['user_id']}{comment}")
                approved = [r["user_id"] for r in decided if r["decision"] == "approve"]
                if len(approved) >= spec.needed_approvals:
                    _log(log_path, f"[tidings] approved by {', '.join(approved)}")
                    return
                await asyncio.sleep(POLL)
        finally:
            state.set_waiting(self.store, self.workflow.name, self.task.task_id, None)

    async def _manual(self, definition: StageDef, stage: Stage) -> bool:
        """Pause before a manual stage (task and stage `pause`, notified) until one of its
        executors runs it with `tidings run-stage`; False if nobody may."""
        assert definition.manual is not None
        executors = self.config.stage_executors(definition.manual, self.task.task_creator_id)
        if not executors:
            stage.status = "failed"
            stage.error = (
                "nobody may run this manual stage: its manual_exec_users name no user here "
                "(empty groups; the task creator is known only with tidings run --creator "
                "USER_ID)"
            )
            self._save()
            return False
        waiting = {"stage": stage.name, "executors": executors}
        stage.status = self.task.status = "pause"
        self._save()
        state.set_waiting(self.store, self.workflow.name, self.task.task_id, waiting)
        self.observer.task_changed(self.task)
        self._emit("pause", key=f"pause:{stage.name}", stage_executors=executors)
        self.observer.paused(self.task, stage, waiting)
        key = state.manual_key(stage.name)
        try:
            while not state.decisions(self.store, self.workflow.name, self.task.task_id, key):
                await asyncio.sleep(POLL)
        finally:
            state.set_waiting(self.store, self.workflow.name, self.task.task_id, None)
        stage.status = ""
        self.task.status = "running"
        self._save()
        self.observer.task_changed(self.task)
        return True

    def _stage_of(self, job: Job) -> Stage:
        return next(s for s in self.task.stages if job in s.jobs)


def _empty_spec() -> Any:
    from tidings.model import JobSpec

    return JobSpec()


def _read(path: Path) -> dict[str, str]:
    from tidings.runner.jobs import read_outputs

    return read_outputs(path)


def _log(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as log:
        log.write(line.rstrip("\n") + "\n")


def _status(final: Any) -> str:
    return final if isinstance(final, str) else final.status


def _describe(final: Any) -> str:
    if isinstance(final, str):
        return final
    code = f"code {final.code}: " if final.code is not None else ""
    return f"{code}{final.detail}"


def _os_user() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return os.environ.get("USER", "")
