"""Notification jobs (Zadig's `notification`): one message, its title and content rendered
with the task's {{.variables}} (escaped for the channel's markup), sent before the job ends;
the job fails when the platform did not accept it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tidings.notify import variables
from tidings.notify.content import Note, detail_url
from tidings.runner.jobs.base import JobFailed, JobHost, log

if TYPE_CHECKING:
    from tidings.config.workflows import JobDef
    from tidings.model import Job


async def run(host: JobHost, definition: JobDef, job: Job, log_path: Path) -> None:
    spec = definition.typed
    ctl = spec.ctl()
    values = host.values()
    escape = ctl.channel.escape  # variables are user-controlled text
    try:
        title = variables.render(spec.title, values, escape)
        content = variables.render(spec.content, values, escape)
    except variables.UnknownVariable as exc:
        raise JobFailed("failed", str(exc)) from None
    note = Note(
        title=title or content.splitlines()[0] if (title or content) else job.name,
        content=content,
        url=detail_url(host.config.system.address, host.task),
        language=host.config.system.language,
    )
    ran = host.executed_stages.get(host.stage_of(job).name)
    ids, skipped = host.notifications.message(
        host.task, job.name, ctl, note, values, [ran] if ran else []
    )
    for reason in skipped:
        log(log_path, f"[tidings] skipped {reason}")
    log(log_path, f"[tidings] {spec.webhook_type} message queued: {title}")
    finals = await host.notifications.wait(ids)
    refused = [final for final in finals.values() if final.status != "sent"]
    if refused:
        detail = "; ".join(final.describe() for final in refused)
        raise JobFailed("failed", f"{spec.webhook_type} did not accept the message: {detail}")
    log(log_path, f"[tidings] {spec.webhook_type} accepted the message")
