"""Rolling windows as the platforms enforce them ("20 per minute" = at most 20 events in
any 60 s of clock time), driven by the injectable clock."""

from __future__ import annotations

import math
from collections import deque


class RollingWindow:
    """Counts events in the last ``seconds``; the caller decides what an event is."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._events: deque[float] = deque()

    def _prune(self, now: float) -> None:
        while self._events and self._events[0] <= now - self.seconds:
            self._events.popleft()

    def full(self, now: float) -> bool:
        """True if one more event now would exceed the limit."""
        self._prune(now)
        return len(self._events) >= self.limit

    def add(self, now: float) -> None:
        self._events.append(now)

    def free_in(self, now: float) -> int:
        """Whole seconds (at least 1) until one more event fits, for ``Retry-After``-like
        headers."""
        self._prune(now)
        if len(self._events) < self.limit:
            return 1
        oldest = self._events[len(self._events) - self.limit]
        return max(1, math.ceil(oldest + self.seconds - now))
