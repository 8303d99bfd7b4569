"""Failpoints: named places where a test may have this process killed (SIGKILL), to prove
that a crash exactly there loses and duplicates nothing.

Set TIDINGS_FAILPOINT to a name (e.g. `coalesce-built`) in the environment of a worker
process; when the worker reaches that place, it kills itself as `kill -9` would. Unset (the
only way tidings runs outside such a test), `reach` is a dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "TIDINGS_FAILPOINT"


def reach(name: str) -> None:
    """Die here, at once and without cleanup, when this failpoint is armed."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
