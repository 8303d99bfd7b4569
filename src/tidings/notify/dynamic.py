"""Zadig's dynamic_recipients: people named by a task's `{{.variables}}`, added to a notify_ctl's
mentions or recipients when it fires (specs/zadig.md §1).

Each entry is one variable, e.g. `{{.var.owner_email}}` or `{{.job.build.output.AUTHOR_MOBILE}}`;
what it holds is told by how its name ends (Zadig's rule): `email`; `mobile` or `phone`;
`userId` or `uid` (a platform user id). A value may name several, separated by `,` `;` or
spaces. Zadig treats these as best effort and drops what it cannot use in silence; tidings
refuses at load what can never work (no kind, a kind the channel cannot mention) and says
why a value was left out when a notification is planned.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from tidings.runner import variables

# How a variable's name ends -> what it holds (compared without case).
_KINDS = (
    ("email", "email"),
    ("mobile", "mobile"),
    ("phone", "mobile"),
    ("userid", "user id"),
    ("uid", "user id"),
)

# webhook_type -> {kind: the sub-config field the people are added to}.
FIELDS: dict[str, dict[str, str]] = {
    "dingding": {"mobile": "at_mobiles", "user id": "at_user_ids"},
    "feishu": {"user id": "at_users"},
    "feishu_app": {"email": "at_users", "user id": "at_users"},
    "feishu_person": {"email": "target_users", "user id": "target_users"},
    "msteams": {"email": "at_emails"},
    "mail": {"email": "target_users"},
}
_SPLIT = re.compile(r"[,;\s]+")


def kind_of(template: str) -> str | None:
    """What one entry holds ('email', 'mobile', 'user id'), or None if it is not one variable
    whose name ends in email, mobile, phone, userId or uid."""
    paths = variables.VARIABLE.findall(template or "")
    if len(paths) != 1 or variables.VARIABLE.sub("", template).strip():
        return None
    name = paths[0].rsplit(".", 1)[-1].lower()
    return next((kind for end, kind in _KINDS if name.endswith(end)), None)


def problems(
    webhook_type: str, templates: list[str], job_names: list[str]
) -> list[tuple[int, str]]:
    """Why an entry can never add anyone (checked when the configuration is loaded), as
    (index, message)s."""
    found: list[tuple[int, str]] = []
    accepted = FIELDS.get(webhook_type, {})
    for index, template in enumerate(templates):
        kind = kind_of(template)
        if kind is None:
            found.append(
                (
                    index,
                    "must be one {{.variable}} whose name ends in email, mobile, phone, userId "
                    "or uid (what it holds), e.g. {{.var.owner_email}}",
                )
            )
        elif kind not in accepted:
            can = " or ".join(accepted) or "no one"
            found.append((index, f"{webhook_type} can add {can} here, not {kind}s"))
        else:
            found.extend((index, text) for text in variables.problems(template, job_names))
    return found


def add_recipients(webhook_type: str, sub: Any, values: Mapping[str, str]) -> tuple[Any, list[str]]:
    """`sub` with the people its dynamic_recipients name for this task added (each once), and
    why an entry added no one."""
    fields = FIELDS.get(webhook_type, {})
    notes: list[str] = []
    added: dict[str, list[Any]] = {}
    for index, template in enumerate(getattr(sub, "dynamic_recipients", None) or []):
        kind = kind_of(template)
        name = fields.get(kind or "")
        if name is None:
            notes.append(f"dynamic_recipients[{index}] {template}: not a recipient of this channel")
            continue
        try:
            value = variables.render(template, values)
        except variables.UnknownVariable as exc:
            reason = str(exc)
            if not any(key.startswith("job.") for key in values):  # not from tidings run
                reason = (
                    f"{template} has no value here: only a task of tidings run has --var "
                    "values and job outputs; events from elsewhere have the task.* variables"
                )
            notes.append(f"dynamic_recipients[{index}]: {reason}; no one added")
            continue
        current = added.setdefault(name, list(getattr(sub, name)))
        known = {_identity(entry) for entry in current}
        for person in _SPLIT.split(value.strip()):
            entry = _entry(webhook_type, kind or "", person) if person else None
            if entry is not None and _identity(entry) not in known:
                known.add(_identity(entry))
                current.append(entry)
    return (dataclasses.replace(sub, **added) if added else sub), notes


def _entry(webhook_type: str, kind: str, value: str) -> Any:
    if webhook_type in ("feishu_app", "feishu_person"):
        from tidings.channel_config import LarkUser

        return LarkUser(id=value, id_type="email" if kind == "email" else "user_id")
    if webhook_type == "mail":
        from tidings.channel_config import MailTarget

        return MailTarget(type="email", user_name=value)
    return value


def _identity(entry: Any) -> str:
    """Who an entry is, to add each person once."""
    if isinstance(entry, str):
        return entry
    return str(getattr(entry, "id", "") or getattr(entry, "user_name", "")).lower()
