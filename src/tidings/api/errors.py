"""Every error the API answers is JSON: {"error": what and what to do, "problems": [...]}.

FastAPI's validation errors are reshaped the same way, each problem naming its field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tidings.errors import InputError, Problem
from tidings.schema import closest
from tidings.yamlsrc import format_path


class ApiError(Exception):
    """An answer other than success: its HTTP status, message and the problems by field."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: list[Problem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []
        self.headers = headers


def body(message: str, problems: Sequence[Problem] = ()) -> dict[str, Any]:
    return {
        "error": message,
        "problems": [{"path": p.path, "message": p.message} for p in problems],
    }


def error_response(
    status: int,
    message: str,
    problems: Sequence[Problem] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(body(message, problems), status_code=status, headers=headers)


def unprocessable(error: InputError) -> ApiError:
    return ApiError(422, error.message, error.problems)


def invalid_request(problems: list[Problem]) -> ApiError:
    """The 422 of a request whose parameters or body are invalid, each problem by field."""
    fields = ", ".join(dict.fromkeys(p.path for p in problems if p.path))
    return ApiError(
        422, f"invalid request: {fields or 'body'}; fix the fields listed in problems", problems
    )


def _where(error: dict[str, Any]) -> str:
    loc = tuple(error.get("loc", ()))
    if not loc:
        return ""
    kind, rest = loc[0], loc[1:]
    if kind == "body":
        # ("body", 12) of a JSON syntax error is a character position, not a field.
        if not rest or error.get("type") == "json_invalid":
            return "body"
        return format_path(rest)
    return f"{kind}.{format_path(rest)}" if rest else str(kind)


def _body_fields(request: Request) -> tuple[str, ...]:
    """The fields of the body model of the route that answered (for "did you mean")."""
    import typing

    from pydantic import BaseModel

    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    try:
        hints = typing.get_type_hints(endpoint) if endpoint is not None else {}
    except Exception:  # an annotation that cannot be resolved: no suggestion, still an answer
        return ()
    for name, kind in hints.items():
        for candidate in (kind, *typing.get_args(kind)):  # CancelIn | None too
            is_model = isinstance(candidate, type) and issubclass(candidate, BaseModel)
            if name != "return" and is_model:
                return tuple(candidate.model_fields)
    return ()


def _message(error: dict[str, Any], fields: tuple[str, ...] = ()) -> str:
    if error.get("type") == "json_invalid":
        where = error.get("loc", ())[-1]
        return f"not valid JSON (UTF-8): {error.get('ctx', {}).get('error', '')} (char {where})"
    if error.get("type") == "missing":
        return "field required"
    if error.get("type") == "extra_forbidden":
        loc = tuple(error.get("loc", ()))
        close = closest(str(loc[-1]), fields) if len(loc) == 2 and loc[0] == "body" else None
        hint = f"did you mean {close}? " if close else ""
        return f"unknown field; {hint}/openapi.json lists the fields this endpoint takes"
    msg = str(error.get("msg", "invalid value"))
    return msg[0].lower() + msg[1:] if msg else msg


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the JSON error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.problems, exc.headers)

    @app.exception_handler(InputError)
    async def _input_error(_request: Request, exc: InputError) -> JSONResponse:
        return error_response(422, exc.message, exc.problems)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        extra = any(e.get("type") == "extra_forbidden" for e in errors)
        fields = _body_fields(request) if extra else ()
        invalid = invalid_request([Problem(_where(e), _message(e, fields)) for e in errors])
        return error_response(invalid.status, invalid.message, invalid.problems)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # Bytes that are not JSON text at all: an invalid body like any other.
            return error_response(
                422,
                "invalid request: body; send JSON (UTF-8) with Content-Type: application/json",
                [Problem("body", "not valid JSON")],
            )
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger("tidings.api").error("internal error: %s", type(exc).__name__)
        return error_response(
            500, f"internal error ({type(exc).__name__}); the server log has details: report it"
        )
