"""Turning a stored Request into the bytes on the wire (signing, tokens), and sending them.

Requests are kept unsigned and without secrets; this is the one place where the destination's
address, secret and token meet the request, just before it leaves.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import quote

from tidings.channels.base import Destination, Request, Response, encode_json
from tidings.delivery.signing import dingtalk_sign, feishu_sign


@dataclass(frozen=True)
class HttpCall:
    method: str
    url: str  # already percent-encoded: sent exactly as is
    headers: dict[str, str]
    body: bytes


def prepare(request: Request, destination: Destination, delivery_id: str, now: float) -> HttpCall:
    """The exact HTTP call for this request at time `now` (epoch seconds)."""
    url = destination.url
    headers = dict(request.headers)
    body = request.body
    if request.sign == "dingtalk" and destination.secret:
        ts = int(now * 1000)
        # URL-encoded exactly once; the URL is sent as is (encoded=True), never re-encoded.
        sign = quote(dingtalk_sign(destination.secret, ts), safe="")
        url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={sign}"
    elif request.sign == "feishu" and destination.secret:
        ts = int(now)
        body = {"timestamp": str(ts), "sign": feishu_sign(destination.secret, ts), **body}
    if destination.token:
        headers["X-Zadig-Token"] = destination.token
    if request.event_id_header:
        headers[request.event_id_header] = delivery_id
    return HttpCall(request.method, url, headers, encode_json(body))


class TransportError(Exception):
    """The request did not get an HTTP answer (connection refused or reset, timeout, DNS)."""


class HttpTransport:
    """One aiohttp session shared by all sends (connection reuse is most of the speed)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._session = None
        self._timeouts: dict[float | None, object] = {}
        self._urls: dict[str, object] = {}

    def _url(self, url: str) -> object:
        """The parsed URL, sent exactly as given (encoded=True); parsed once per address."""
        from yarl import URL

        parsed = self._urls.get(url)
        if parsed is None:
            parsed = URL(url, encoded=True)
            if len(self._urls) < 10000 and "sign=" not in url:  # signed URLs change every time
                self._urls[url] = parsed
        return parsed

    async def __aenter__(self) -> HttpTransport:
        import aiohttp

        # No per-host cap: one platform host serves many robots, each its own destination.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, limit_per_host=0),
            auto_decompress=True,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, call: HttpCall, timeout: float | None = None) -> Response:
        import aiohttp

        assert self._session is not None, "use HttpTransport as an async context manager"
        limit = self._timeouts.get(timeout)
        if limit is None:
            limit = aiohttp.ClientTimeout(total=min(timeout or self._timeout, self._timeout))
            self._timeouts[timeout] = limit
        try:
            async with self._session.request(
                call.method,
                self._url(call.url),
                data=call.body,
                headers=call.headers,
                timeout=limit,
                allow_redirects=False,
            ) as answer:
                body = await answer.read()
                return Response(answer.status, dict(answer.headers), body)
        except TimeoutError:
            raise TransportError(f"no answer within {limit.total:g} s") from None
        except aiohttp.InvalidURL:
            raise TransportError("invalid URL") from None
        except aiohttp.ClientError as exc:
            raise TransportError(_describe(exc)) from None
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise TransportError(type(exc).__name__) from None


def _describe(exc: Exception) -> str:
    """A short reason without the URL (which may hold a token)."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or 'refused'})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection without an answer"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "answer cut off"
    return type(exc).__name__


def describe_call(call: HttpCall) -> dict:
    """The call as JSON-able data for previews (redact before showing)."""
    try:
        body = json.loads(call.body)
    except ValueError:
        body = call.body.decode("utf-8", "replace")
    return {"method": call.method, "url": call.url, "headers": call.headers, "body": body}
