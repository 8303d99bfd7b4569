"""The HTTP/1.1 client of deliveries: kept-alive connections per host, one deadline for the
whole exchange, TLS, proxies, Happy Eyeballs.

Why not aiohttp's client: on loopback it spends several times the CPU per POST (request and
response objects, multidicts, hooks) that this one does (bench/README.md), and deliveries
need none of its other features (cookies, redirects, streaming). Answers are parsed by
llhttp (connection.py); requests are a request line and validated header lines.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tidings.delivery.http.connection import MAX_BODY, Answer, Connection, TimedOut
from tidings.delivery.http.decoding import ACCEPT_ENCODING, decode_off_loop
from tidings.delivery.http.errors import HttpError, NotSent
from tidings.delivery.http.tls import TlsContexts, connect_errors
from tidings.delivery.http.urls import Target, parse_target
from tidings.net import is_ip

if TYPE_CHECKING:
    from tidings.delivery.proxies import Proxies, Proxy
    from tidings.net import HostPolicy

# What a caller may not set: the transport frames the message and owns the connection.
SET_BY_TRANSPORT = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "accept-encoding",
    }
)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110 token)
_NOT_IN_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # line breaks, NUL, other controls
HAPPY_EYEBALLS = {"happy_eyeballs_delay": 0.25, "interleave": 1}  # RFC 8305

# scheme, host, port, proxy, verification, and the guard of ad-hoc destinations (a connection
# checked for one is never lent to another kind of call, nor the other way round).
PoolKey = tuple[str, str, int, "Proxy | None", bool, "HostPolicy | None"]


class HttpClient:
    """Pools of kept-alive connections per (scheme, host, port, proxy, verification); one
    request per connection at a time. Use as an async context manager, or call `close()`.

    `proxies`: which proxy each target goes through (tidings.delivery.proxies); by default
    the environment's (`environ`, default os.environ, read once). `ca_file`: CAs trusted
    besides the system's."""

    def __init__(
        self,
        *,
        user_agent: str = "tidings",
        max_idle_per_host: int = 128,
        proxies: Proxies | None = None,
        environ: Mapping[str, str] | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.max_idle_per_host = max_idle_per_host
        self._idle: dict[PoolKey, list[Connection]] = {}
        self._busy: set[Connection] = set()
        self._tls = TlsContexts(ca_file)
        if proxies is None:
            environ = os.environ if environ is None else environ
            if any(name.lower().endswith("_proxy") for name in environ):
                from tidings.delivery.proxies import Proxies

                proxies = Proxies.from_environment(environ)
        self._proxies = proxies or None

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        for connection in self._busy:
            connection.close()
        self._idle.clear()
        self._busy.clear()

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
        *,
        proxy: bool = True,
        verify: bool = True,
        guard: HostPolicy | None = None,
    ) -> Answer:
        """One request and its whole answer (decoded) within `timeout` seconds, connecting
        included. `proxy=False` connects directly; `verify=False` accepts any certificate;
        `guard`: each new connection goes only to addresses it allows (checked after DNS)."""
        target = parse_target(url)
        via = (
            self._proxies.for_target(target.scheme, target.host, target.port)
            if (proxy and self._proxies is not None)
            else None
        )
        data = self._encode(method, target, headers, body, via)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        key: PoolKey = (target.scheme, target.host, target.port, via, verify, guard)
        try:
            answer = await self._exchange(key, target, via, data, deadline)
            if answer.coding is not None:
                try:
                    answer.body = await decode_off_loop(answer.body, answer.coding, MAX_BODY)
                except HttpError as exc:
                    exc.sent = True
                    raise
                answer.coding = None
        except TimedOut as exc:
            what = "answer not complete" if exc.started else "no answer"
            raise HttpError(f"{what} within {timeout:g} s", sent=True) from None
        except TimeoutError:
            where = via.shown if via is not None else target.authority
            raise HttpError(f"cannot connect to {where} within {timeout:g} s") from None
        return answer

    # --- the request on the wire ---------------------------------------------------------

    def _encode(
        self,
        method: str,
        target: Target,
        headers: Mapping[str, str],
        body: bytes,
        proxy: Proxy | None,
    ) -> bytes:
        if method not in METHODS:
            raise HttpError(f"method {method!r} is not one tidings sends", permanent=True)
        given = {name.lower() for name in headers}
        if headers:
            _check_headers(headers, given)
        fields = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        if "user-agent" not in given:
            fields += f"User-Agent: {self.user_agent}\r\n"
        if target.authorization and "authorization" not in given:
            fields += f"Authorization: {target.authorization}\r\n"
        if body or method in ("POST", "PUT", "PATCH"):
            fields += f"Content-Length: {len(body)}\r\n"
        path = target.path
        if proxy is not None and target.scheme == "http":  # to the proxy, not tunnelled
            path = f"http://{target.host_header}{path}"
            if proxy.authorization:
                fields += f"Proxy-Authorization: {proxy.authorization}\r\n"
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {target.host_header}\r\n{fields}"
            f"Accept-Encoding: {ACCEPT_ENCODING}\r\n\r\n"
        )
        return head.encode() + body

    # --- connections ---------------------------------------------------------------------------

    async def _exchange(
        self,
        key: PoolKey,
        target: Target,
        via: Proxy | None,
        data: bytes,
        deadline: float,
    ) -> Answer:
        while True:
            connection = self._reuse(key)
            fresh = connection is None
            if connection is None:
                connection = await self._open(target, via, key[4], deadline, key[5])
            self._busy.add(connection)
            answered = False
            try:
                answer = await connection.exchange(data, deadline)
                answered = True
            except NotSent:
                # Closed before any byte of the request was written: a new connection
                # cannot cause a duplicate. After a byte is written it never goes again
                # here: the outcome is unknown, and the delivery's retry (same id) decides.
                if fresh:
                    raise HttpError(
                        "the new connection closed before the request was sent"
                    ) from None
                continue
            except HttpError as exc:
                exc.sent = True
                raise
            finally:
                self._busy.discard(connection)
                if not answered:
                    connection.close()
            self._release(key, connection)
            return answer

    def _reuse(self, key: PoolKey) -> Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            if now - connection.idle_since < connection.idle_limit and connection.alive():
                return connection
            connection.close()
        return None

    def _release(self, key: PoolKey, connection: Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if not connection.reusable or len(idle) >= self.max_idle_per_host:
            connection.close()
            return
        connection.idle()
        idle.append(connection)

    async def _open(
        self,
        target: Target,
        via: Proxy | None,
        verify: bool,
        deadline: float,
        guard: HostPolicy | None = None,
    ) -> Connection:
        remaining = deadline - asyncio.get_running_loop().time()
        if guard is not None:
            connect = self._guarded(target, via, verify, deadline, guard)
        elif via is None:
            connect = self._connect(target, verify)
        else:
            connect = self._through(via, target, verify, deadline)
        return await asyncio.wait_for(connect, max(remaining, 0.0))

    async def _connect(self, target: Target, verify: bool) -> Connection:
        tls = self._tls.get(verify) if target.scheme == "https" else None
        with connect_errors(target.host, target.port):
            _, connection = await _create_connection(
                target.host, target.port, tls, target.host if tls else None
            )
        return connection

    async def _guarded(
        self, target: Target, via: Proxy | None, verify: bool, deadline: float, guard: HostPolicy
    ) -> Connection:
        """A connection only to addresses the guard allows: the host is resolved here, every
        address it has is checked, and the connection goes to a checked address (never to a
        name resolved again, which could answer otherwise). Through a proxy, the proxy
        resolves the name: the addresses checked are what this host's DNS says, and a name
        this host cannot resolve at all (a network that reaches out only through its proxy)
        goes to the proxy, which resolves it: the name itself was allowed."""
        problem = guard.host_problem(target.host)
        if problem is not None:
            raise HttpError(problem, permanent=True)
        loop = asyncio.get_running_loop()
        resolving = loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        if via is not None and not is_ip(target.host):
            try:
                infos = await resolving
            except socket.gaierror:  # only the proxy can resolve it
                return await self._through(via, target, verify, deadline)
        else:
            with connect_errors(target.host, target.port):
                infos = await resolving
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            problem = guard.address_problem(target.host, address)
            if problem is not None:
                raise HttpError(problem, permanent=True)
        if via is not None:
            return await self._through(via, target, verify, deadline)
        tls = self._tls.get(verify) if target.scheme == "https" else None
        failure: BaseException | None = None
        for address in addresses:  # in the resolver's order, as create_connection would
            try:
                with connect_errors(target.host, target.port):
                    _, connection = await _create_connection(
                        address, target.port, tls, target.host if tls else None
                    )
                return connection
            except HttpError as exc:
                failure = exc
        assert failure is not None  # getaddrinfo answers at least one address or raises
        raise failure

    async def _through(
        self, proxy: Proxy, target: Target, verify: bool, deadline: float
    ) -> Connection:
        """A connection through the proxy: as is for http:// targets, a TLS tunnel (CONNECT)
        for https:// ones. The proxy's own certificate is always verified."""
        tls = self._tls.get(True) if proxy.scheme == "https" else None
        with connect_errors(proxy.host, proxy.port, "proxy "):
            _, connection = await _create_connection(
                proxy.host, proxy.port, tls, proxy.host if tls else None
            )
        if target.scheme == "http":
            return connection
        try:
            await self._tunnel(connection, proxy, target, verify, deadline)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _tunnel(
        self, connection: Connection, proxy: Proxy, target: Target, verify: bool, deadline: float
    ) -> None:
        """CONNECT through the proxy, then TLS with the target inside the tunnel."""
        authority = target.authority
        auth = f"Proxy-Authorization: {proxy.authorization}\r\n" if proxy.authorization else ""
        request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{auth}\r\n"
        try:
            answer = await connection.exchange(request.encode(), deadline, tunnel=True)
        except TimedOut:
            raise HttpError(f"proxy {proxy.shown} did not answer CONNECT in time") from None
        except HttpError as exc:
            raise HttpError(f"proxy {proxy.shown}: {exc}") from None
        if not 200 <= answer.status < 300:
            status = answer.status
            refused = f"proxy {proxy.shown} refused the tunnel to {authority} (HTTP {status})"
            if status == 407:
                raise HttpError(
                    f"{refused}: give its user and password in the proxy URL "
                    "(user:password@host:port)",
                    permanent=True,
                )
            raise HttpError(refused)
        assert connection.transport is not None
        with connect_errors(target.host, target.port):
            transport = await asyncio.get_running_loop().start_tls(
                connection.transport, connection, self._tls.get(verify), server_hostname=target.host
            )
        if transport is None:
            raise HttpError(f"TLS with {authority} through proxy {proxy.shown} failed")
        connection.tunnelled(transport)


async def _create_connection(
    host: str, port: int, tls: Any, server_hostname: str | None
) -> tuple[asyncio.BaseTransport, Connection]:
    """asyncio's create_connection, with Happy Eyeballs (RFC 8305) where the loop has it:
    a host with IPv6 and IPv4 addresses is tried on both, 0.25 s apart, so a black-holed
    route costs a quarter second, not the whole timeout. (uvloop has no Happy Eyeballs.)"""
    loop = asyncio.get_running_loop()
    extra: dict[str, Any] = HAPPY_EYEBALLS if isinstance(loop, asyncio.BaseEventLoop) else {}
    return await loop.create_connection(
        Connection, host, port, ssl=tls, server_hostname=server_hostname, **extra
    )


def _check_headers(headers: Mapping[str, str], given: set[str]) -> None:
    """Refuse what would change the framing or smuggle in other headers: names that are not
    tokens, values with line breaks or controls, and headers the transport sets itself."""
    if not _TOKEN.fullmatch("".join(headers)) or not all(headers):
        bad = next(n for n in headers if not _TOKEN.fullmatch(n))
        raise HttpError(f"header name {bad[:40]!r} is not a valid token", permanent=True)
    if _NOT_IN_VALUE.search("".join(headers.values())):
        bad = next(n for n, v in headers.items() if _NOT_IN_VALUE.search(v))
        raise HttpError(f"header {bad!r} holds a line break or a control character", permanent=True)
    if not SET_BY_TRANSPORT.isdisjoint(given):
        bad = next(n for n in headers if n.lower() in SET_BY_TRANSPORT)
        raise HttpError(
            f"header {bad!r} is set by the transport; a request must not give it", permanent=True
        )
