"""`tidings worker`: deliver what the outbox holds, until stopped (SIGTERM / Ctrl-C)."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from tidings.commands.common import load_config, open_store
from tidings.commands.logfmt import configure, delivery_line
from tidings.commands.output import Output

if TYPE_CHECKING:
    from tidings.delivery.worker import Final


def run(
    config_path: str | None,
    concurrency: int | None,
    metrics_port: int | None,
    once: bool,
    log_format: str,
) -> int:
    from tidings.delivery.background import BackgroundWorker
    from tidings.delivery.metrics import Metrics
    from tidings.delivery.resolve import Resolver
    from tidings.delivery.settings import limits_of, settings_of
    from tidings.delivery.worker import Worker

    out = Output()
    config = load_config(config_path, out)
    configure(log_format, "info", out.redact)  # the breaker's pause and resume lines
    store = open_store(config)
    settings = settings_of(config)
    if concurrency:
        settings.concurrency = concurrency
    metrics = Metrics(store, settings.lease)
    if metrics_port is not None:
        metrics.serve(metrics_port)

    def log(final: Final) -> None:
        out.err(delivery_line(final, log_format))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        where = f" on {store.display}" + (
            f", metrics on :{metrics_port}/metrics" if metrics_port else ""
        )
        if once:
            worker = Worker(
                store,
                Resolver(config),
                settings=settings,
                limits=limits_of(config),
                redactor=out.redact,
                on_final=log,
                metrics=metrics,
            )
            async with worker:
                out.err(f"tidings worker {worker.name}{where}")
                while await worker.step() and not stop.is_set():
                    pass
        else:
            background = BackgroundWorker(
                store,
                config,
                redactor=out.redact,
                metrics=metrics,
                settings=settings,
                on_error=lambda text: out.err(text, fg="red"),
            )
            background.subscribe(log)
            async with background:
                out.err(f"tidings worker {background.name}{where}")
                await stop.wait()
        out.err("tidings worker stopped")

    asyncio.run(main())
    store.close()
    sys.stderr.flush()
    return 0
