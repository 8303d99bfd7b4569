"""The delivery layer's side of channels.ports.SendIO: the I/O a channel's own steps ask for
(HTTP through the worker's shared pool, SMTP, pacing across a key, the clock, a cache that
lives as long as the worker)."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from tidings.channels.base import Destination, Limits, Response
from tidings.delivery import pacing
from tidings.delivery.clock import Clock
from tidings.delivery.transport import BoundTransport, HttpCall, HttpTransport

if TYPE_CHECKING:
    from email.message import EmailMessage

    from tidings.channels.ports import SmtpServer


class WorkerIO:
    """One per worker: a token fetched for one message serves the next ones."""

    def __init__(
        self,
        transport: HttpTransport | BoundTransport,
        clock: Clock,
        timeout: float,
        *,
        ca_file: str | None = None,
        cache: dict[Hashable, Any] | None = None,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._timeout = timeout
        self._ca_file = ca_file  # system.tls.ca_file: trusted by mail as by HTTP deliveries
        self._cache: dict[Hashable, Any] = {} if cache is None else cache

    def for_destination(self, destination: Destination) -> WorkerIO:
        """This I/O for a destination whose ctl says how it is reached (`proxy: false`,
        `tls_verify: false`): the same cache and clock, the transport bound to it."""
        if destination.proxy and destination.tls_verify:
            return self
        bound = self._transport.for_destination(destination)
        return WorkerIO(bound, self._clock, self._timeout, ca_file=self._ca_file, cache=self._cache)

    @property
    def cache(self) -> dict[Hashable, Any]:
        return self._cache

    @property
    def timeout(self) -> float:
        return self._timeout

    def now(self) -> float:
        return self._clock.now()

    async def sleep(self, seconds: float) -> None:
        await self._clock.sleep(seconds)

    async def http(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Response:
        return await self._transport.send(HttpCall(method, url, headers, body), self._timeout)

    async def smtp(
        self, message: EmailMessage, recipients: list[str], server: SmtpServer
    ) -> tuple[int, str]:
        from tidings.delivery import smtp

        return await smtp.send(message, recipients, server, self._timeout, self._ca_file)

    def pace(self, key: Hashable, limits: Limits) -> float:
        # ("pace", key): when the platform answered the sends under `key`; ("pace-reserved",
        # key): sends let go and not answered yet. Both count, so concurrent sends cannot take
        # one slot twice; an answered send counts from its answer (the platform counted it in
        # between), which keeps a slow network from squeezing more into the platform's window.
        answered: list[float] = self._cache.setdefault(("pace", key), [])
        reserved: deque[float] = self._cache.setdefault(("pace-reserved", key), deque())
        now = self._clock.now()
        wait = pacing.wait_time([*answered, *reserved], limits, now)
        if wait <= 0:
            reserved.append(now)
        return wait

    def answered(self, key: Hashable, limits: Limits) -> None:
        reserved: deque[float] = self._cache.setdefault(("pace-reserved", key), deque())
        if reserved:
            reserved.popleft()
        answered: list[float] = self._cache.setdefault(("pace", key), [])
        answered[:] = pacing.remember(answered, limits, self._clock.now())
