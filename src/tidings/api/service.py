"""What the routes share: the configuration, the store, the delivery worker running in the
server's event loop, and the workflow runs this server started."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tidings.config.models import Config, WorkflowConfig
from tidings.delivery.background import BackgroundWorker
from tidings.delivery.metrics import Metrics
from tidings.delivery.resolve import Resolver
from tidings.delivery.worker import Final
from tidings.model import Task
from tidings.net import HostPolicy
from tidings.redact import Redactor
from tidings.runner.engine import Result, Run, RunOptions
from tidings.store.db import Store

T = TypeVar("T")
log = logging.getLogger("tidings.api")
# Ad-hoc destinations held before those without pending deliveries are dropped (then twice
# as many as are left): memory bounded by the work queued, at one query per doubling.
PRUNE_AT = 256


class Service:
    """Owns the process's one delivery worker (shared by every run it starts and by ad-hoc
    /notify messages) and the runs started over the API."""

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
        from tidings.redact import json_variants

        # The configuration's secrets only: fixed for the process's life. An ad-hoc /notify
        # destination's secrets mask its own answer and its delivery's details, nothing else.
        self.redact = redactor or Redactor(json_variants(config.secrets()))
        self.metrics = Metrics(store, config.system.delivery.lease)
        from prometheus_client import Counter

        # POST /hooks/github and /hooks/gitlab, by what each did (api/routes/hooks.py).
        self.hook_events = Counter(
            "tidings_source_events_total",
            "Webhooks of GitHub and GitLab, by source and outcome (notified, duplicate, "
            "recorded, stale, unchanged, ignored, unrouted, pong, unauthorized, invalid).",
            ["source", "outcome"],
            registry=self.metrics.registry,
        )
        self.deliveries = (
            BackgroundWorker(store, config, redactor=self.redact, metrics=self.metrics)
            if worker
            else None
        )
        # Ad-hoc /notify destinations are added to the worker's resolver (their secrets are
        # never stored, so only this process can send them).
        self.resolver = self.deliveries.resolver if self.deliveries else Resolver(config)
        from tidings.api.recorder import Recorder

        # Events posted at about the same time share one transaction (group commit).
        self.recorder = Recorder(
            store,
            self.db,
            expires_in=config.system.delivery.max_age,
            committed=self.wake,
            redact=lambda text: self.redact(text),
        )
        self.runs: dict[tuple[str, int], tuple[Run, asyncio.Task[Result]]] = {}
        self._prune_at = PRUNE_AT
        self.adhoc_hosts = adhoc_policy(config, self.resolver)

    async def forget_sent(self) -> None:
        """Drop the ad-hoc destinations none of whose deliveries are pending any more: they
        are held in memory (their secrets are never stored) only while they have work."""
        extra = self.resolver.extra
        if len(extra) < self._prune_at:
            return
        from tidings.store.queue import pending_addresses

        waiting = await self.db(pending_addresses, self.store, sorted(extra))
        self.resolver.forget(set(extra) - waiting)
        self._prune_at = max(PRUNE_AT, 2 * len(self.resolver.extra))

    # --- database calls ---------------------------------------------------------------

    async def db(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """SQLite statements take microseconds: run them on the loop (one writer, as the
        worker does). A network database gets a thread so the loop keeps serving."""
        if self.store.dialect == "sqlite":
            return func(*args, **kwargs)
        return await asyncio.to_thread(func, *args, **kwargs)

    # --- the worker (runner.notifier.Deliveries) ---------------------------------------

    async def start(self) -> None:
        if self.deliveries is not None:
            await self.deliveries.__aenter__()

    def wake(self) -> None:
        """New deliveries were recorded: claim them now, not after the poll wait."""
        if self.deliveries is not None:
            self.deliveries.wake()

    def subscribe(self, listener: Callable[[Final], None]) -> Callable[[], None]:
        """Hear of every delivery this process's worker finishes (none without a worker)."""
        if self.deliveries is None:
            return lambda: None
        return self.deliveries.subscribe(listener)

    async def stop(self, grace: float = 10.0) -> None:
        """Cancel the runs this server started, then let the worker finish what is in flight."""
        await self.recorder.close()
        for run, task in list(self.runs.values()):
            if not task.done():
                run.abort("cancelled", "the tidings server stopped")
        pending = [task for _, task in self.runs.values() if not task.done()]
        if pending:
            _done, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self.deliveries is not None:
            await self.deliveries.stop()

    # --- runs -------------------------------------------------------------------------

    def start_run(self, workflow: WorkflowConfig, options: RunOptions) -> Task:
        """Start a task of the workflow in the background, delivered by this process's
        worker; the task as it starts (created, its id allocated)."""
        run = Run(self.config, workflow, self.store, self, options)
        task = run.start()
        execution = asyncio.create_task(run.execute())
        key = (workflow.name, task.task_id)
        self.runs[key] = (run, execution)
        execution.add_done_callback(lambda done: self._ended(key, done))
        return task

    def _ended(self, key: tuple[str, int], task: asyncio.Task[Result]) -> None:
        self.runs.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("run %s#%s stopped: %s", key[0], key[1], task.exception())


def adhoc_policy(config: Config, resolver: Resolver) -> HostPolicy:
    """Where /notify may send: the platforms' hosts, the hosts of the configured
    destinations, and system.api.notify_allowed_hosts."""
    from urllib.parse import urlsplit

    configured = set()
    for destination in resolver.known.values():
        try:
            host = urlsplit(destination.url).hostname
        except ValueError:
            continue
        if host and destination.url.startswith(("http://", "https://")):
            configured.add(host)
    return HostPolicy.build(config.system.api.notify_allowed_hosts, configured)
