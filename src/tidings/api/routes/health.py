"""Liveness, readiness (the database answers) and Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from tidings.api.auth import CanRead
from tidings.api.routes import Svc, errors
from tidings.api.schemas import ErrorOut, HealthOut

router = APIRouter(tags=["health"])
log = logging.getLogger("tidings.api")


@router.get("/healthz", response_model=HealthOut, summary="The process answers (no token)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=HealthOut,
    responses={503: {"model": ErrorOut, "description": "The database does not answer"}},
    summary="The database answers (no token)",
)
async def readyz(svc: Svc) -> Any:
    try:
        await svc.db(svc.store.ping)
    except Exception as exc:
        # Which database and why go to the server log: this answer needs no token.
        log.error("readyz: database %s does not answer: %s", svc.store.display, exc)
        return JSONResponse(
            {
                "error": f"the database does not answer ({type(exc).__name__}); the server "
                "log says which and why",
                "problems": [],
            },
            status_code=503,
        )
    return {"status": "ready"}


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **errors(401, 403),
    },
    summary="Prometheus metrics of the worker and the queue",
)
async def metrics(svc: Svc, _who: CanRead) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    data = await svc.db(generate_latest, svc.metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
