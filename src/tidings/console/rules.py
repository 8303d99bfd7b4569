"""Each configured workflow and its notify_ctls as rules people read ("failed, timeout →
DingTalk robot http://…/robot/send?access_token=***, @13800000000"), with the problems and
warnings `tidings check` finds placed where they apply. Addresses are shown redacted."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tidings.config.models import Config, WorkflowConfig
from tidings.config.notify_ctl import NotifyCtl
from tidings.errors import Problem
from tidings.redact import redact_url

_WORKFLOW = re.compile(r"^workflows\[(\d+)\]")
_CTL = re.compile(r"^workflows\[(\d+)\]\.notify_ctls\[(\d+)\]")


@dataclass
class Rule:
    statuses: list[str]
    webhook_type: str
    address: str  # redacted
    mentions: list[str]
    enabled: bool
    where: str  # e.g. release/notify_ctls[0] or release/jobs/build/notify_ctls[1]
    warnings: list[Problem] = field(default_factory=list)


@dataclass
class Stage:
    name: str
    manual: list[str]  # who may run it by hand; empty: it starts by itself
    jobs: list[dict[str, Any]]


@dataclass
class WorkflowView:
    name: str
    display_name: str
    project: str
    rules: list[Rule]
    stages: list[Stage]
    warnings: list[Problem]  # those not on one of its ctls


def _mentions(ctl: NotifyCtl) -> list[str]:
    """Who a ctl @mentions or mails, as the configuration names them."""
    settings = ctl.settings
    found: list[str] = []
    for name in ("at_mobiles", "at_user_ids", "at_users", "at_emails"):
        for entry in getattr(settings, name, None) or []:
            found.append(str(getattr(entry, "name", None) or getattr(entry, "id", None) or entry))
    for target in getattr(settings, "target_users", None) or []:
        kind = getattr(target, "type", "")
        value = (
            getattr(target, "user_name", "")
            or getattr(target, "user_id", "")
            or getattr(target, "group_id", "")
            or getattr(target, "id", "")
        )
        found.append(f"{kind}:{value}" if kind and value else str(kind or value))
    at_all = ctl.channel.at_all
    if at_all and getattr(settings, at_all, False):
        found.append("@all")
    return [m if m.startswith("@") or ":" in m else f"@{m}" for m in found if m]


def _address(ctl: NotifyCtl, config: Config) -> str:
    try:
        destination = ctl.destination(config.system)
    except Exception:  # an app or mail server missing: `tidings check` says so
        return ""
    return destination.display or redact_url(destination.url)


def _rule(ctl: NotifyCtl, where: str, config: Config) -> Rule:
    return Rule(
        statuses=list(ctl.notify_type),
        webhook_type=ctl.webhook_type,
        address=_address(ctl, config),
        mentions=_mentions(ctl),
        enabled=ctl.enabled,
        where=where,
    )


def _stages(config: Config, workflow: WorkflowConfig) -> list[Stage]:
    stages = []
    for stage in workflow.stages:
        manual = []
        if stage.manual_exec is not None and stage.manual_exec.enabled:
            manual = [
                getattr(target, "user_id", "") or getattr(target, "group_id", "") or target.type
                for target in stage.manual_exec.manual_exec_users
            ]
        jobs = []
        for job in stage.jobs:
            entry: dict[str, Any] = {"name": job.name, "type": job.type}
            spec = job.typed
            if job.type == "approval" and spec is not None:
                entry["approvers"] = config.approvers(spec)
                entry["needed"] = getattr(spec, "needed_approvals", 1)
            jobs.append(entry)
        stages.append(Stage(stage.name, manual, jobs))
    return stages


def workflows(config: Config) -> tuple[list[WorkflowView], list[Problem]]:
    """Every workflow as rules and stages, and the warnings that belong to no workflow."""
    views: list[WorkflowView] = []
    rules_at: dict[tuple[int, int], Rule] = {}
    for index, workflow in enumerate(config.workflows):
        rules = []
        for ci, ctl in enumerate(workflow.notify_ctls):
            rule = _rule(ctl, f"{workflow.name}/notify_ctls[{ci}]", config)
            rules_at[(index, ci)] = rule
            rules.append(rule)
        for stage in workflow.stages:
            for job in stage.jobs:
                base = f"{workflow.name}/jobs/{job.name}"
                for ci, ctl in enumerate(job.notify_ctls):
                    rules.append(_rule(ctl, f"{base}/notify_ctls[{ci}]", config))
        views.append(
            WorkflowView(
                workflow.name,
                workflow.display_name or workflow.name,
                workflow.project_display_name or workflow.project,
                rules,
                _stages(config, workflow),
                [],
            )
        )
    loose: list[Problem] = []
    for problem in config.warnings:
        on_ctl = _CTL.match(problem.path)
        if on_ctl and (int(on_ctl[1]), int(on_ctl[2])) in rules_at:
            rules_at[(int(on_ctl[1]), int(on_ctl[2]))].warnings.append(problem)
            continue
        found = _WORKFLOW.match(problem.path)
        if found and int(found[1]) < len(views):
            views[int(found[1])].warnings.append(problem)
            continue
        loose.append(problem)
    return views, loose


def by_workflow(problems: list[Problem], config: Config) -> dict[str, list[Problem]]:
    """Problems of a file on disk, by the workflow whose path they name ("" for the rest)."""
    names = [w.name for w in config.workflows]
    found: dict[str, list[Problem]] = {}
    for problem in problems:
        match = _WORKFLOW.match(problem.path)
        name = names[int(match[1])] if match and int(match[1]) < len(names) else ""
        found.setdefault(name, []).append(problem)
    return found
