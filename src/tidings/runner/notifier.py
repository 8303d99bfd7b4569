"""The runner's one port to notifications: plan what an event of the task sends (dispatch),
record it in the outbox once per change (an idempotency key), wake the process's delivery
worker, and hear when each delivery ends."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tidings.delivery.outbox import NewEvent
from tidings.dispatch.plan import Plan, plan_event, plan_note
from tidings.sending.record import record

if TYPE_CHECKING:
    from tidings.config.models import Config, WorkflowConfig
    from tidings.config.notify_ctl import NotifyCtl
    from tidings.config.workflows import JobDef
    from tidings.delivery.worker import Final
    from tidings.model import Task
    from tidings.notify.content import Note
    from tidings.runner.observer import Observer
    from tidings.store.db import Store

TERMINAL = ("passed", "failed", "cancelled", "timeout", "reject")


class Deliveries(Protocol):
    """The process's delivery worker, as a run uses it (delivery.background.BackgroundWorker,
    or the API service's)."""

    def wake(self) -> None: ...

    def subscribe(self, listener: Callable[[Final], None]) -> Callable[[], None]: ...


class Notifications:
    def __init__(
        self,
        config: Config,
        workflow: WorkflowConfig,
        store: Store,
        deliveries: Deliveries,
        observer: Observer,
    ) -> None:
        self.config = config
        self.workflow = workflow
        self.store = store
        self.deliveries = deliveries
        self.observer = observer
        self.delivery_ids: list[str] = []  # every delivery of the task, in the order recorded
        self._finals: dict[str, Final] = {}
        self._seen = asyncio.Event()
        self._unsubscribe = deliveries.subscribe(self._on_final)

    def close(self) -> None:
        self._unsubscribe()

    def _on_final(self, final: Final) -> None:
        if final.id in self._owned:
            self._finals[final.id] = final
            self._seen.set()
            self.observer.delivered(final)

    @property
    def _owned(self) -> set[str]:
        return set(self.delivery_ids)

    def event(
        self,
        task: Task,
        status: str,
        *,
        key: str,
        values: Mapping[str, str],
        job: JobDef | None = None,
        stage_executors: Sequence[str] = (),
    ) -> None:
        """Notify the task (or, with `job`, that job's own ctls) reaching `status`, once per
        `key` of the task."""
        previous = None
        source = None
        if job is not None:
            stage = next(s for s in task.stages if any(j.name == job.name for j in s.jobs))
            only = stage.model_copy(update={"jobs": [j for j in stage.jobs if j.name == job.name]})
            task = task.model_copy(update={"stages": [only]})
            source = f"{self.workflow.name}/jobs/{job.name}"
        elif status in TERMINAL:
            from tidings.runner import state

            # Zadig's `changed`: against task id - 1; no previous task counts as a change.
            found = state.previous_status(self.store, task.workflow_name, task.task_id)
            previous = "" if found is None else found
        plan = plan_event(
            self.config,
            self.workflow,
            task,
            status=status,
            previous_status=previous,
            ctls=job.notify_ctls if job is not None else None,
            source=source,
            values=values,
            stage_executors=stage_executors,
        )
        if plan.skipped:
            reasons = [str(skipped) for skipped in plan.skipped]
            self.observer.skipped(status, job.name if job else None, reasons)
        if job is not None and not plan.planned:
            return  # a job without ctls for this status: nothing to record
        scope: dict[str, Any] = {"job": job.name} if job is not None else {}
        if previous is not None:
            scope["previous_status"] = previous
        if stage_executors:
            scope["stage_executors"] = list(stage_executors)
        self._record(plan, task, "task", status, key, scope or None, notified=True)
        self.observer.notified(status, job.name if job else None, len(plan.requests()))

    def message(
        self,
        task: Task,
        job_name: str,
        ctl: NotifyCtl,
        note: Note,
        values: Mapping[str, str],
        stage_executors: Sequence[str] = (),
    ) -> tuple[list[str], list[str]]:
        """A notification job's message: (its delivery ids, why a part of it sends nothing)."""
        from tidings.dispatch.recipients import Directory

        directory = Directory(self.config.users, self.config.groups, task, stage_executors)
        plan = plan_note(
            note,
            ctl,
            instance=self.config.system.address,
            source=f"{self.workflow.name}/jobs/{job_name}/spec",
            values=values,
            system=self.config.system,
            directory=directory,
        )
        scope: dict[str, Any] = {"job": job_name, "note": dataclasses.asdict(note)}
        if stage_executors:
            scope["stage_executors"] = list(stage_executors)
        key = f"job:{job_name}:send"
        # The task is kept with it: `retry --replan` finds the task creator's address again.
        ids = self._record(plan, task, "notification", "notification", key, scope, notified=True)
        return ids, [str(skipped) for skipped in plan.skipped]

    def _record(
        self,
        plan: Plan,
        task: Task,
        kind: str,
        status: str,
        key: str,
        scope: dict[str, Any] | None,
        *,
        notified: bool,
    ) -> list[str]:
        """Record the plan under the task's idempotency key `key` (`notified`: keep `task` with
        the event, for `retry --replan`); its delivery ids."""
        name = f"{task.workflow_name}#{task.task_id}"
        event = NewEvent(
            kind=kind,
            workflow=task.workflow_name,
            task_id=task.task_id,
            status=status,
            idempotency_key=f"run:{name}:{key}",
            config=self.config.name,
            notified=task.model_dump(mode="json") if notified else None,
            scope=scope,
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
            self.deliveries.wake()
        return enqueued.delivery_ids

    def statuses(self) -> dict[str, str]:
        """Each delivery of the task: how it ended (as the worker said, which may be before
        it is written), else as the database has it."""
        from tidings.sending.history import finals

        ids = self.delivery_ids
        unknown = [i for i in ids if i not in self._finals]
        found = {i: f.status for i, f in finals(self.store, unknown).items()}
        return {i: self._finals[i].status if i in self._finals else found.get(i, "") for i in ids}

    async def wait(self, ids: list[str]) -> dict[str, Final]:
        """Until these deliveries ended (sent, failed, dead), as they ended."""
        from tidings.sending.history import finals

        checked = time.monotonic()
        while True:
            missing = [i for i in ids if i not in self._finals]
            if not missing:
                return {i: self._finals[i] for i in ids}
            if time.monotonic() - checked > 1.0:  # another worker may have sent them
                found = finals(self.store, missing)
                if all(f.status in ("sent", "failed", "dead") for f in found.values()) and (
                    len(found) == len(missing)
                ):
                    return {i: self._finals.get(i) or found[i] for i in ids}
                checked = time.monotonic()
            self._seen.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._seen.wait(), 0.5)
