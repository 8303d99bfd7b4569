"""Job kinds: one module each; the runner looks a job's kind up here by its type."""

from __future__ import annotations

from tidings.runner.jobs import approval, notification, script
from tidings.runner.jobs.base import JobKind

KINDS: dict[str, JobKind] = {
    "freestyle": script.run,
    "zadig-build": script.run,
    "zadig-deploy": script.run,
    "zadig-test": script.run,
    "notification": notification.run,
    "approval": approval.run,
}
