"""Task and job statuses: Zadig's strings (specs/zadig.md §2). Light on purpose: checking a
notify_ctl's notify_type needs these, not the snapshot's (pydantic) models."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Task and job statuses, Zadig's strings (specs/zadig.md §2)."""

    CREATED = "created"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    PAUSE = "pause"
    REJECT = "reject"
    CHANGED = "changed"
    PREPARE = "prepare"
    WAIT_FOR_APPROVAL = "wait_for_approval"
    WAIT_FOR_MANUAL_ERROR_HANDLING = "wait_for_manual_error_handling"
    UNSTABLE = "unstable"
    SKIPPED = "skipped"


STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
