"""One router per area of API v1."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from tidings.api.schemas import ErrorOut
from tidings.api.service import Service


async def service(request: Request) -> Service:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request.
    return request.app.state.service


Svc = Annotated[Service, Depends(service)]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers of a route (all share one JSON shape)."""
    text = {
        400: "Bad request; `problems` names each field",
        401: "No or unknown token",
        403: "The token's scopes do not allow this",
        404: "Not found",
        409: "Conflicts with the current state",
        413: "Request body too large",
        422: "Invalid input; `problems` names each field",
        503: "The database did not record it (nothing was): post it again",
    }
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}
