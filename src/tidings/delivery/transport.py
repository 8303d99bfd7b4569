"""Turning a stored Request into the bytes on the wire (signing, tokens), and sending them.

Requests are kept unsigned and without secrets; this is the one place where the destination's
address, secret and token meet the request, just before it leaves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tidings import __version__
from tidings.channels.base import Destination, Fail, Outcome, Request, Response, Retry, encode_json
from tidings.channels.ports import TransportFailure
from tidings.delivery.signing import dingtalk_sign, feishu_sign, standard_webhooks

if TYPE_CHECKING:
    from tidings.delivery.http import HttpClient
    from tidings.delivery.network import Network
    from tidings.net import HostPolicy

USER_AGENT = f"tidings/{__version__}"


@dataclass(frozen=True)
class HttpCall:
    method: str
    url: str  # already percent-encoded: sent exactly as is
    headers: dict[str, str]
    body: bytes
    proxy: bool = True  # False: straight to the host, whatever proxy is configured
    tls_verify: bool = True  # False: any certificate is accepted (a ctl's `tls_verify: false`)
    guard: HostPolicy | None = None  # an ad-hoc destination's: where it may connect


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
    data = encode_json(body)
    if request.sign == "standard-webhooks" and destination.secret:
        # webhook-id is the delivery id: the same for every retry, as the specification asks.
        headers.update(standard_webhooks(destination.secret, delivery_id, int(now), data))
    return HttpCall(
        request.method,
        url,
        headers,
        data,
        proxy=destination.proxy,
        tls_verify=destination.tls_verify,
        guard=destination.guard,
    )


class TransportError(TransportFailure):
    """The request got no usable HTTP answer (connection refused or reset, timeout, DNS, an
    answer over a limit or malformed). `permanent`: sending again cannot help (an untrusted
    certificate, a request the transport refuses): the delivery fails at once."""

    def outcome(self) -> Outcome:
        """What the attempt counts as: retried (same delivery id), or failed at once."""
        if self.permanent:
            return Fail(str(self))
        return Retry(f"network error: {self}")


class HttpTransport:
    """One pool of kept-alive connections shared by all sends (connection reuse is most of
    the speed), over `tidings.delivery.http`. `network`: the proxy and CAs of the
    configuration (tidings.delivery.network); by default the environment's proxy."""

    def __init__(self, timeout: float = 10.0, network: Network | None = None) -> None:
        self._timeout = timeout
        self._network = network
        self._client: HttpClient | None = None

    async def __aenter__(self) -> HttpTransport:
        from tidings.delivery.http import HttpClient

        network = self._network
        if network is None:
            self._client = HttpClient(user_agent=USER_AGENT)
        else:
            self._client = HttpClient(
                user_agent=USER_AGENT, proxies=network.proxies, ca_file=network.ca_file
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def send(self, call: HttpCall, timeout: float | None = None) -> Response:
        from tidings.delivery.http import HttpError

        assert self._client is not None, "use HttpTransport as an async context manager"
        limit = min(timeout or self._timeout, self._timeout)
        try:
            answer = await self._client.request(
                call.method,
                call.url,
                call.headers,
                call.body,
                limit,
                proxy=call.proxy,
                verify=call.tls_verify,
                guard=call.guard,
            )
        except HttpError as exc:
            message = str(exc)
            if exc.sent and not exc.permanent:
                message += " (outcome unknown: the receiver may have the request)"
            raise TransportError(message, permanent=exc.permanent) from None
        return Response(answer.status, answer.headers, answer.body)

    def for_destination(self, destination: Destination) -> HttpTransport | BoundTransport:
        """This transport as a channel's own deliver() uses it for `destination`: its calls
        go with the destination's network settings (`proxy`, `tls_verify` of its ctl)."""
        if destination.proxy and destination.tls_verify:
            return self
        return BoundTransport(self, destination.proxy, destination.tls_verify)


@dataclass(frozen=True)
class BoundTransport:
    """A transport whose calls all go one way (a ctl's `proxy: false` / `tls_verify: false`)."""

    transport: HttpTransport
    proxy: bool
    tls_verify: bool

    def for_destination(self, destination: Destination) -> HttpTransport | BoundTransport:
        return self.transport.for_destination(destination)

    async def send(self, call: HttpCall, timeout: float | None = None) -> Response:
        bound = replace(call, proxy=self.proxy, tls_verify=self.tls_verify)
        return await self.transport.send(bound, timeout)


def describe_call(call: HttpCall) -> dict[str, Any]:
    """The call as JSON-able data for previews (redact before showing)."""
    try:
        body = json.loads(call.body)
    except ValueError:
        body = call.body.decode("utf-8", "replace")
    return {"method": call.method, "url": call.url, "headers": call.headers, "body": body}
