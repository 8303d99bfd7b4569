"""Bearer tokens from `system.api_tokens`, each allowed some scopes.

Tokens are compared by their SHA-256 in constant time, against every configured token (no
early exit), so neither the answer nor its timing tells how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tidings.api.errors import ApiError
from tidings.config.models import ApiToken

# Which scope each kind of action needs; `admin` may do everything.
READ, SEND, RUN, ADMIN = "read", "send", "run", "admin"

bearer = HTTPBearer(auto_error=False, description="A token of system.api_tokens")


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


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's token must exist and allow `scope` (or be admin)."""

    # async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request.
    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        tokens: Tokens = request.app.state.tokens
        if credentials is None or not credentials.credentials:
            raise ApiError(
                401,
                "authentication required: send `Authorization: Bearer <token>` with a token "
                "of system.api_tokens",
                headers=_CHALLENGE,
            )
        principal = tokens.identify(credentials.credentials)
        if principal is None:
            raise ApiError(401, "unknown token: it is not in system.api_tokens", headers=_CHALLENGE)
        if scope not in principal.scopes and ADMIN not in principal.scopes:
            raise ApiError(
                403,
                f"token {principal.name!r} may not do this: it needs scope {scope!r} "
                f"(it has {', '.join(sorted(principal.scopes))})",
            )
        return principal

    return check


CanRead = Annotated[Principal, Depends(require(READ))]
CanSend = Annotated[Principal, Depends(require(SEND))]
CanRun = Annotated[Principal, Depends(require(RUN))]
