"""`tidings preview` and `tidings send`: a task event through the configured notify_ctls."""

from __future__ import annotations

import asyncio

from tidings.channels.base import Ok
from tidings.commands.common import load_config, prepared_calls, print_calls
from tidings.config import Config
from tidings.delivery.inline import Result, deliver
from tidings.dispatch import Plan, plan_event, read_task
from tidings.output import Output


def _plan(
    config: Config,
    workflow: str | None,
    task_path: str,
    status: str | None,
    previous_status: str | None,
) -> Plan:
    from tidings.dispatch import check_status

    task = read_task(task_path)
    if previous_status:
        check_status(previous_status, "--previous-status")
    workflow_config = config.workflow(workflow or task.workflow_name)
    return plan_event(config, workflow_config, task, status=status, previous_status=previous_status)


def _report_skipped(plan: Plan, out: Output) -> None:
    for skipped in plan.skipped:
        out.err(
            f"skipped {skipped.webhook_type} notify_ctls[{skipped.ctl_index}]: {skipped.reason}"
        )


def preview(
    config_path: str | None,
    workflow: str | None,
    task_path: str,
    status: str | None,
    previous_status: str | None,
    as_json: bool,
) -> int:
    out = Output()
    config = load_config(config_path, out)
    plan = _plan(config, workflow, task_path, status, previous_status)
    calls = prepared_calls(plan, out)
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


def describe_result(result: Result) -> dict:
    outcome = result.outcome
    request = result.delivery.request
    return {
        "delivery_id": result.delivery.id,
        "channel": request.channel,
        "destination": request.destination,
        "address": result.delivery.destination_display,
        "label": request.label,
        "outcome": "sent" if isinstance(outcome, Ok) else "failed",
        "code": outcome.code,
        "detail": getattr(outcome, "detail", None) or getattr(outcome, "reason", ""),
        "attempts": len(result.attempts),
    }


def print_result(result: Result, out: Output) -> None:
    row = describe_result(result)
    ok = row["outcome"] == "sent"
    code = f"code {row['code']}" if row["code"] is not None else ""
    attempts = f" after {row['attempts']} attempts" if row["attempts"] > 1 else ""
    detail = code if ok else row["detail"]
    out.out(
        f"{'sent  ' if ok else 'FAILED'}  {row['channel']:<8}  {row['destination']}  "
        f"{row['address']}  [{row['label']}]  {detail}{attempts}",
        fg="green" if ok else "red",
    )


def run_plan(plan: Plan, deadline: float, as_json: bool, out: Output) -> int:
    """Deliver a plan and print results; the exit code (1 when any delivery failed)."""
    _report_skipped(plan, out)
    deliveries, destinations = plan.deliveries()
    if not deliveries:
        if not as_json:
            out.err(f"no notify_ctl fires for status {plan.status!r}: nothing sent")
        else:
            out.json({"status": plan.status, "deliveries": []})
        return 0
    results = asyncio.run(
        deliver(
            deliveries,
            destinations,
            deadline_seconds=deadline,
            on_result=None if as_json else (lambda r: print_result(r, out)),
        )
    )
    if as_json:
        out.json({"status": plan.status, "deliveries": [describe_result(r) for r in results]})
    failed = sum(not r.ok for r in results)
    if failed and not as_json:
        out.err(f"{failed} of {len(results)} deliveries failed", fg="red")
    return 1 if failed else 0


def send(
    config_path: str | None,
    workflow: str | None,
    task_path: str,
    status: str | None,
    previous_status: str | None,
    deadline: float,
    as_json: bool,
) -> int:
    out = Output()
    config = load_config(config_path, out)
    plan = _plan(config, workflow, task_path, status, previous_status)
    return run_plan(plan, deadline, as_json, out)
