"""Task snapshots from outside: a JSON file or body (Zadig's webhook `workflow` object, or the
whole payload), checked with every problem named, and completed from the configured workflow."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from tidings.errors import InputError, Problem

if TYPE_CHECKING:
    from tidings.config.models import WorkflowConfig
    from tidings.model import Task


# A snapshot larger than this is refused before it is read: a task of thousands of jobs takes
# a few hundred KB; more is logs or outputs that no message shows (docs/snapshot.md).
MAX_SNAPSHOT_BYTES = 10 * 1024 * 1024


def read_task(path: str) -> Task:
    """A task snapshot from a JSON file ('-' for stdin): the `workflow` object, or a whole
    Zadig webhook payload that holds one."""
    source = "standard input" if path == "-" else path
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_SNAPSHOT_BYTES + 1)
        else:
            with open(path, "rb") as file:
                raw = file.read(MAX_SNAPSHOT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read task file {source}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SNAPSHOT_BYTES:
        raise InputError(
            f"{source}: a task snapshot may be at most {MAX_SNAPSHOT_BYTES // (1024 * 1024)} MB; "
            "leave out logs and large outputs (messages show names, statuses, commits, images)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: not valid JSON",
            [Problem("", f"{exc.msg} (line {exc.lineno}, column {exc.colno})")],
        ) from None
    from tidings import storable

    problems = storable.problems(data)  # Python's json reads what no database stores
    if problems:
        raise InputError(f"{source}: holds values no database can store", problems)
    return parse_task(data, source)


def parse_task(data: Any, source: str = "task") -> Task:
    prefix: tuple[str | int, ...] = ()
    if isinstance(data, dict) and isinstance(data.get("workflow"), dict):
        data, prefix = data["workflow"], ("workflow",)
    if not isinstance(data, dict):
        raise InputError(f"{source}: a task snapshot must be a JSON object")
    # Imported here, not with the module: `tidings notify` plans notes, never a snapshot.
    from pydantic import ValidationError

    from tidings.model import Task
    from tidings.statuses import STATUSES
    from tidings.yamlsrc import format_path

    try:
        task = Task.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                format_path((*prefix, *error["loc"])),
                "field required" if error["type"] == "missing" else error["msg"].lower(),
            )
            for error in exc.errors()
        ]
        raise InputError(f"{source}: invalid task snapshot", problems) from None
    if task.status and task.status not in STATUSES:
        # Named as the snapshot's field: --status may not even have been given.
        message = f"unknown status {task.status!r}; one of {', '.join(STATUSES)}"
        problem = Problem(format_path((*prefix, "status")), message)
        raise InputError(f"{source}: invalid task snapshot", [problem])
    return task


def complete_task(task: Task, workflow: WorkflowConfig, status: str | None = None) -> Task:
    """Names missing from the snapshot are taken from the configured workflow."""
    updates: dict[str, Any] = {}
    if not task.workflow_display_name:
        updates["workflow_display_name"] = workflow.display_name or workflow.name
    if not task.project_name and workflow.project:
        updates["project_name"] = workflow.project
    if not task.project_display_name and workflow.project_display_name:
        updates["project_display_name"] = workflow.project_display_name
    if status:
        updates["status"] = status
    return task.model_copy(update=updates)


def check_status(status: str, option: str = "--status") -> str:
    from tidings.statuses import STATUSES

    if status not in STATUSES:
        raise InputError(f"{option}: unknown status {status!r}; one of {', '.join(STATUSES)}")
    return status
