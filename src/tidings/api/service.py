"""What the routes share: the configuration, the store, the delivery worker running in the
server's event loop, and the workflow runs this server started."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tidings.config.models import Config
from tidings.delivery.metrics import Metrics
from tidings.delivery.resolve import Resolver
from tidings.redact import Redactor
from tidings.store.db import Store

T = TypeVar("T")
log = logging.getLogger("tidings.api")


class Service:
    """Owns the in-process worker (restarted with backoff if the database goes away, as
    `tidings worker` is) and the runs started over the API."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        worker: bool = True,
        home: Path | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.config = config
        # Recorded with every event; Config.name resolves the file's path (syscalls) per call.
        self.config_name = config.name
        self.store = store
        self.with_worker = worker
        self.home = home
        from tidings.api.middleware import json_variants

        self.redact = redactor or Redactor(json_variants(config.secrets()))
        # Shared by every worker incarnation: ad-hoc /notify destinations live here (their
        # secrets are never stored, so only this process can send them).
        self.resolver = Resolver(config)
        self.metrics = Metrics(store)
        from tidings.api.recorder import Recorder

        # Events posted at about the same time share one transaction (group commit).
        self.recorder = Recorder(
            store,
            self.db,
            expires_in=config.system.delivery.max_age,
            committed=self.wake,
            redact=lambda text: self.redact(text),
        )
        self.runs: dict[tuple[str, int], tuple[Any, asyncio.Task[Any]]] = {}
        self._worker: Any = None
        self._stop: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None

    def add_secrets(self, secrets: list[str]) -> None:
        """Mask these too (an ad-hoc destination's), in answers and in what the worker records."""
        from tidings.api.middleware import json_variants

        self.redact = self.redact.add(json_variants(secrets))
        if self._worker is not None:
            self._worker.redact = self.redact

    # --- database calls ---------------------------------------------------------------

    async def db(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """SQLite statements take microseconds: run them on the loop (one writer, as the
        worker does). A network database gets a thread so the loop keeps serving."""
        if self.store.dialect == "sqlite":
            return func(*args, **kwargs)
        return await asyncio.to_thread(func, *args, **kwargs)

    # --- the worker -------------------------------------------------------------------

    async def start(self) -> None:
        self._stop = asyncio.Event()
        if self.with_worker:
            self._supervisor = asyncio.create_task(self._supervise())

    def wake(self) -> None:
        """New deliveries were recorded: claim them now, not after the poll wait."""
        if self._worker is not None:
            self._worker.wake()

    async def _supervise(self) -> None:
        from sqlalchemy.exc import DBAPIError

        from tidings.delivery.worker import Worker
        from tidings.sending.record import limits_of, settings_of
        from tidings.store.db import DatabaseError

        assert self._stop is not None
        pause = 1.0
        while not self._stop.is_set():
            worker = Worker(
                self.store,
                self.resolver,
                settings=settings_of(self.config),
                limits=limits_of(self.config),
                redactor=self.redact,
                metrics=self.metrics,
            )
            try:
                async with worker:
                    self._worker = worker
                    await worker.run(self._stop)
            except (DBAPIError, DatabaseError) as exc:
                log.error("database error: %s; worker starts again in %g s", exc.orig, pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), pause)
                pause = min(pause * 2, 30.0)
            finally:
                self._worker = None

    async def stop(self, grace: float = 10.0) -> None:
        """Cancel the runs this server started, then let the worker finish what is in flight."""
        await self.recorder.close()
        for run, task in list(self.runs.values()):
            if not task.done() and hasattr(run, "task"):
                run.abort("cancelled", "the tidings server stopped")
        pending = [task for _, task in self.runs.values() if not task.done()]
        if pending:
            _done, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._stop is not None:
            self._stop.set()
        if self._supervisor is not None:
            await self._supervisor

    # --- runs -------------------------------------------------------------------------

    def track(self, run: Any, task: asyncio.Task[Any]) -> None:
        key = (run.workflow.name, run.task.task_id)
        self.runs[key] = (run, task)
        task.add_done_callback(lambda t: self._ended(key, t))

    def _ended(self, key: tuple[str, int], task: asyncio.Task[Any]) -> None:
        self.runs.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("run %s#%s stopped: %s", key[0], key[1], task.exception())
