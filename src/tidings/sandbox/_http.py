"""Request reading and JSON answers shared by the platform handlers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Incoming:
    """A request read once, so handlers can both verify and record it."""

    method: str
    headers: dict[str, str]
    query: dict[str, str]
    raw: bytes
    body: Any  # parsed JSON if the bytes are JSON, else the text
    json_ok: bool


async def read_incoming(request: web.Request) -> Incoming:
    raw = await request.read()
    body, ok = parse_body(raw)
    return Incoming(
        method=request.method,
        headers=dict(request.headers),
        query=dict(request.query),  # decoded exactly once, like the real platforms
        raw=raw,
        body=body,
        json_ok=ok,
    )


def record(log: Any, inc: Incoming, **fields: Any) -> Any:
    """Add a row for this request to the message log: its method, headers, query and body
    (unless `fields` gives the body as the platform understood it) with `fields`."""
    fields.setdefault("body", inc.body)
    return log.add(method=inc.method, headers=inc.headers, query=inc.query, **fields)


def parse_body(raw: bytes) -> tuple[Any, bool]:
    """(parsed JSON, True) or (text, False)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), False
    try:
        return json.loads(text), True
    except ValueError:
        return text, False


def answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON answer with UTF-8 left readable (the platforms answer Chinese messages verbatim)."""
    return web.Response(
        status=status,
        text=json.dumps(payload, ensure_ascii=False),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def strings_in(value: Any, skip: Callable[[str], bool] = lambda key: False) -> list[str]:
    """Every string value (not key) inside a JSON value, depth-first in document order,
    leaving out values whose key ``skip`` rejects."""
    out: list[str] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            stack.extend(reversed([x for k, x in v.items() if not skip(str(k))]))
        elif isinstance(v, list):
            stack.extend(reversed(v))
    return out


def dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
