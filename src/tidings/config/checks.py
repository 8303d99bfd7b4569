"""Checks that pydantic cannot express, across entries, with YAML paths: references (users,
groups, apps), unique names, each channel's own checks, one robot with one secret, job specs
by type, manual stages, approvers, variables and dynamic_recipients.

Errors stop a configuration from loading; warnings are shown by `tidings check`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from tidings import channels
from tidings.config.notify_ctl import unknown_statuses
from tidings.config.workflows import (
    SPEC_MODELS,
    ApprovalSpec,
    ManualExec,
    NotificationSpec,
    ScriptSpec,
    notification_types,
)
from tidings.notify import dynamic, variables
from tidings.schema import Invalid, Path, unknown_field
from tidings.statuses import STATUSES

if TYPE_CHECKING:
    from tidings.config.models import Config, WorkflowConfig
    from tidings.config.notify_ctl import NotifyCtl

Problems = list[tuple[Path, str]]


def pydantic_problems(error: Mapping[str, Any], model: type[BaseModel]) -> list[tuple[Path, str]]:
    """One pydantic error of `model` as (path, message)s: a notify_ctl (tidings.schema) lists
    its own."""
    at = tuple(error["loc"])
    inner = error.get("ctx", {}).get("error")
    if isinstance(inner, Invalid):
        return [((*at, *path), message) for path, message in inner.problems]
    return [(at, pydantic_message(error, model))]


def pydantic_message(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        loc = tuple(error["loc"])
        return unknown_field(loc[-1], _fields_at(model, loc[:-1]))
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}; got {error.get('input')!r}"
    msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return msg[0].lower() + msg[1:] if msg else msg


def _fields_at(model: type[BaseModel], loc: Path) -> tuple[str, ...]:
    """The field names of the model found at `loc` inside `model` (for "did you mean")."""
    kind: Any = model
    for part in loc:
        kind = _inner(kind, part)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return tuple(kind.model_fields)
    return ()


def _inner(kind: Any, part: str | int) -> Any:
    """The type of `kind`'s field or item `part`: through models, lists, dicts and Optional."""
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        field = kind.model_fields.get(str(part))
        return field.annotation if field else None
    args = [a for a in get_args(kind) if a is not type(None)]
    origin = get_origin(kind)
    if origin in (list, tuple) and isinstance(part, int) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    if len(args) == 1:  # X | None
        return _inner(args[0], part)
    return None


def reference_problems(config: Config) -> tuple[Problems, Problems]:
    """(errors, warnings) of a configuration that parsed."""
    errors: Problems = []
    warnings: Problems = []
    user_ids = {u.id for u in config.users}
    for gi, group in enumerate(config.groups):
        for mi, member in enumerate(group.members):
            if member not in user_ids:
                errors.append(
                    (("groups", gi, "members", mi), f"unknown user {member!r}; add it under users:")
                )
    system = config.system
    errors.extend(_duplicates([a.id for a in system.im_apps], ("system", "im_apps"), "im_apps id"))
    tokens = [t.name for t in system.api_tokens]
    errors.extend(_duplicates(tokens, ("system", "api_tokens"), "name"))
    errors.extend(_duplicates([w.name for w in config.workflows], ("workflows",), "workflow name"))
    for at, _source, ctl in config.ctls():
        found = _ctl_problems(config, ctl, at)
        errors.extend(found[0])
        warnings.extend(found[1])
    for wi, workflow in enumerate(config.workflows):
        found = _workflow_problems(config, workflow, ("workflows", wi))
        errors.extend(found[0])
        warnings.extend(found[1])
    errors.extend(_shared_destination_problems(config))
    errors.extend(_source_problems(config))
    return errors, warnings


def _source_problems(config: Config) -> Problems:
    """Each route of `sources:` names a configured workflow that only it fills: a workflow
    tidings runs has task ids of its own, one with `project` would link Zadig's pages, and two
    routes into one workflow would mix their run numbers (task ids, `changed`)."""
    errors: Problems = []
    github = config.sources.github
    gitlab = config.sources.gitlab
    routes: list[tuple[Path, str, str]] = []  # (path, tidings workflow, what fills it)
    if github is not None:
        for index, route in enumerate(github.routes):
            what = f"GitHub {route.repository.lower()} workflow {route.actions_workflow!r}"
            routes.append((("sources", "github", "routes", index), route.workflow, what))
    if gitlab is not None:
        for index, gl_route in enumerate(gitlab.routes):
            what = f"GitLab {gl_route.project.lower()}"
            routes.append((("sources", "gitlab", "routes", index), gl_route.workflow, what))
    names = {w.name: w for w in config.workflows}
    filled: dict[str, str] = {}
    for at, name, what in routes:
        workflow = names.get(name)
        if workflow is None:
            known = ", ".join(names) or "none"
            errors.append(
                (
                    (*at, "workflow"),
                    f"unknown workflow {name!r} (configured: {known}); add it "
                    "under workflows: with the notify_ctls its runs should fire",
                )
            )
            continue
        if workflow.stages:
            errors.append(
                (
                    (*at, "workflow"),
                    f"workflow {name!r} has stages: tidings runs it, with task "
                    "ids of its own; give the CI's runs a workflow without stages",
                )
            )
        if workflow.project:
            errors.append(
                (
                    (*at, "workflow"),
                    f"workflow {name!r} has a project: its messages would link "
                    "Zadig's pages; CI runs link their own page (leave project out, name it with "
                    "project_display_name)",
                )
            )
        first = filled.setdefault(name, what)
        if first != what:
            errors.append(
                (
                    (*at, "workflow"),
                    f"workflow {name!r} already receives {first}; its run "
                    f"numbers and those of {what} would be one task id sequence: give each its "
                    "own workflow",
                )
            )
    return errors


