"""Group commit for the API: events posted at about the same time are recorded in the outbox
in ONE transaction (`enqueue_many`), and each request is answered with its own result.

A commit costs far more than the rows it writes, so under load the server records many events
per commit instead of one. Requests that arrive within `window` seconds, or while the previous
commit runs, go into the next one. Nothing is answered before its commit; a failed commit
is tried again one event per transaction, so an event that cannot be recorded fails alone and
the others of its batch are recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tidings.api.errors import ApiError
from tidings.delivery.outbox import Enqueued, NewDelivery, NewEvent, enqueue_many
from tidings.store.db import DatabaseError, Store

log = logging.getLogger("tidings.api")

_Waiting = tuple[NewEvent, list[NewDelivery], "asyncio.Future[Enqueued]"]


class Recorder:
    """Gathers concurrent `record` calls into group commits, one commit at a time."""

    def __init__(
        self,
        store: Store,
        run: Callable[..., Awaitable[Any]],
        *,
        expires_in: float,
        committed: Callable[[], None] = lambda: None,
        redact: Callable[[str], str] = lambda text: text,
        window: float = 0.001,
        limit: int = 256,
    ) -> None:
        self.store = store
        self.run = run  # runs a database call: on the loop (SQLite) or in a thread
        self.expires_in = expires_in
        self.committed = committed  # new deliveries were recorded: wake the worker
        self.redact = redact
        self.window = window
        self.limit = limit  # events per transaction at most: bounded lock time
        self._waiting: list[_Waiting] = []
        self._drainer: asyncio.Task[None] | None = None

    async def record(self, event: NewEvent, deliveries: list[NewDelivery]) -> Enqueued:
        """Record the event and its deliveries (or find the first one with its idempotency
        key); returns once they are committed. Raises ApiError (5xx) if the commit failed."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Enqueued] = loop.create_future()
        self._waiting.append((event, deliveries, waiter))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await waiter

    async def close(self) -> None:
        """Wait for the commits under way (requests still waiting get their answers)."""
        if self._drainer is not None:
            await asyncio.shield(self._drainer)

    async def _drain(self) -> None:
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                # Let the requests already on their way join this commit.
                await asyncio.sleep(self.window)
                batch = self._waiting[: self.limit]
                del self._waiting[: self.limit]
                await self._commit(batch)
                batch = []
        finally:
            self._drainer = None
            # Only when cancelled (the server stops): no request is left waiting forever.
            for _, _, waiter in [*batch, *self._waiting]:
                waiter.cancel()
            self._waiting.clear()

    async def _commit(self, batch: list[_Waiting]) -> None:
        items = [(event, deliveries) for event, deliveries, _ in batch]
        try:
            results = await self.run(self._enqueue, items)
        except Exception as exc:
            if len(batch) == 1 or _unavailable(self.store, exc):
                self._fail(batch, exc)  # answered to every request of the batch
                return
            # One event the database refused must not cost the others theirs: each alone.
            for one in batch:
                await self._commit([one])
            return
        for (_, _, waiter), result in zip(batch, results, strict=True):
            if not waiter.done():  # the request may have been cancelled meanwhile
                waiter.set_result(result)
        if any(not result.duplicate for result in results):
            self.committed()

    def _enqueue(
        self, items: Sequence[tuple[NewEvent, list[NewDelivery]]], attempts: int = 5
    ) -> list[Enqueued]:
        keyed = any(event.idempotency_key for event, _ in items)
        for _ in range(attempts - 1):
            try:
                return enqueue_many(self.store, items, now=time.time(), expires_in=self.expires_in)
            except Exception as exc:
                # Another server committed one of these idempotency keys first (PostgreSQL):
                # the batch was rolled back whole; the next look answers it as a duplicate.
                if not (keyed and _unique_conflict(exc)):
                    raise
        return enqueue_many(self.store, items, now=time.time(), expires_in=self.expires_in)

    def _fail(self, batch: list[_Waiting], exc: Exception) -> None:
        orig = _driver_error(self.store, exc)
        if orig is not None:
            # The driver's message only: SQLAlchemy's would carry the statement's parameters.
            log.error(
                "database error; %d event(s) not recorded: %s",
                len(batch),
                self.redact(f"{type(orig).__name__}: {orig}"),
            )
        else:
            trace = self.redact("".join(traceback.format_exception(exc)))
            log.error("internal error; %d event(s) not recorded: %s", len(batch), trace)
        for _, _, waiter in batch:
            if waiter.done():
                continue
            # One exception per request: each answer is built from its own.
            if orig is not None and _unavailable(self.store, exc):
                error = ApiError(
                    503,
                    f"the database did not record the event ({type(orig).__name__}); "
                    "nothing of it was recorded: post it again",
                )
            elif orig is not None:
                error = ApiError(
                    422,
                    f"the database refused a value of the event ({type(orig).__name__}: "
                    f"{self.redact(str(orig).splitlines()[0] if str(orig) else '')}); nothing "
                    "of it was recorded; posting it again fails again: fix the value",
                )
            else:
                error = ApiError(
                    500,
                    f"internal error ({type(exc).__name__}) while recording the event; nothing "
                    "of it was recorded; the server log has details: report it",
                )
            waiter.set_exception(error)


def _driver_error(store: Store, exc: BaseException) -> BaseException | None:
    """The database driver's error behind `exc`, or None if it is not a database error."""
    if isinstance(exc, DatabaseError):
        return exc.orig
    return exc if isinstance(exc, store.driver_error) else None


def _unavailable(store: Store, exc: BaseException) -> bool:
    """The database could not record anything just now (it went away, a lock or a conflict):
    posting again helps. Anything else (a value it refuses) would fail again: not told as
    transient, or a client would retry it for ever."""
    orig = _driver_error(store, exc)
    if orig is None:
        return False
    names = {cls.__name__ for cls in type(orig).__mro__}
    if "OperationalError" in names or "InterfaceError" in names:
        # PostgreSQL says which: class 22 (data exception) is the value, not the moment.
        state = getattr(orig, "sqlstate", None) or ""
        return not state.startswith(("22", "23", "42"))
    state = getattr(orig, "sqlstate", None) or ""
    return state.startswith(("40", "53", "57", "08"))


def _unique_conflict(exc: BaseException) -> bool:
    """A unique-key violation (PostgreSQL SQLSTATE 23505)."""
    return isinstance(exc, DatabaseError) and exc.sqlstate == "23505"
