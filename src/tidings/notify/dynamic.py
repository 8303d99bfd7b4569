"""Zadig's dynamic_recipients: people named by a task's `{{.variables}}`, added to a notify_ctl's
mentions or recipients when it fires.

Each entry is one variable, e.g. `{{.workflow.params.owner_email}}` or
`{{.job.build.output.AUTHOR_MOBILE}}`. What it holds is told by its name, as Zadig's
ParseDynamicRecipientKind (util/workflow_variables.go): a key under `workflow.`, `payload.` or
`job.` (tidings' aliases `task.` and `var.` too) whose last field is `email`, `mobile` or
`phone`, `user_id`, `userid` or `uid`, or ends in `_` and one of them, without case. A value
may name several, separated by `,` `;` or spaces.

Every channel takes every kind: what it cannot reach directly is looked up under `users:`
(an email or a user id to the user's phone, a phone or a user id to their email). Someone who
cannot be reached is left out, and why is said when the notification is planned.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from tidings.notify import variables

KINDS = ("email", "mobile", "user_id")
_SPLIT = re.compile(r"[,;\s]+")
_ONE_VARIABLE = re.compile(r"^\{\{\s*\.([^{}\s]+)\s*\}\}$")
_FIELDS = {
    "email": "email",
    "mobile": "mobile",
    "phone": "mobile",
    "user_id": "user_id",
    "userid": "user_id",
    "uid": "user_id",
}


def key_of(template: str) -> str | None:
    """The variable of an entry that is exactly one `{{.key}}`, else None."""
    found = _ONE_VARIABLE.match((template or "").strip())
    return found.group(1) if found else None


def kind_of(template: str) -> str | None:
    """What one entry holds ('email', 'mobile', 'user_id'), or None (ParseDynamicRecipientKind)."""
    key = key_of(template)
    if key is None:
        return None
    key = key.lower()
    parts = key.split(".")
    if parts[0] == "job":
        marker = key.rfind(".output.")
        is_input = len(parts) == 3 and all(parts[1:])
        is_output = marker > len("job.") and "." not in key[marker + len(".output.") :]
        if not (is_input or is_output):
            return None
    elif parts[0] not in ("workflow", "payload", "task", "var") or len(parts) < 2:
        return None
    if key.endswith(".output."):
        return None
    field = parts[-1]
    for end, kind in _FIELDS.items():
        if field == end or field.endswith("_" + end):
            return kind
    return None


def problems(
    templates: list[str], job_names: list[str]
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(errors, warnings) of the entries, as (index, message)s, checked when loading: an entry
    that is not one variable naming what it holds is refused, as by Zadig; a variable no task
    of this workflow can have is a warning."""
    errors: list[tuple[int, str]] = []
    warnings: list[tuple[int, str]] = []
    for index, template in enumerate(templates):
        key = key_of(template)
        if key is None or kind_of(template) is None:
            errors.append(
                (
                    index,
                    "must be one {{.variable}} under workflow., payload. or job. whose last "
                    "field is email, mobile, phone, user_id, userid or uid (or ends in _ and "
                    "one of them), e.g. {{.workflow.params.owner_email}}",
                )
            )
        elif not variables.known(key, set(job_names)):
            warnings.append((index, f"{template}: no task of this workflow has it; it adds no one"))
    return errors, warnings


class UserLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def phone(self) -> str: ...


def _contact(user: UserLike, kind: str) -> str:
    return user.email if kind == "email" else user.phone if kind == "mobile" else ""


def reach(
    kind: str,
    value: str,
    accepted: Sequence[str],
    users: Sequence[UserLike],
) -> list[tuple[str, str]]:
    """(kind, value) the channel can use for someone named by `value` of `kind`: as is when
    the channel takes that kind, else each configured user it names, by the first of the
    channel's kinds (email or mobile) they have."""
    if kind in accepted:
        return [(kind, value)]
    wanted = value.lower()
    matched = [
        user
        for user in users
        if (kind == "user_id" and user.id == value)
        or (kind == "email" and user.email.strip().lower() == wanted)
        or (kind == "mobile" and user.phone.strip() == value)
    ]
    found = []
    for user in matched:
        for target in accepted:
            contact = _contact(user, target).strip()
            if contact:
                found.append((target, contact))
                break
    return found


def add_recipients(
    sub: Any,
    fields: Mapping[str, str],
    entry: Callable[[str, str], Any],
    values: Mapping[str, str],
    users: Sequence[UserLike] = (),
) -> tuple[Any, list[str]]:
    """`sub` with the people its dynamic_recipients name for this task added (each once), and
    why an entry added no one. `fields`: kind -> the settings field people of that kind go
    to; `entry(kind, value)`: one person as that field holds them (the channel's record)."""
    notes: list[str] = []
    added: dict[str, list[Any]] = {}
    for index, template in enumerate(getattr(sub, "dynamic_recipients", None) or []):
        kind = kind_of(template) or ""
        try:
            value = variables.render(template, values).strip()
        except variables.UnknownVariable as exc:
            notes.append(f"dynamic_recipients[{index}]: {exc}; no one added")
            continue
        if not value:
            notes.append(f"dynamic_recipients[{index}]: {template} is empty; no one added")
            continue
        for person in _SPLIT.split(value):
            if not person:
                continue
            found = reach(kind, person, list(fields), users)
            if not found:
                can = " or ".join(fields) or "no one"
                notes.append(
                    f"dynamic_recipients[{index}] {template}: {person!r} is a {kind} this "
                    f"channel cannot reach (it takes {can}) and no user under users: has that "
                    f"{kind} with one; not sent to them"
                )
            for target, contact in found:
                name = fields[target]
                current = added.setdefault(name, list(getattr(sub, name)))
                new = entry(target, contact)
                if _identity(new) not in {_identity(item) for item in current}:
                    current.append(new)
    return (dataclasses.replace(sub, **added) if added else sub), notes


def _identity(entry: Any) -> str:
    """Who an entry is, to add each person once."""
    if isinstance(entry, str):
        return entry.lower()
    return str(getattr(entry, "id", "") or getattr(entry, "user_name", "")).lower()
