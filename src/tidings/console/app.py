"""The console app beside the API: its routes, static files, error pages and guard."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from tidings.api.auth import Tokens
from tidings.api.middleware import BodyLimit
from tidings.api.service import Service
from tidings.console.guard import Dispatch, Guard, html_variants
from tidings.console.sessions import Sessions
from tidings.console.views import STATIC, Denied, Missing, SignIn, Views

# The console's paths; everything else is the API's (docs/console.md).
PREFIXES = (
    "/static",
    "/login",
    "/logout",
    "/lang",
    "/workflows",
    "/tasks",
    "/deliveries",
    "/preview",
)


def build(api: FastAPI) -> Any:
    """One ASGI app: the console's pages and the API `api`, sharing its service (the
    configuration, the database, the worker) and its tokens."""
    from tidings.console.pages import (
        auth,
        deliveries,
        overview,
        preview,
        task_list,
        tasks,
        workflows,
    )

    service: Service = api.state.service
    sessions = Sessions(Tokens(service.config.system.api_tokens))
    views = Views(service, sessions)
    console = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    console.state.views = views
    for module in (auth, overview, workflows, task_list, tasks, deliveries, preview):
        console.include_router(module.router)
    console.mount("/static", StaticFiles(directory=STATIC), name="static")

    @console.exception_handler(SignIn)
    async def _sign_in(request: Request, _exc: SignIn) -> Response:
        return views.sign_in_first(request)

    @console.exception_handler(Denied)
    async def _denied(request: Request, exc: Denied) -> Response:
        session = views.session(request)
        if exc.scope is None:
            message = (
                "This form expired or did not come from this console: reload the page and "
                "try again."
            )
            return views.error(request, session, 403, message)
        return views.error(
            request, session, 403, "Your token may not do this: it needs scope", exc.scope
        )

    @console.exception_handler(Missing)
    async def _missing(request: Request, exc: Missing) -> Response:
        return views.error(request, views.session(request), 404, "Not found", exc.what)

    @console.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _exc: RequestValidationError) -> Response:
        # A path that does not name anything (a task id that is not a number).
        return views.error(request, views.session(request), 404, "Not found")

    @console.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = "Not found" if exc.status_code == 404 else "Refused"
        return views.error(request, views.session(request), exc.status_code, message)

    extra = html_variants(service.config.secrets())
    cache: dict[int, Any] = {}

    def redactor() -> Any:
        # The service's redactor (the configuration's secrets), plus each secret as HTML
        # writes it; made once per redactor the service has.
        current = service.redact
        if id(current) not in cache:
            cache.clear()
            cache[id(current)] = (current, current.add(extra))
        return cache[id(current)][1]

    guarded = Guard(BodyLimit(console, limit=service.config.system.api_max_body), redactor)
    return Dispatch(api, guarded, PREFIXES)
