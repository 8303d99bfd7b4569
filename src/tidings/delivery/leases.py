"""The destinations a worker holds while it sends to them: a lease, renewed every third of
its length while a send runs (one attempt may outlast a lease: a mail is ten round trips to a
slow server), and an end to each attempt before its lease could run out, so that no other
worker claims the destination and sends the same delivery meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tidings.delivery.clock import Clock
from tidings.store.queue import Claimed

T = TypeVar("T")


class AttemptStopped(Exception):
    """An attempt was stopped at its end; `whole`: at system.delivery.attempt_timeout (else
    before the lease on its destination could run out)."""

    def __init__(self, whole: bool) -> None:
        super().__init__("attempt stopped")
        self.whole = whole


class Leases:
    """One worker's held destinations and the deadlines of the attempts in flight to them."""

    def __init__(self, clock: Clock, lease: float, attempt_timeout: float) -> None:
        self.clock = clock
        self.lease = lease
        self.attempt_timeout = attempt_timeout
        # The destinations being sent to, by key: never claimed again by this worker while
        # here, their leases renewed for as long as a send takes.
        self.held: dict[str, Claimed] = {}
        # The deadline of the attempt in flight to each held destination, and when it started.
        self._scopes: dict[str, tuple[asyncio.Timeout, float]] = {}

    @contextmanager
    def holding(self, claimed: Claimed) -> Iterator[None]:
        """While the block runs, `claimed` is held (its lease renewed)."""
        self.held[claimed.key] = claimed
        try:
            yield
        finally:
            if self.held.get(claimed.key) is claimed:
                del self.held[claimed.key]

    def renewed(self, held: dict[str, Claimed], renewed: set[str], until: float) -> None:
        """The leases of `held` were renewed to `until`, those of `renewed` only: any other
        was claimed by another worker after it ran out, and what is in flight to it stops."""
        now = self.clock.now()
        for key, claimed in held.items():
            claimed.lease_until = until if key in renewed else min(claimed.lease_until, now)
            running = self._scopes.get(key)
            if running is not None and not running[0].expired():
                scope, started = running
                scope.reschedule(self._deadline(self._attempt_end(claimed, started)[0]))

    async def within(
        self, claimed: Claimed, started: float, attempt: Callable[[], Awaitable[T]]
    ) -> T:
        """Run `attempt`, stopped (AttemptStopped) when it would outlast the attempt timeout
        or the lease on its destination, as renewed meanwhile."""
        end = self._attempt_end(claimed, started)[0]
        try:
            async with asyncio.timeout_at(self._deadline(end)) as scope:
                self._scopes[claimed.key] = (scope, started)
                try:
                    return await attempt()
                finally:
                    self._scopes.pop(claimed.key, None)
        except TimeoutError:
            if not scope.expired():
                raise
        raise AttemptStopped(self._attempt_end(claimed, started)[1])

    def _attempt_end(self, claimed: Claimed, started: float) -> tuple[float, bool]:
        """When an attempt started at `started` must end (clock time), and whether that is
        the attempt timeout (else: the lease on its destination, as renewed)."""
        limit = started + self.attempt_timeout
        lease_end = claimed.lease_until - min(1.0, self.lease / 10)
        return (limit, True) if limit <= lease_end else (lease_end, False)

    def _deadline(self, end: float) -> float:
        """A clock time as the event loop's time, for asyncio.timeout_at."""
        return asyncio.get_running_loop().time() + (end - self.clock.now())
