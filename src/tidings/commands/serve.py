"""`tidings serve`: the HTTP API (docs/api.md) with the delivery worker in the same loop."""

from __future__ import annotations

import signal

from tidings.commands.common import load_config, open_store
from tidings.commands.output import Output


def run(
    config_path: str | None,
    host: str,
    port: int,
    no_worker: bool,
    log_level: str,
    log_format: str = "text",
) -> int:
    import logging

    import uvicorn

    from tidings.api.app import create_app
    from tidings.commands.logfmt import configure, delivery_fields

    out = Output()
    config = load_config(config_path, out)
    store = open_store(config)
    # Our lines and uvicorn's (start-up, one per request) in one format, secrets masked.
    configure(log_format, log_level, out.redact)
    log = logging.getLogger("tidings.serve")
    if not config.system.api_tokens:
        log.warning(
            "no system.api_tokens: every /api/v1 request will be refused (401); "
            "add one (docs/api.md)"
        )
    from tidings.console import with_console

    api = create_app(config, store, worker=not no_worker)
    api.state.service.subscribe(
        lambda final: log.info("delivery", extra={"fields": delivery_fields(final)})
    )
    # The console's pages beside the API (docs/console.md).
    app = with_console(api)
    worker = "without a worker (--no-worker)" if no_worker else "with a delivery worker"
    log.info(f"tidings serve on http://{host}:{port} {worker}, database {store.display}")
    # uvicorn stops gracefully on SIGTERM / Ctrl-C: requests in flight finish, then the
    # lifespan ends the runs it started and lets the worker record what it sent. It then
    # raises the signal again for the handler it found: ours notes it, so a requested stop
    # exits 0 instead of dying by the signal.
    stopped_by: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda number, _frame: stopped_by.append(number))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        # asyncio's own loop, not uvloop: the worker's connections need its Happy Eyeballs
        # (RFC 8305), which uvloop's create_connection lacks.
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            log_config=None,  # configured above
            server_header=False,
            loop="asyncio",
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        store.close()
    log.info("tidings serve stopped")
    return 0
