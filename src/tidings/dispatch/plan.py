"""Event -> the requests to send: which ctls fire, what they say, rendered per channel.

Shared by the CLI, the API and the runner; pure (no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tidings import channels
from tidings.channels import digest
from tidings.channels.base import Channel, Destination, RenderContext, Request
from tidings.dispatch import rules
from tidings.dispatch.recipients import Directory
from tidings.dispatch.task import check_status, complete_task
from tidings.notify.content import Note, build_message, workflow_url
from tidings.notify.variables import task_values
from tidings.redact import redact_url

if TYPE_CHECKING:
    # Task events only: an ad-hoc note (plan_note) needs neither the config nor the snapshot.
    from tidings.channels.ports import SystemView
    from tidings.config.models import Config, WorkflowConfig
    from tidings.config.notify_ctl import NotifyCtl
    from tidings.model import Task


@dataclass
class Planned:
    """The requests of one fired ctl to one destination, and where they come from."""

    webhook_type: str
    key: str  # the destination key of every request (channels.identity)
    destination: Destination  # what the ctl addresses, with today's secrets
    requests: list[Request]
    display: str  # the destination as people see it, secrets masked
    source: str = ""  # where the ctl stands: "release/notify_ctls[0]" (history only)
    ctl_index: int | None = None


@dataclass
class Skipped:
    webhook_type: str
    reason: str
    ctl_index: int | None = None

    def __str__(self) -> str:
        which = "" if self.ctl_index is None else f" notify_ctls[{self.ctl_index}]"
        return f"{self.webhook_type}{which}: {self.reason}"


@dataclass
class Plan:
    status: str
    planned: list[Planned] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    task: Task | None = None  # the snapshot as notified (names completed, status set)
    previous_status: str | None = None  # the task before's, as `changed` compared it

    def requests(self) -> list[Request]:
        return [request for item in self.planned for request in item.requests]

    def destinations(self) -> dict[str, Destination]:
        """What the plan's ctls address, by address key."""
        return {item.destination.key: item.destination for item in self.planned}


def plan_event(
    config: Config,
    workflow: WorkflowConfig,
    task: Task,
    *,
    status: str | None = None,
    previous_status: str | None = None,
    now: float | None = None,
    ctls: list[NotifyCtl] | None = None,
    source: str | None = None,
    values: Mapping[str, str] | None = None,
    stage_executors: Sequence[str] = (),
) -> Plan:
    """What to send for `task` reaching `status` (default: the snapshot's status).

    `ctls` and `source` select other notify_ctls than the workflow's: a job's, shown in
    history as `<source>/notify_ctls[i]` (the runner's `<workflow>/jobs/<job>`). `values` are the
    variables dynamic_recipients are read from (default: those of the snapshot);
    `stage_executors` the user ids who may run the manual stage the task is paused before.
    """
    status = check_status(status) if status else check_status(task.status, "the task's status")
    task = complete_task(task, workflow, status)
    if not task.detail_url:
        task = task.model_copy(update={"detail_url": workflow_url(config.system.address, task)})
    message = build_message(
        task,
        status,
        language=config.system.language,
        address=config.system.address,
        now=now,
        # Zadig's approval message, for the workflow's own ctls (a job's say 待确认)
        approval=status == "wait_for_approval" and ctls is None,
        tz=config.system.tz,
    )
    plan = Plan(status, task=task, previous_status=previous_status)
    chosen = workflow.notify_ctls if ctls is None else ctls
    for index, ctl in rules.matching(chosen, status, previous_status):
        if ctl.webhook_type not in channels.supported():
            plan.skipped.append(
                Skipped(ctl.webhook_type, "not supported yet by this version of tidings", index)
            )
            continue
        channel = channels.get(ctl.webhook_type)
        if values is None:
            values = task_values(task, config.system.address, config.system.tz)
        sub = _with_dynamic(ctl, values, config.users, plan, index)
        directory = Directory(config.users, config.groups, task, stage_executors)
        destination = ctl.destination(config.system)
        ctx = RenderContext(
            destination.key,
            config.system.language,
            config.system.address,
            system=config.system,
            directory=directory,
        )
        said = message.for_channel(channel.manual_pause, channel.pending_stage_line)
        requests = channel.render(said, sub, ctx)
        if ctl.coalesce and channel.render_digest is not None:
            # What a digest needs of it, should its robot's backlog be merged (issue #18).
            entry = digest.entry(said, sub, channel.digest_mentions)
            requests = [replace(request, digest=entry) for request in requests]
        where = f"{source or workflow.name}/notify_ctls[{index}]"
        plan.planned.extend(_by_destination(channel, destination, requests, where, index))
        plan.skipped.extend(Skipped(ctl.webhook_type, p, index) for p in directory.problems)
    return plan


def _by_destination(
    channel: Channel[Any],
    destination: Destination,
    requests: list[Request],
    source: str,
    index: int | None,
) -> list[Planned]:
    """One Planned per destination key, in order: a ctl may send to several (each mailbox,
    each Feishu user), and each is paced and shown on its own."""
    keys: dict[str, list[Request]] = {}
    for request in requests:
        keys.setdefault(request.destination, []).append(request)
    describe = channel.describe
    shown = destination.display or redact_url(destination.url)
    return [
        Planned(
            channel.webhook_type,
            key,
            destination,
            group,
            describe(group[0], destination) if describe is not None else shown,
            source,
            index,
        )
        for key, group in keys.items()
    ]


def _with_dynamic(
    ctl: NotifyCtl,
    values: Mapping[str, str],
    users: Sequence[Any],
    plan: Plan,
    index: int | None,
) -> Any:
    """The ctl's sub-config with the people of its dynamic_recipients added (read from
    `values`; those the channel cannot reach directly found under `users:`); why an entry
    added no one is noted in the plan."""
    sub = ctl.sub_config()
    if not getattr(sub, "dynamic_recipients", None):
        return sub
    from tidings.notify.dynamic import add_recipients

    channel = ctl.channel
    sub, notes = add_recipients(
        sub, channel.recipient_fields, channel.recipient_entry, values, users
    )
    plan.skipped.extend(Skipped(ctl.webhook_type, note, index) for note in notes)
    return sub


def plan_note(
    note: Note,
    ctl: NotifyCtl,
    *,
    instance: str = "",
    source: str = "",
    values: Mapping[str, str] | None = None,
    system: SystemView | None = None,
    directory: Directory | None = None,
) -> Plan:
    """What to send for an ad-hoc notification to one channel; `values` are the variables
    its dynamic_recipients are read from (a notification job's); `source` names it in history
    (a notification job: `<workflow>/jobs/<job>/spec`); `directory` the configuration's people
    seen from the task (mail recipients, Feishu's task creator)."""
    plan = Plan("notification")
    if ctl.webhook_type not in channels.supported():
        plan.skipped.append(Skipped(ctl.webhook_type, "not supported yet by this version"))
        return plan
    channel = channels.get(ctl.webhook_type)
    if channel.render_note is None:
        plan.skipped.append(Skipped(ctl.webhook_type, "it has no message of its own to send"))
        return plan
    users = directory.users if directory is not None else ()
    sub = _with_dynamic(ctl, values or {}, users, plan, None)
    destination = ctl.destination(system)
    ctx = RenderContext(
        destination.key, note.language, instance, system=system, directory=directory
    )
    requests = channel.render_note(note, sub, ctx)
    plan.planned.extend(_by_destination(channel, destination, requests, source, None))
    if directory is not None:
        plan.skipped.extend(Skipped(ctl.webhook_type, p) for p in directory.problems)
    return plan
