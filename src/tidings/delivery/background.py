"""The one delivery worker of a long-lived process (`tidings serve`, `tidings run`): it runs
beside the process's work until stopped, starts again with backoff when the database goes
away (nothing is lost: what was not recorded is still pending), and tells whoever listens of
each delivery it finishes.

Everything in the process shares it (every run the API starts, ad-hoc /notify messages): one
HTTP pool, one Feishu token cache, one pacing state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from tidings.delivery.resolve import Resolver
from tidings.delivery.settings import limits_of, settings_of
from tidings.delivery.worker import Final, Settings, Worker, worker_name

if TYPE_CHECKING:
    from tidings.config.models import Config
    from tidings.delivery.metrics import Metrics
    from tidings.redact import Redactor
    from tidings.store.db import Store

log = logging.getLogger("tidings.delivery")
Listener = Callable[[Final], None]


class BackgroundWorker:
    """`async with BackgroundWorker(...) as deliveries:` runs a Worker until the block ends."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        redactor: Redactor | None = None,
        metrics: Metrics | None = None,
        settings: Settings | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        # Shared by every incarnation of the worker: ad-hoc /notify destinations live here
        # (their secrets are never stored, so only this process can send them).
        self.resolver = Resolver(config)
        self.redactor = redactor
        self.metrics = metrics
        self.settings = settings or settings_of(config)
        self.name = worker_name()  # the same for every incarnation: leases are its own
        self._on_error = on_error or log.error
        self._listeners: list[Listener] = []
        self._worker: Worker | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BackgroundWorker:
        self._task = asyncio.create_task(self._supervise())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop claiming; what is in flight is finished and recorded first."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    def wake(self) -> None:
        """New deliveries were recorded: claim them now, not after the poll wait."""
        if self._worker is not None:
            self._worker.wake()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every delivery this worker finishes; the result unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _publish(self, final: Final) -> None:
        for listener in list(self._listeners):
            listener(final)

    async def _supervise(self) -> None:
        from tidings.store.db import DatabaseError

        pause = 1.0
        while not self._stop.is_set():
            worker = Worker(
                self.store,
                self.resolver,
                settings=self.settings,
                limits=limits_of(self.config),
                redactor=self.redactor,
                metrics=self.metrics,
                on_final=self._publish,
                name=self.name,
            )
            try:
                async with worker:
                    self._worker = worker
                    await worker.run(self._stop)
            except DatabaseError as exc:
                # The database went away (restart, failover): nothing is lost — what was not
                # recorded is still pending — so wait and start again.
                self._on_error(f"database error: {exc.orig}; starting again in {pause:g} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), pause)
                pause = min(pause * 2, 30.0)
            finally:
                self._worker = None
