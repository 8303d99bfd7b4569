"""Checks of a workflow's stages and jobs that pydantic cannot express, with YAML paths:
job specs by type, unique names, approvers that exist, notification destinations, variables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tidings.runner import variables
from tidings.runner.spec import SPEC_MODELS, ManualExec, NotificationSpec

if TYPE_CHECKING:
    from tidings.config import Config, NotifyCtl, WorkflowConfig
    from tidings.yamlsrc import Path

Found = tuple[list[tuple["Path", str]], list[tuple["Path", str]]]


def workflow_problems(config: Config, workflow: WorkflowConfig, at: Path) -> Found:
    from tidings.config import _ctl_reference_problems, _pydantic_message

    errors: list[tuple[Path, str]] = []
    warnings: list[tuple[Path, str]] = []
    names = [job.name for job in workflow.jobs()]
    for ci, ctl in enumerate(workflow.notify_ctls):
        errors.extend(dynamic_problems(ctl, (*at, "notify_ctls", ci), names))
    seen_jobs: set[str] = set()
    seen_stages: set[str] = set()
    for si, stage in enumerate(workflow.stages):
        stage_at: Path = (*at, "stages", si)
        if stage.manual is not None:
            errors.extend(_manual_problems(config, stage.manual, (*stage_at, "manual_exec")))
            if not any(c.enabled and "pause" in c.notify_type for c in workflow.notify_ctls):
                message = "nobody is told when the task waits here: add pause to a notify_type"
                warnings.append(((*stage_at, "manual_exec"), message))
        if stage.name in seen_stages:
            errors.append(((*stage_at, "name"), f"duplicate stage name {stage.name!r}"))
        seen_stages.add(stage.name)
        if not stage.jobs:
            warnings.append(((*stage_at, "jobs"), "empty: this stage does nothing"))
        for ji, job in enumerate(stage.jobs):
            job_at: Path = (*stage_at, "jobs", ji)
            if job.name in seen_jobs:
                errors.append(
                    (
                        (*job_at, "name"),
                        f"duplicate job name {job.name!r}; job names are unique "
                        "in a workflow (logs and variables name jobs by it)",
                    )
                )
            seen_jobs.add(job.name)
            try:
                SPEC_MODELS[job.type].model_validate(job.spec)
            except ValidationError as exc:
                for error in exc.errors():
                    errors.append(((*job_at, "spec", *error["loc"]), _pydantic_message(error)))
                continue
            for ci, ctl in enumerate(job.notify_ctls):
                found = _ctl_reference_problems(config, ctl, (*job_at, "notify_ctls", ci))
                errors.extend(found[0])
                warnings.extend(found[1])
                errors.extend(dynamic_problems(ctl, (*job_at, "notify_ctls", ci), names))
            errors.extend(_typed_problems(config, job.typed, (*job_at, "spec"), names))
    return errors, warnings


def dynamic_problems(ctl: NotifyCtl, at: Path, names: list[str]) -> list[tuple[Path, str]]:
    """dynamic_recipients entries that can never add anyone (at: the ctl's path)."""
    from tidings.channel_config import SUB_CONFIG_OF
    from tidings.notify import dynamic

    templates = getattr(ctl.sub_config(), "dynamic_recipients", None) or []
    if not templates:
        return []  # also: an unknown webhook_type, reported on its own
    where = (*at, SUB_CONFIG_OF[ctl.webhook_type], "dynamic_recipients")
    return [
        ((*where, index), message)
        for index, message in dynamic.problems(ctl.webhook_type, templates, names)
    ]


def _typed_problems(config: Config, spec: Any, at: Path, names: list[str]) -> list[tuple]:
    from tidings.runner.spec import ApprovalSpec, ScriptSpec

    errors: list[tuple[Path, str]] = []
    texts: dict[Path, str] = {}
    if isinstance(spec, ScriptSpec):
        texts.update({(*at, "env", key): value for key, value in spec.env.items()})
    if isinstance(spec, NotificationSpec):
        texts.update({(*at, "title"): spec.title, (*at, "content"): spec.content})
        if not spec.title and not spec.content:
            errors.append((at, "a notification needs a title or content"))
        errors.extend(_notification_problems(spec, at, names))
    if isinstance(spec, ApprovalSpec):
        if not spec.users and not spec.groups:
            errors.append((at, "no approvers: list configured user ids in users: or groups:"))
        for ui, user in enumerate(spec.users):
            if config.user(user) is None:
                errors.append(((*at, "users", ui), f"unknown user {user!r}; add it under users:"))
        for gi, group in enumerate(spec.groups):
            if config.group(group) is None:
                errors.append(
                    ((*at, "groups", gi), f"unknown group {group!r}; add it under groups:")
                )
        eligible = approvers(config, spec)
        if eligible and spec.needed_approvals > len(eligible):
            errors.append(
                (
                    (*at, "needed_approvals"),
                    f"needs {spec.needed_approvals} approvals but only "
                    f"{len(eligible)} approver(s) are listed",
                )
            )
    for path, text in texts.items():
        errors.extend((path, problem) for problem in variables.problems(text, names))
    return errors


def _notification_problems(spec: NotificationSpec, at: Path, names: list[str]) -> list[tuple]:
    from tidings.config import SUB_CONFIG_OF, _is_http_url
    from tidings.schema import Invalid

    sub_name = SUB_CONFIG_OF[spec.webhook_type]
    if getattr(spec, sub_name) is None:
        return [((*at, sub_name), f"field required for webhook_type {spec.webhook_type}")]
    try:
        ctl = spec.ctl()
    except Invalid as exc:
        return [((*at, *loc), message) for loc, message in exc.problems]
    sub = ctl.sub_config()
    address = getattr(sub, "address", None) or getattr(sub, "hook_address", "")
    field = "address" if spec.webhook_type == "webhook" else "hook_address"
    if not _is_http_url(address):
        return [((*at, sub_name, field), "must be an http:// or https:// URL")]
    return dynamic_problems(ctl, at, names)


def _manual_problems(config: Config, manual: ManualExec, at: Path) -> list[tuple[Path, str]]:
    users = manual.manual_exec_users
    if not users:
        return [((*at, "manual_exec_users"), "empty: list who may run this stage")]
    errors: list[tuple[Path, str]] = []
    for ui, target in enumerate(users):
        where = (*at, "manual_exec_users", ui)
        if target.type == "user" and config.user(target.user_id) is None:
            message = f"unknown user {target.user_id!r}; add it under users:"
            errors.append(((*where, "user_id"), message))
        elif target.type == "group" and config.group(target.group_id) is None:
            message = f"unknown group {target.group_id!r}; add it under groups:"
            errors.append(((*where, "group_id"), message))
        elif target.type not in ("user", "group", "task_creator"):
            errors.append(((*where, "type"), "must be user, group or task_creator"))
    return errors


def stage_executors(config: Config, manual: ManualExec, task: Any) -> list[str]:
    """The user ids who may run a manual stage: the listed users, the members of the listed
    groups, and the task creator when listed (and known)."""
    ids: list[str] = []
    for target in manual.manual_exec_users:
        if target.type == "user":
            found = [target.user_id]
        elif target.type == "group":
            group = config.group(target.group_id)
            found = list(group.members) if group else []
        else:
            found = [task.task_creator_id] if task.task_creator_id else []
        ids.extend(i for i in found if i not in ids)
    return ids


def approvers(config: Config, spec: Any) -> list[str]:
    """The user ids who may approve: the listed users and the members of the listed groups."""
    ids = list(dict.fromkeys(spec.users))
    for group_id in spec.groups:
        group = config.group(group_id)
        ids.extend(m for m in (group.members if group else []) if m not in ids)
    return ids
