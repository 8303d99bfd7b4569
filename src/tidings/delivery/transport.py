"""Turning a stored Request into the bytes on the wire (signing, tokens), and sending them.

Requests are kept unsigned and without secrets; this is the one place where the destination's
address, secret and token meet the request, just before it leaves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from tidings import __version__
from tidings.channels.base import Destination, Request, Response, encode_json
from tidings.channels.ports import TransportFailure
from tidings.delivery.signing import dingtalk_sign, feishu_sign

USER_AGENT = f"tidings/{__version__}"


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


class TransportError(TransportFailure):
    """The request did not get an HTTP answer (connection refused or reset, timeout, DNS)."""


class HttpTransport:
    """One pool of kept-alive connections shared by all sends (connection reuse is most of
    the speed). HTTP/1.1 over `tidings.delivery.http1`."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._client = None

    async def __aenter__(self) -> HttpTransport:
        from tidings.delivery.http1 import HttpClient

        self._client = HttpClient(user_agent=USER_AGENT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def send(self, call: HttpCall, timeout: float | None = None) -> Response:
        from tidings.delivery.http1 import HttpError

        assert self._client is not None, "use HttpTransport as an async context manager"
        limit = min(timeout or self._timeout, self._timeout)
        try:
            answer = await self._client.request(
                call.method, call.url, call.headers, call.body, limit
            )
        except HttpError as exc:
            raise TransportError(str(exc)) from None
        return Response(answer.status, answer.headers, answer.body)


def describe_call(call: HttpCall) -> dict:
    """The call as JSON-able data for previews (redact before showing)."""
    try:
        body = json.loads(call.body)
    except ValueError:
        body = call.body.decode("utf-8", "replace")
    return {"method": call.method, "url": call.url, "headers": call.headers, "body": body}
