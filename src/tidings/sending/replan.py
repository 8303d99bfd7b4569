"""`tidings retry --replan`: a delivery's event planned again with today's configuration, and
sent to every destination that today's configuration gives it and that it has not reached.

This is how a message whose robot was removed or whose address changed after it was queued
(dead: it is never sent anywhere else on its own) reaches the destination the configuration
names now. "Reached" means a delivery of the same event to the same destination was sent or
is pending, so replanning twice sends nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tidings.delivery.outbox import add_deliveries
from tidings.dispatch.plan import Plan, plan_event, plan_note
from tidings.dispatch.task import parse_task
from tidings.errors import InputError
from tidings.sending.record import deliveries_of
from tidings.store import digests
from tidings.store.db import Store
from tidings.store.history import StoredEvent, events_of, reached

if TYPE_CHECKING:
    from tidings.config.models import Config


@dataclass
class Replanned:
    """What replanning some deliveries did: new delivery ids, and why an event sent nothing."""

    delivery_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _plan(config: Config, event: StoredEvent) -> Plan:
    """The event's plan with today's configuration; InputError when it cannot be made."""
    name = f"{event.workflow}#{event.task_id}" if event.workflow else "an ad-hoc notification"
    if event.workflow is None:
        raise InputError(
            f"{name}: its address and secret were given to `tidings notify` (or the API's "
            "/notify) and never stored; send it again with notify"
        )
    workflow = config.workflow(event.workflow)
    job_name = event.scope.get("job")
    job = workflow.job(job_name) if job_name else None
    if job_name and job is None:
        raise InputError(f"{name}: job {job_name!r} is no longer in workflow {workflow.name}")
    if event.kind == "notification":
        note = event.scope.get("note")
        spec = job.typed if job is not None and job.type == "notification" else None
        if job is None or spec is None or not isinstance(note, dict):
            raise InputError(f"{name}: its notification job's message was not kept to re-plan")
        from tidings.dispatch.recipients import Directory
        from tidings.notify.content import Note

        task = parse_task(event.snapshot, f"{name} as stored") if event.snapshot else None
        executors = event.scope.get("stage_executors") or ()
        return plan_note(
            Note(**note),
            spec.ctl(),
            instance=config.system.address,
            source=f"{workflow.name}/jobs/{job.name}/spec",
            system=config.system,
            directory=Directory(config.users, config.groups, task, executors),
        )
    if event.snapshot is None:
        raise InputError(f"{name}: the task's snapshot is no longer in the database")
    task = parse_task(event.snapshot, f"{name} as stored")
    if job is not None:
        return plan_event(
            config,
            workflow,
            task,
            status=event.status,
            ctls=job.notify_ctls,
            source=f"{workflow.name}/jobs/{job.name}",
            stage_executors=event.scope.get("stage_executors") or (),
        )
    return plan_event(
        config,
        workflow,
        task,
        status=event.status,
        previous_status=event.scope.get("previous_status"),
        stage_executors=event.scope.get("stage_executors") or (),
    )


def replan(
    store: Store, config: Config, delivery_ids: list[str], *, now: float, expires_in: float
) -> Replanned:
    """Plan the events of these deliveries again and record what has not reached its
    destination yet (under the same events)."""
    done = Replanned()
    # A digest stands for the events merged into it: those are what is planned again.
    delivery_ids = digests.unmerged(store, delivery_ids)
    for event in events_of(store, delivery_ids):
        try:
            plan = _plan(config, event)
        except InputError as exc:
            done.notes.append(exc.message)
            continue
        there = reached(store, event.id)
        fresh = [d for d in deliveries_of(plan) if d.request.destination not in there]
        if not fresh:
            done.notes.append(
                f"{event.workflow}#{event.task_id} {event.status}: today's configuration sends "
                "it nowhere it has not already reached"
            )
            continue
        done.delivery_ids += add_deliveries(store, event.id, fresh, now=now, expires_in=expires_in)
    return done
