"""Bearer tokens from `system.api_tokens`, each allowed some scopes.

`authenticate` is the one check of every route: each declares it as a dependency
(`CanRead`, `CanSend`, `CanRun`). Tokens are compared by their SHA-256 in constant time,
against every configured token (no early exit), so neither the answer nor its timing tells
how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import HTTPConnection, Request

from tidings.api.errors import ApiError
from tidings.config.models import ApiToken

# Which scope each kind of action needs; `admin` may do everything.
READ, SEND, RUN, ADMIN = "read", "send", "run", "admin"


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[str]


class Tokens:
    def __init__(self, tokens: list[ApiToken]) -> None:
        self._tokens = [(t.digest().encode("ascii"), t) for t in tokens]

    def identify(self, presented: str) -> Principal | None:
        digest = hashlib.sha256(presented.encode("utf-8")).hexdigest().encode("ascii")
        found: ApiToken | None = None
        for expected, token in self._tokens:
            if hmac.compare_digest(digest, expected) and found is None:
                found = token
        return None if found is None else Principal(found.name, frozenset(found.scopes))


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tidings"'}


def authenticate(connection: HTTPConnection, scope: str) -> Principal:
    """The caller's token must be in system.api_tokens and allow `scope` (or be admin): 401
    without one or with an unknown one, 403 when its scopes do not allow it."""
    tokens: Tokens = connection.app.state.tokens
    sent = connection.headers.getlist("authorization")
    if len(sent) > 1:
        # Which one counts would be a guess, and a proxy in front may guess otherwise.
        raise ApiError(
            401, f"{len(sent)} Authorization headers: send exactly one", headers=_CHALLENGE
        )
    scheme, credentials = get_authorization_scheme_param(sent[0] if sent else None)
    if scheme.lower() != "bearer" or not credentials:
        raise ApiError(
            401,
            "authentication required: send `Authorization: Bearer <token>` with a token "
            "of system.api_tokens",
            headers=_CHALLENGE,
        )
    principal = tokens.identify(credentials)
    if principal is None:
        raise ApiError(401, "unknown token: it is not in system.api_tokens", headers=_CHALLENGE)
    if scope not in principal.scopes and ADMIN not in principal.scopes:
        raise ApiError(
            403,
            f"token {principal.name!r} may not do this: it needs scope {scope!r} "
            f"(it has {', '.join(sorted(principal.scopes))})",
        )
    return principal


class Require(SecurityBase):
    """A dependency: `authenticate` for one scope. Being a SecurityBase with the bearer model
    puts the scheme in the OpenAPI document of each route that declares it, without a second
    reader of the header (FastAPI's HTTPBearer)."""

    def __init__(self, scope: str) -> None:
        self.model = HTTPBearerModel(description="A token of system.api_tokens")
        self.scheme_name = "HTTPBearer"
        self.scope = scope

    async def __call__(self, request: Request) -> Principal:
        # async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request.
        return authenticate(request, self.scope)


def require(scope: str) -> Require:
    """The dependency of routes that need `scope`."""
    return Require(scope)


CanRead = Annotated[Principal, Depends(require(READ))]
CanSend = Annotated[Principal, Depends(require(SEND))]
CanRun = Annotated[Principal, Depends(require(RUN))]
