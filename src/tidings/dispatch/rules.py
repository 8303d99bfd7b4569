"""When a notify_ctl fires (specs/zadig.md §2)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidings.config.notify_ctl import NotifyCtl

# `changed` never fires for these: a task that merely started has not changed outcome.
_NOT_A_CHANGE = ("created", "running")


def fires(ctl: NotifyCtl, status: str, previous_status: str | None = None) -> bool:
    """Whether this ctl notifies a task that reached `status`.

    - the ctl must be enabled and hold the status in notify_type;
    - `reject` also matches `failed` (a rejection is a failure to those who only watch failures);
    - `changed` matches when the previous task's status is known and differs, and the new
      status is an outcome (not created/running).
    """
    if not ctl.enabled:
        return False
    wanted = set(ctl.notify_type)
    if status in wanted:
        return True
    if status == "reject" and "failed" in wanted:
        return True
    return (
        "changed" in wanted
        and previous_status is not None
        and status != previous_status
        and status not in _NOT_A_CHANGE
    )


def matching(
    ctls: Iterable[NotifyCtl], status: str, previous_status: str | None = None
) -> list[tuple[int, NotifyCtl]]:
    """The ctls that fire, with their index in notify_ctls (their stable name)."""
    return [(i, ctl) for i, ctl in enumerate(ctls) if fires(ctl, status, previous_status)]