def _duplicates(names: list[str], at: Path, what: str) -> Problems:
    """Each name that is not the first of its kind (at: the list; the field is the last word
    of `what`: id or name)."""
    field = what.rsplit(" ", 1)[-1]
    seen: set[str] = set()
    found: Problems = []
    for index, name in enumerate(names):
        if name in seen:
            found.append(((*at, index, field), f"duplicate {what} {name!r}"))
        seen.add(name)
    return found


def _ctl_problems(config: Config, ctl: NotifyCtl, at: Path) -> tuple[Problems, Problems]:
    """A ctl's channel checks (its app, users, groups, mail server) and its dynamic_recipients."""
    errors: Problems = []
    warnings: Problems = []
    if at[-1] != "spec" and ctl.enabled and not ctl.notify_type:
        warnings.append(((*at, "notify_type"), "empty: this notification never fires"))
    for index, status in unknown_statuses(ctl):
        warnings.append(
            (
                (*at, "notify_type", index),
                f"unknown status {status!r} never fires (Zadig does not check notify_type "
                f"either); one of {', '.join(STATUSES)}",
            )
        )
    if not ctl.tls_verify:
        warnings.append(
            (
                (*at, "tls_verify"),
                "false: the certificate of this destination is not checked, so anyone on the "
                "way can read and change its messages and tokens; trust its CA with "
                "system.tls.ca_file instead",
            )
        )
    channel = ctl.channel
    if channel.check is not None:
        found_errors, found_warnings = channel.check(ctl.settings, config)
        errors.extend(((*at, *path), message) for path, message in found_errors)
        warnings.extend(((*at, *path), message) for path, message in found_warnings)
    where: Path = (*at, channel.config_key)
    job_names = [job.name for job in config.workflows[int(at[1])].jobs()]  # at: workflows[i]...
    templates = getattr(ctl.settings, "dynamic_recipients", None) or []
    refused, doubtful = dynamic.problems(templates, job_names)
    for found, into in ((refused, errors), (doubtful, warnings)):
        into.extend(((*where, "dynamic_recipients", index), message) for index, message in found)
    return errors, warnings


def _shared_destination_problems(config: Config) -> Problems:
    """Ctls that address one destination (a robot named in two workflows) must agree on its
    secret and token, and on how it is reached: a queued delivery is sent with what its
    destination has today."""
    from tidings.yamlsrc import format_path

    seen: dict[str, tuple[Path, Any]] = {}
    errors: Problems = []
    for at, _source, ctl in config.ctls():
        try:
            destination = ctl.destination(config.system)
        except ValueError:
            continue  # its app or mail server is missing: reported on its own
        first = seen.setdefault(destination.key, (at, destination))
        other = first[1]
        route = ("proxy", "tls_verify")
        if any(getattr(other, name) != getattr(destination, name) for name in route):
            errors.append(
                (
                    at,
                    f"this destination is also configured at {format_path(first[0])} with "
                    "other proxy / tls_verify settings; one robot or URL is reached one way: "
                    "give both the same",
                )
            )
            continue
        if other.secret != destination.secret or other.token != destination.token:
            field = "token" if other.token != destination.token else "secret"
            errors.append(
                (
                    (*at, ctl.config_key, field),
                    f"this destination is also configured at {format_path(first[0])} with "
                    f"another {field}; one robot or URL has one {field}: give both the same value",
                )
            )
    return errors


def _workflow_problems(
    config: Config, workflow: WorkflowConfig, at: Path
) -> tuple[Problems, Problems]:
    errors: Problems = []
    warnings: Problems = []
    names = [job.name for job in workflow.jobs()]
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
                    message = pydantic_message(error, SPEC_MODELS[job.type])
                    errors.append(((*job_at, "spec", *error["loc"]), message))
                continue
            errors.extend(_typed_problems(config, job.typed, (*job_at, "spec"), names))
    return errors, warnings


def _typed_problems(config: Config, spec: Any, at: Path, names: list[str]) -> Problems:
    errors: Problems = []
    texts: dict[Path, str] = {}
    if isinstance(spec, ScriptSpec):
        texts.update({(*at, "env", key): value for key, value in spec.env.items()})
    if isinstance(spec, NotificationSpec):
        texts.update({(*at, "title"): spec.title, (*at, "content"): spec.content})
        if not spec.title and not spec.content:
            errors.append((at, "a notification needs a title or content"))
        errors.extend(_notification_problems(spec, at))
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
        eligible = config.approvers(spec)
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


def _notification_problems(spec: NotificationSpec, at: Path) -> Problems:
    """A notification job's destination, checked as a notify_ctl's (its channel checks and
    dynamic_recipients are checked with the configuration's other ctls)."""
    kinds = notification_types()
    if spec.webhook_type not in kinds:
        return [((*at, "webhook_type"), channels.unknown(spec.webhook_type, kinds))]
    try:
        spec.ctl()
    except Invalid as exc:
        return [((*at, *path), message) for path, message in exc.problems]
    return []


def _manual_problems(config: Config, manual: ManualExec, at: Path) -> Problems:
    users = manual.manual_exec_users
    if not users:
        return [((*at, "manual_exec_users"), "empty: list who may run this stage")]
    errors: Problems = []
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
