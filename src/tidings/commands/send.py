"""`tidings preview` and `tidings send`: a task event through the configured notify_ctls."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from tidings.commands.common import load_config, open_store, print_calls
from tidings.commands.output import Output
from tidings.dispatch.plan import Plan, plan_event
from tidings.dispatch.task import read_task
from tidings.errors import InputError

if TYPE_CHECKING:  # types only: `tidings notify` never loads the configuration models
    from tidings.channels.base import Destination
    from tidings.config.models import Config
    from tidings.delivery.outbox import Enqueued, NewEvent
    from tidings.delivery.worker import Final
    from tidings.sending.record import Outcome
    from tidings.store.db import Store


def _plan(
    config: Config,
    workflow: str | None,
    task_path: str,
    status: str | None,
    previous_status: str | None,
) -> Plan:
    from tidings.dispatch.task import check_status

    task = read_task(task_path)
    if previous_status:
        check_status(previous_status, "--previous-status")
    try:
        workflow_config = config.workflow(workflow or task.workflow_name)
    except InputError as exc:
        if workflow:
            raise
        # The name came from the snapshot: say so, and that -w names another.
        hint = "or pass -w NAME (it is the snapshot's workflow_name)"
        raise InputError(f"{exc.message}, {hint}") from None
    if previous_status is None:
        from tidings.sending.history import previous_status as looked_up
        from tidings.sending.history import wants_previous

        if wants_previous(workflow_config.notify_ctls):  # `changed`: the task before, as heard
            previous_status = looked_up(open_store(config), task.workflow_name, task.task_id)
    return plan_event(config, workflow_config, task, status=status, previous_status=previous_status)


def _report_skipped(plan: Plan, out: Output) -> None:
    for skipped in plan.skipped:
        out.err(f"skipped {skipped}")


def preview(
    config_path: str | None,
    workflow: str | None,
    task_path: str,
    status: str | None,
    previous_status: str | None,
    as_json: bool,
    digest: int | None = None,
) -> int:
    out = Output()
    config = load_config(config_path, out)
    plan = _plan(config, workflow, task_path, status, previous_status)
    from tidings.sending.preview import digest_calls, prepared_calls

    if digest is not None:
        calls, notes = digest_calls(plan, digest)
        if as_json:
            out.json(
                {"status": plan.status, "digest_of": digest, "requests": calls, "notes": notes}
            )
            return 0
        print_calls(calls, out)
        for note in notes:
            out.err(f"not merged: {note}")
        return 0
    calls = prepared_calls(plan)
    if as_json:
        out.json(
            {
                "status": plan.status,
                "requests": calls,
                "skipped": [s.__dict__ for s in plan.skipped],
            }
        )
        return 0
    if not calls:
        out.err(f"no notify_ctl fires for status {plan.status!r}: nothing would be sent")
    print_calls(calls, out)
    _report_skipped(plan, out)
    return 0


def describe_final(final: Final) -> dict[str, Any]:
    return {
        "delivery_id": final.id,
        "channel": final.channel,
        "destination": final.destination,
        "source": final.source,
        "address": final.address,
        "label": final.label,
        "outcome": final.status,
        "code": final.code,
        "detail": final.detail,
        "attempts": final.attempts,
        **({"digest_id": final.digest_id} if final.digest_id else {}),
    }


_WORD = {"sent": "sent  ", "failed": "FAILED", "dead": "DEAD  ", "coalesced": "merged"}


def print_final(final: Final, out: Output) -> None:
    ok = final.status in ("sent", "coalesced")
    code = f"code {final.code}" if final.code is not None else ""
    # A dead delivery's reason already counts its attempts ("gave up after 3 attempts ...").
    attempts = f" after {final.attempts} attempts" if final.attempts > 1 and ok else ""
    detail = code if final.status == "sent" else final.detail  # merged: into which digest
    out.out(
        f"{_WORD.get(final.status, final.status)}  {final.channel:<13}  {final.source or '-'}  "
        f"{final.address}  [{final.label}]  {detail}{attempts}",
        fg="green" if ok else "red",
    )


def deliver(
    store: Store,
    config: Config | None,
    enqueued: Enqueued,
    deadline: float,
    as_json: bool,
    out: Output,
    extra: dict[str, Destination] | None = None,
) -> Outcome:
    """Send queued deliveries now: each one's line as it ends (unless JSON), and a progress
    line on a terminal while some wait to be retried."""
    from tidings.commands.progress import retry_line
    from tidings.sending.record import deliver_now

    def ended(final: Final) -> None:
        if waiting is not None:
            waiting.ended(final)
        print_final(final, out)

    with retry_line(out, enabled=not as_json) as waiting:
        return asyncio.run(
            deliver_now(
                store,
                config,
                enqueued,
                deadline=deadline,
                extra=extra,
                redactor=out.redact,
                on_final=None if as_json else ended,
                on_retry=None if waiting is None else waiting.retrying,
            )
        )


def run_plan(
    plan: Plan,
    event: NewEvent,
    *,
    config: Config | None,
    deadline: float,
    wait: bool,
    as_json: bool,
    out: Output,
) -> int:
    """Record a plan in the outbox and deliver it (or leave it to a worker); the exit code."""
    from tidings.sending.record import record

    _report_skipped(plan, out)
    if not plan.requests():
        if as_json:
            out.json({"status": plan.status, "deliveries": []})
        else:
            out.err(f"no notify_ctl fires for status {plan.status!r}: nothing sent")
        return 0
    store = open_store(config)
    max_age = config.system.delivery.max_age if config else 86400.0
    enqueued = record(store, plan, event, now=time.time(), expires_in=deadline if wait else max_age)
    if enqueued.duplicate:
        return _already_sent(store, plan, event, enqueued, as_json, out)
    if not wait:
        if as_json:
            out.json(
                {
                    "status": plan.status,
                    "event_id": enqueued.event_id,
                    "deliveries": [
                        {"delivery_id": i, "outcome": "pending"} for i in enqueued.delivery_ids
                    ],
                }
            )
        else:
            out.err(
                f"queued {len(enqueued.delivery_ids)} deliveries (event {enqueued.event_id}) "
                f"in {store.display}; `tidings worker` sends them"
            )
        return 0
    extra = plan.destinations() if event.kind == "notification" else None
    try:
        outcome = deliver(store, config, enqueued, deadline, as_json, out, extra)
    except KeyboardInterrupt:
        return interrupted(store, config, enqueued.delivery_ids, event.kind != "task", out)
    pending = [
        i
        for i in enqueued.delivery_ids
        if outcome.statuses.get(i) not in ("sent", "failed", "dead", "coalesced")
    ]
    if as_json:
        rows = [describe_final(f) for f in outcome.finals]
        rows += [{"delivery_id": i, "outcome": "pending"} for i in pending]
        out.json({"status": plan.status, "event_id": enqueued.event_id, "deliveries": rows})
    else:
        for delivery_id in pending:
            out.out(f"PENDING {delivery_id}: another worker holds its destination", fg="yellow")
        if outcome.failed:
            if event.kind == "task":
                hint = (
                    f"`tidings deliveries -w {event.workflow} --task {event.task_id}` shows "
                    "them, `tidings retry ID` sends them again"
                )
            else:  # ad-hoc: its secrets were never stored, so only a new notify can resend
                ended = sorted({f.status for f in outcome.finals if f.status != "sent"})
                only = f" --status {ended[0]}" if len(ended) == 1 else ""
                hint = f"`tidings deliveries{only}` shows them"
            out.err(
                f"{outcome.failed} of {len(enqueued.delivery_ids)} deliveries not sent; {hint}",
                fg="red",
            )
    return 1 if outcome.failed else 0


EXIT_INTERRUPTED = 130


def interrupted(
    store: Store, config: Config | None, ids: list[str], ad_hoc: bool, out: Output
) -> int:
    """Ctrl-C while delivering: say what was not sent and how it still can be."""
    from tidings.delivery.ids import short
    from tidings.sending.record import left_pending

    if ad_hoc:
        # Its address and secret were never stored: nothing else can send it.
        left = left_pending(store, ids)
        if left:
            out.err(
                f"interrupted: {len(left)} of {len(ids)} deliveries not sent; run the notify "
                "again to send them (an ad-hoc message's address and secret are never stored)",
                fg="yellow",
            )
        return EXIT_INTERRUPTED
    max_age = config.system.delivery.max_age if config else 86400.0
    left = left_pending(store, ids, keep_until=time.time() + max_age)
    if left:
        where = f" -c {config.source}" if config and config.source else ""
        out.err(
            f"interrupted: {len(left)} of {len(ids)} deliveries stay queued "
            f"({', '.join(short(i) for i in left)}); `tidings worker{where} --once` sends them, "
            f"`tidings deliveries{where} --status pending` lists them",
            fg="yellow",
        )
    else:
        out.err("interrupted: every delivery had already ended", fg="yellow")
    return EXIT_INTERRUPTED


def _already_sent(
    store: Store, plan: Plan, event: NewEvent, enqueued: Enqueued, as_json: bool, out: Output
) -> int:
    """The event was notified before (the same workflow, task and status, or event id):
    nothing is recorded or sent again; say so, with how its deliveries stand."""
    from collections import Counter

    from tidings.sending.history import summaries

    rows = summaries(store, enqueued.delivery_ids)
    if as_json:
        out.json(
            {
                "status": plan.status,
                "event_id": enqueued.event_id,
                "duplicate": True,
                "deliveries": [{"delivery_id": r["id"], "outcome": r["status"]} for r in rows],
            }
        )
        return 0
    counts = Counter(row["status"] for row in rows)
    states = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    out.err(
        f"already sent: {event.workflow}#{event.task_id} {plan.status} was notified before "
        f"(event {enqueued.event_id}; its deliveries: {states}); nothing sent again. "
        "--again sends it anyway; `tidings retry` sends a delivery that failed"
    )
    return 0


def send(
    config_path: str | None,
    workflow: str | None,
    task_path: str,
    status: str | None,
    previous_status: str | None,
    deadline: float,
    wait: bool,
    as_json: bool,
    *,
    event_id: str | None = None,
    again: bool = False,
) -> int:
    from tidings.delivery.outbox import NewEvent
    from tidings.sending.record import task_event_key

    out = Output()
    config = load_config(config_path, out)
    plan = _plan(config, workflow, task_path, status, previous_status)
    task = plan.task
    assert task is not None  # a task event's plan always holds the task as notified
    key = task_event_key(config.name, task.workflow_name, task.task_id, plan.status, event_id)
    event = NewEvent(
        kind="task",
        workflow=task.workflow_name,
        task_id=task.task_id,
        status=plan.status,
        idempotency_key=None if again else key,
        snapshot=task.model_dump(mode="json"),
        config=config.name,
        scope=None if plan.previous_status is None else {"previous_status": plan.previous_status},
    )
    return run_plan(
        plan, event, config=config, deadline=deadline, wait=wait, as_json=as_json, out=out
    )
