"""`tidings worker`: deliver what the outbox holds, until stopped (SIGTERM / Ctrl-C)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time

from tidings.commands.common import load_config, open_store
from tidings.commands.output import Output


def _log_line(final, fmt: str) -> str:
    fields = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "event": "delivery",
        "id": final.id,
        "status": final.status,
        "channel": final.channel,
        "destination": final.destination,
        "source": final.source,
        "address": final.address,
        "label": final.label,
        "attempts": final.attempts,
        "code": final.code,
        "detail": final.detail,
    }
    if fmt == "json":
        return json.dumps(fields, ensure_ascii=False)
    return " ".join(
        f"{k}={json.dumps(v, ensure_ascii=False) if isinstance(v, str) and ' ' in v else v}"
        for k, v in fields.items()
        if v is not None and v != ""
    )


def run(
    config_path: str | None,
    concurrency: int | None,
    metrics_port: int | None,
    once: bool,
    log_format: str,
) -> int:
    from tidings.delivery.metrics import Metrics
    from tidings.delivery.resolve import Resolver
    from tidings.delivery.worker import Worker
    from tidings.sending.record import limits_of, settings_of

    out = Output()
    config = load_config(config_path, out)
    store = open_store(config)
    settings = settings_of(config)
    if concurrency:
        settings.concurrency = concurrency
    metrics = Metrics(store)
    if metrics_port is not None:
        metrics.serve(metrics_port)

    def log(final) -> None:
        out.err(_log_line(final, log_format))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        from sqlalchemy.exc import DBAPIError

        from tidings.store.db import DatabaseError

        pause = 1.0
        while not stop.is_set():
            worker = Worker(
                store,
                Resolver(config),
                settings=settings,
                limits=limits_of(config),
                redactor=out.redact,
                on_final=log,
                metrics=metrics,
            )
            try:
                async with worker:
                    out.err(
                        f"tidings worker {worker.name} on {store.display}"
                        + (f", metrics on :{metrics_port}/metrics" if metrics_port else "")
                    )
                    if once:
                        while await worker.step():
                            pass
                        break
                    await worker.run(stop)
            except (DBAPIError, DatabaseError) as exc:
                # The database went away (restart, failover): nothing is lost — what was
                # not recorded is still pending — so wait and start again.
                out.err(f"database error: {exc.orig}; starting again in {pause:g} s", fg="red")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
                pause = min(pause * 2, 30.0)
        out.err("tidings worker stopped")

    asyncio.run(main())
    store.close()
    sys.stderr.flush()
    return 0
