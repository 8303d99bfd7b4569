"""Manual stages (Zadig's manual_exec, 手动执行): the task pauses before the stage (task and
stage `pause`, notified) until one of its executors runs it with `tidings run-stage`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from tidings.runner import state

if TYPE_CHECKING:
    from tidings.config.workflows import StageDef
    from tidings.model import Stage
    from tidings.runner.jobs.base import JobHost

POLL = 0.1  # seconds between looks at the decisions


async def pause(host: JobHost, definition: StageDef, stage: Stage) -> bool:
    """Wait until the stage is run by one of its executors; False if nobody may run it (the
    stage then fails, and with it the task)."""
    assert definition.manual is not None
    task = host.task
    executors = host.config.stage_executors(definition.manual, task.task_creator_id)
    if not executors:
        stage.status = "failed"
        stage.error = (
            "nobody may run this manual stage: its manual_exec_users name no user here "
            "(empty groups; the task creator is known only with tidings run --creator "
            "USER_ID)"
        )
        host.save()
        return False
    workflow = host.workflow.name
    waiting: dict[str, Any] = {"stage": stage.name, "executors": executors}
    stage.status = task.status = "pause"
    host.save()
    state.set_waiting(host.store, workflow, task.task_id, waiting)
    host.observer.task_changed(task)
    host.notify("pause", key=f"pause:{stage.name}", stage_executors=executors)
    host.observer.paused(task, stage, waiting)
    key = state.manual_key(stage.name)
    try:
        while not (decided := state.decisions(host.store, workflow, task.task_id, key)):
            await asyncio.sleep(POLL)
    finally:
        state.set_waiting(host.store, workflow, task.task_id, None)
    # Who ran it: later notifications reach them as the stage's executors (Zadig's
    # manual_exector_id), not everyone who could have.
    host.executed_stages[stage.name] = decided[0]["user_id"]
    stage.status = ""
    task.status = "running"
    host.save()
    host.observer.task_changed(task)
    return True
