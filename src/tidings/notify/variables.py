"""`{{.path}}` variables in notification content, dynamic_recipients and script env: Zadig's
`{{.var}}` syntax and Zadig's names (util/workflow_variables.go
BuildWorkflowSystemVariableKVs, BuildPayloadVariables, BuildWorkflowTriggerVariableKVs):

    project, project.id, project.name (the display name), workflow.id, workflow.name (the
    display name), workflow.task.id, workflow.task.creator, workflow.task.creator.id,
    workflow.task.creator.userId, workflow.task.timestamp, workflow.task.datetime,
    workflow.task.url, workflow.params.NAME, job.NAME.output.KEY, payload.* (the event's
    `payload` object, flattened: payload.trigger.branch, payload.head_commit.author.email)

tidings' own names stay as aliases where Zadig's do not use them: task.id, task.status,
task.creator, task.creator_id, task.creator_email, task.creator_phone, task.remark, task.url,
workflow.display_name, project.display_name, var.NAME (= workflow.params.NAME) and
job.NAME.status. Values are user-controlled text: the caller passes the escaping of the markup
they are inserted into.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from tidings.notify.content import local_time

if TYPE_CHECKING:
    from tidings.model import Task

VARIABLE = re.compile(r"\{\{\s*\.([^{}\s]+)\s*\}\}")
# Zadig's names (BuildWorkflowSystemVariableKVs), then tidings' own.
ZADIG = (
    "project",
    "project.id",
    "project.name",
    "workflow.id",
    "workflow.name",
    "workflow.task.id",
    "workflow.task.creator",
    "workflow.task.creator.id",
    "workflow.task.creator.userId",
    "workflow.task.timestamp",
    "workflow.task.datetime",
    "workflow.task.url",
)
ALIASES = (
    "task.id",
    "task.status",
    "task.creator",
    "task.creator_id",
    "task.creator_email",
    "task.creator_phone",
    "task.remark",
    "task.url",
    "workflow.display_name",
    "project.display_name",
)
FIXED = ZADIG + ALIASES


def task_values(task: Task, address: str = "", tz: tzinfo | None = None) -> dict[str, str]:
    """The values of the variables a task snapshot holds: every FIXED name, and `payload.*`
    from the snapshot's `payload` object (an extension: the event that started the task)."""
    project_display = task.project_display_name or task.project_name
    when = task.create_time or task.start_time
    url = ""
    if address and task.project_name:
        url = (
            f"{address}/v1/projects/detail/{task.project_name}/pipelines/custom/"
            f"{task.workflow_name}/{task.task_id}?display_name={quote_plus(task.display_name)}"
        )
    values = {
        "project": task.project_name,
        "project.id": task.project_name,
        "project.name": project_display,
        "workflow.id": task.workflow_name,
        "workflow.name": task.display_name,
        "workflow.task.id": str(task.task_id),
        "workflow.task.creator": task.task_creator,
        "workflow.task.creator.id": task.task_creator_id,
        "workflow.task.creator.userId": task.task_creator_id,
        "workflow.task.timestamp": str(when) if when else "",
        "workflow.task.datetime": local_time(when, tz) if when else "",
        "workflow.task.url": url or task.detail_url,
        "task.id": str(task.task_id),
        "task.status": task.status,
        "task.creator": task.task_creator,
        "task.creator_id": task.task_creator_id,
        "task.creator_email": task.task_creator_email,
        "task.creator_phone": task.task_creator_phone,
        "task.remark": task.remark,
        "task.url": task.detail_url,
        "workflow.display_name": task.display_name,
        "project.display_name": project_display,
    }
    payload = (task.model_extra or {}).get("payload")
    if isinstance(payload, dict):
        _flatten("payload", payload, values)
    return values


def params(variables: Mapping[str, str]) -> dict[str, str]:
    """`tidings run --var NAME=VALUE` as Zadig's workflow.params.NAME and tidings' var.NAME."""
    values = {f"workflow.params.{name}": value for name, value in variables.items()}
    values.update({f"var.{name}": value for name, value in variables.items()})
    return values


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    """Zadig's flattenPayloadValue: each leaf under its dotted path (list items by index)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(f"{prefix}.{index}", item, out)
    elif isinstance(value, bool):
        out[prefix] = "true" if value else "false"
    elif value is not None:
        out[prefix] = str(value)


class UnknownVariable(Exception):
    """A variable without a value at run time; the message names it and says why."""


def known(path: str, job_names: set[str] | None = None) -> bool:
    """Whether a variable can have a value (job names: those of the workflow, when known)."""
    parts = path.split(".")
    if path in FIXED or (parts[0] == "payload" and len(parts) > 1):
        return True
    if parts[0] == "var" and len(parts) == 2:
        return True
    if parts[:2] == ["workflow", "params"] and len(parts) == 3:
        return True
    if parts[0] == "job" and len(parts) >= 3 and (job_names is None or parts[1] in job_names):
        return (parts[2] == "status" and len(parts) == 3) or (
            parts[2] == "output" and len(parts) == 4
        )
    return False


def problems(text: str, job_names: Iterable[str]) -> list[str]:
    """Variables that can never have a value in this workflow (checked when loading)."""
    jobs = set(job_names)
    found = []
    for path in VARIABLE.findall(text or ""):
        parts = path.split(".")
        if known(path, jobs):
            continue
        if parts[0] == "job" and len(parts) >= 2 and parts[1] not in jobs:
            found.append(f"{{{{.{path}}}}}: no job {parts[1]!r} in this workflow")
            continue
        found.append(
            f"{{{{.{path}}}}}: unknown variable; use workflow.task.id, workflow.name, "
            "workflow.params.NAME, job.NAME.output.KEY or payload.* (docs/runner.md)"
        )
    return found


def render(text: str, values: Mapping[str, str], escape: Callable[[str], str] | None = None) -> str:
    """Replace every variable with its (escaped) value; UnknownVariable if one has none."""

    def replace(match: re.Match[str]) -> str:
        path = match.group(1)
        if path not in values:
            parts = path.split(".")
            if parts[0] == "var" or parts[:2] == ["workflow", "params"]:
                hint = f"pass --var {parts[-1]}=VALUE to tidings run"
            elif parts[0] == "job" and len(parts) == 4 and _ended(values, parts[1]):
                hint = f"job {parts[1]} did not write {parts[3]}=... to $TIDINGS_OUTPUT"
            elif parts[0] == "job":
                hint = f"job {parts[1]} has not run before this one"
            elif parts[0] == "payload":
                hint = "the event has no such payload field"
            else:
                hint = "see docs/runner.md for the variables"
            raise UnknownVariable(f"{{{{.{path}}}}} has no value: {hint}")
        value = values[path]
        return escape(value) if escape is not None else value

    return VARIABLE.sub(replace, text or "")


def _ended(values: Mapping[str, str], job: str) -> bool:
    return values.get(f"job.{job}.status") in ("passed", "failed", "timeout", "cancelled", "reject")
