"""The application factory: routes, auth, error shape, body limit and redaction."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from tidings import __version__
from tidings.api import errors
from tidings.api.auth import Tokens
from tidings.api.middleware import BodyLimit, Redact
from tidings.api.service import Service
from tidings.config.models import Config
from tidings.store.db import Store

DESCRIPTION = """\
Task events from any CI system (Zadig's webhook payload), GitHub's and GitLab's own webhooks,
ad-hoc notifications, workflow runs and delivery history. Every endpoint but /healthz, /readyz
and the two hooks (signed by GitHub and GitLab instead) takes `Authorization: Bearer <token>`
with a token of `system.api_tokens`. Errors are JSON: `{"error", "problems"}`.
"""


def create_app(
    config: Config, store: Store, *, worker: bool = True, home: Path | None = None
) -> FastAPI:
    """The API over this configuration and database; the worker runs in the app's event loop
    (started and stopped with it) unless `worker` is False."""
    from tidings.api.routes import deliveries, events, health, hooks, tasks, workflows

    service = Service(config, store, worker=worker, home=home)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="tidings",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN: a page of the API
        # that runs third-party code. Not served; /openapi.json is (docs/api.md).
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.state.tokens = Tokens(config.system.api_tokens)
    errors.install(app)
    for module in (events, hooks, deliveries, workflows, tasks, health):
        app.include_router(module.router)
    # Innermost first: redaction sees every answer; the limit refuses before any parsing.
    app.add_middleware(BodyLimit, limit=config.system.api_max_body)
    app.add_middleware(Redact, redactor=lambda: service.redact)
    return app
