"""Helpers shared by the sandbox tests (a uniquely named module, not conftest, so it never
collides with other test packages' conftest modules)."""

from __future__ import annotations

from typing import Any

import aiohttp

T0 = 1_700_000_000.0  # the signing test vectors' time


async def post(
    http: aiohttp.ClientSession, url: str, payload: Any = None, **kw: Any
) -> tuple[int, Any]:
    """POST JSON (or raw ``data=``) and return (HTTP status, parsed JSON answer)."""
    if payload is not None:
        kw["json"] = payload
    async with http.post(url, **kw) as resp:
        return resp.status, await resp.json(content_type=None)
