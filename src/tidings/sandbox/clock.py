"""Clocks: the sandbox reads time only through a ``Clock`` so a test can jump ten minutes
of rate-limit window or signature freshness in microseconds instead of sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
"""Returns epoch seconds, like :func:`time.time`."""


class FakeClock:
    """A clock that only moves when told to (thread-safe: tests advance it while the
    sandbox reads it on its own loop thread)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` and return the new time."""
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, t: float) -> None:
        """Jump to epoch seconds ``t`` (e.g. a signing test vector's timestamp)."""
        with self._lock:
            self._now = float(t)

    def __repr__(self) -> str:
        return f"FakeClock({self():.3f})"
