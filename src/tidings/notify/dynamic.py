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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tidings.notify import variables

# How a variable's name ends -> what it holds (compared without case).
_KINDS = (
    ("email", "email"),
    ("mobile", "mobile"),
    ("phone", "mobile"),
    ("userid", "user id"),
    ("uid", "user id"),
)

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
    webhook_type: str, accepted: Sequence[str], templates: list[str], job_names: list[str]
) -> list[tuple[int, str]]:
    """Why an entry can never add anyone (checked when the configuration is loaded), as
    (index, message)s; `accepted`: the kinds the channel can add (its recipient_fields)."""
    found: list[tuple[int, str]] = []
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


def add_recipients(
    sub: Any,
    fields: Mapping[str, str],
    entry: Callable[[str, str], Any],
    values: Mapping[str, str],
) -> tuple[Any, list[str]]:
    """`sub` with the people its dynamic_recipients name for this task added (each once), and
    why an entry added no one. `fields`: kind -> the settings field people of that kind go
    to; `entry(kind, value)`: one person as that field holds them (the channel's record)."""
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
            new = entry(kind or "", person) if person else None
            if new is not None and _identity(new) not in known:
                known.add(_identity(new))
                current.append(new)
    return (dataclasses.replace(sub, **added) if added else sub), notes


def _identity(entry: Any) -> str:
    """Who an entry is, to add each person once."""
    if isinstance(entry, str):
        return entry
    return str(getattr(entry, "id", "") or getattr(entry, "user_name", "")).lower()
