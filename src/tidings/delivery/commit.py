"""Group commit: the results of sends that end together (deliveries' new states, attempts,
destinations released) are written in one transaction, so a worker pays for one commit per
burst rather than one per delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tidings.store import queue


@dataclass
class Batch:
    """Results to write in one transaction."""

    updates: list[queue.DeliveryUpdate] = field(default_factory=list)
    attempts: list[queue.AttemptRow] = field(default_factory=list)
    releases: list[queue.Release] = field(default_factory=list)
    written: list[asyncio.Future[None]] = field(default_factory=list)  # set once committed

    def __bool__(self) -> bool:
        return bool(self.updates or self.attempts or self.releases)


class GroupCommit:
    """Collects results and writes them with `write(batch)` a moment after the first one
    arrives (results of concurrent sends join it), or at once on `flush()`."""

    def __init__(self, write: Callable[[Batch], Awaitable[None]]) -> None:
        self._write = write
        self._batch = Batch()
        self._flusher: asyncio.Task[None] | None = None

    def attempt(
        self, update: queue.DeliveryUpdate, attempt: queue.AttemptRow
    ) -> asyncio.Future[None]:
        """A delivery's new state and its attempt; the future is set once they are written."""
        self._batch.updates.append(update)
        self._batch.attempts.append(attempt)
        return self._soon()

    def update(self, update: queue.DeliveryUpdate) -> None:
        """A delivery that ended unsent (expired, its destination gone)."""
        self._batch.updates.append(update)

    def release(self, release: queue.Release) -> asyncio.Future[None]:
        """A destination this worker is done with for now; set once written."""
        self._batch.releases.append(release)
        return self._soon()

    async def flush(self) -> None:
        """Write everything collected so far in one transaction."""
        batch, self._batch = self._batch, Batch()
        if not batch:
            return
        try:
            await self._write(batch)
        except BaseException as exc:
            for done in batch.written:
                if not done.done():
                    done.set_exception(exc)
            raise
        for done in batch.written:
            if not done.done():
                done.set_result(None)

    def _soon(self) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.written.append(done)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_soon())
        return done

    async def _flush_soon(self) -> None:
        await asyncio.sleep(0.001)  # gather the results of concurrent sends into one commit
        self._flusher = None
        await self.flush()
