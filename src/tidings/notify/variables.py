"""`{{.path}}` variables in notification content and script env: Zadig's `{{.var}}` syntax.

Paths: task.id, task.status, task.creator, task.creator_id, task.creator_email,
task.creator_phone, task.remark, task.url,
workflow.name, workflow.display_name, project.name, project.display_name, var.<NAME>
(`tidings run --var NAME=VALUE`), job.<job>.status and job.<job>.output.<KEY>. Values are
user-controlled text: the caller passes the escaping of the markup they are inserted into.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidings.model import Task

VARIABLE = re.compile(r"\{\{\s*\.([A-Za-z0-9_.\-]+)\s*\}\}")
FIXED = (
    "task.id",
    "task.status",
    "task.creator",
    "task.creator_id",
    "task.creator_email",
    "task.creator_phone",
    "task.remark",
    "task.url",
    "workflow.name",
    "workflow.display_name",
    "project.name",
    "project.display_name",
)


def task_values(task: Task) -> dict[str, str]:
    """The values of the variables a task snapshot holds (every FIXED path)."""
    return {
        "task.id": str(task.task_id),
        "task.status": task.status,
        "task.creator": task.task_creator,
        "task.creator_id": task.task_creator_id,
        "task.creator_email": task.task_creator_email,
        "task.creator_phone": task.task_creator_phone,
        "task.remark": task.remark,
        "task.url": task.detail_url,
        "workflow.name": task.workflow_name,
        "workflow.display_name": task.display_name,
        "project.name": task.project_name,
        "project.display_name": task.project_display_name or task.project_name,
    }


class UnknownVariable(Exception):
    """A variable without a value at run time; the message names it and says why."""


def problems(text: str, job_names: Iterable[str]) -> list[str]:
    """Variables that can never have a value in this workflow (checked when loading)."""
    jobs = set(job_names)
    found = []
    for path in VARIABLE.findall(text or ""):
        parts = path.split(".")
        if path in FIXED or (parts[0] == "var" and len(parts) == 2):
            continue
        if parts[0] == "job" and len(parts) >= 3 and parts[1] in jobs:
            if parts[2] == "status" and len(parts) == 3:
                continue
            if parts[2] == "output" and len(parts) == 4:
                continue
        if parts[0] == "job" and len(parts) >= 2 and parts[1] not in jobs:
            found.append(f"{{{{.{path}}}}}: no job {parts[1]!r} in this workflow")
            continue
        found.append(
            f"{{{{.{path}}}}}: unknown variable; use task.id, workflow.name, var.NAME, "
            "job.NAME.status or job.NAME.output.KEY (docs/runner.md)"
        )
    return found


def render(text: str, values: Mapping[str, str], escape: Callable[[str], str] | None = None) -> str:
    """Replace every variable with its (escaped) value; UnknownVariable if one has none."""

    def replace(match: re.Match[str]) -> str:
        path = match.group(1)
        if path not in values:
            parts = path.split(".")
            if parts[0] == "var":
                hint = f"pass --var {parts[-1]}=VALUE to tidings run"
            elif parts[0] == "job" and len(parts) == 4 and _ended(values, parts[1]):
                hint = f"job {parts[1]} did not write {parts[3]}=... to $TIDINGS_OUTPUT"
            elif parts[0] == "job":
                hint = f"job {parts[1]} has not run before this one"
            else:
                hint = "see docs/runner.md for the variables"
            raise UnknownVariable(f"{{{{.{path}}}}} has no value: {hint}")
        value = values[path]
        return escape(value) if escape is not None else value

    return VARIABLE.sub(replace, text or "")


def _ended(values: Mapping[str, str], job: str) -> bool:
    return values.get(f"job.{job}.status") in ("passed", "failed", "timeout", "cancelled", "reject")
