"""A small HTTP/1.1 client for deliveries: keep-alive pools, Content-Length, chunked and
read-to-close bodies, gzip, TLS, HTTP proxies from the environment (HTTPS_PROXY, NO_PROXY).

Why not aiohttp's client: on loopback it spends about 140 µs of CPU per POST (request and
response objects, multidicts, hooks), most of a worker's time; this one a fraction of that.
Deliveries need none of its other features (cookies, redirects, streaming), and the
process that sends one notification does not pay for importing it.

Errors are `HttpError`s whose message never holds the URL's path or query (tokens live there).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import string
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    from tidings.delivery.proxies import Proxy

MAX_HEAD = 64 * 1024  # status line and headers of an answer
MAX_BODY = 16 * 1024 * 1024  # an answer body; platforms answer a few hundred bytes
IDLE_SECONDS = 15.0  # a kept-alive connection unused for longer is closed, not reused
_SAFE = string.punctuation  # percent-encode only what may not appear in a request target


class HttpError(Exception):
    """No usable HTTP answer: the reason says why (never the URL's path or query)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # the request target: path and query, as given
    host_header: str
    authorization: str | None  # Basic, from user:password@ in the URL

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def _basic(username: str, password: str | None) -> str:
    pair = f"{unquote(username)}:{unquote(password or '')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def _ascii_host(host: str) -> str:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise HttpError("invalid URL (host name)") from None


def parse_target(url: str) -> Target:
    """Split a URL for sending. The path and query are sent exactly as given (only bytes that
    may not appear on the wire are percent-encoded), so a signature is never re-encoded."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise HttpError(f"invalid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise HttpError("invalid URL (only http:// and https:// can be sent to)")
    host = parts.hostname
    if not host:
        raise HttpError("invalid URL (no host)")
    host = _ascii_host(host)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    path = quote(path, safe=_SAFE)  # spaces, control and non-ASCII characters only
    shown = f"[{host}]" if ":" in host else host
    authorization = None
    if parts.username is not None:
        authorization = _basic(parts.username, parts.password)
    return Target(
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        path=path,
        host_header=shown if port is None else f"{shown}:{port}",
        authorization=authorization,
    )


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class _TimedOut(HttpError):
    """The answer did not come in time."""


class _Stale(HttpError):
    """The connection closed before any byte of the answer (a kept-alive one may be retried)."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Answer] | None = None
        self._received = False  # any byte of the current answer
        self._state = "head"
        self._status = 0
        self._headers: dict[str, str] = {}  # names in lower case
        self._shown: dict[str, str] = {}  # names as the server spelled them
        self._keep_alive = True
        self._length = 0
        self._chunks: list[bytes] = []
        self._size = 0
        self._no_body = False

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted again
            return
        self._received = True
        self._buffer += data
        try:
            self._parse()
        except HttpError as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        self._ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended()

    # --- requests --------------------------------------------------------------------------

    async def exchange(self, data: bytes, no_body: bool, deadline: float) -> Answer:
        """Send one request; its answer, or `_TimedOut` at `deadline` (loop time). A timer
        on the loop, not asyncio.timeout: this is the hot path, and it is much cheaper."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._received = False
        self._state = "head"
        self._no_body = no_body
        timer = loop.call_at(deadline, self._fail, _TimedOut())
        self.transport.write(data)
        try:
            return await self._waiter
        finally:
            timer.cancel()
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    @property
    def reusable(self) -> bool:
        return not self.closed and self._keep_alive and not self._buffer

    # --- parsing ---------------------------------------------------------------------------

    def _ended(self) -> None:
        """The server closed its side: finish a read-to-close answer, or fail the request."""
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._state == "until-close":
            try:
                self._done(b"".join(self._chunks) + bytes(self._buffer))
            except HttpError as exc:
                self._fail(exc)
        elif not self._received:
            self._fail(_Stale("server closed the connection without an answer"))
        else:
            self._fail(HttpError("answer cut off"))

    def _fail(self, exc: HttpError) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.close()

    def _done(self, body: bytes) -> None:
        self._state = "done"
        encoding = self._headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "x-gzip", "deflate") and body:
            try:
                wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
                body = zlib.decompress(body, wbits)
            except zlib.error:
                raise HttpError(f"answer body is not valid {encoding}") from None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(Answer(self._status, self._shown, body))

    def _parse(self) -> None:
        while True:
            state = self._state
            if state == "head":
                if not self._parse_head():
                    return
            elif state == "length":
                if len(self._buffer) < self._length:
                    return
                body = bytes(self._buffer[: self._length])
                del self._buffer[: self._length]
                self._done(body)
            elif state == "chunked":
                if not self._parse_chunk():
                    return
            elif state == "until-close":
                self._size += len(self._buffer)
                if self._size > MAX_BODY:
                    raise HttpError(f"answer larger than {MAX_BODY // 2**20} MiB")
                self._chunks.append(bytes(self._buffer))
                self._buffer.clear()
                return
            else:  # done: anything more was not asked for
                if self._buffer:
                    self._keep_alive = False
                return

    def _parse_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise HttpError("answer headers too large")
            return False
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise HttpError("not an HTTP/1.x answer")
        status = int(code)
        if 100 <= status < 200:
            return True  # informational (100 Continue): the real answer follows
        shown: dict[str, str] = {}
        lower: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpError("malformed header in the answer")
            name, value = name.strip(), value.strip()
            key = name.lower()
            if key in lower:  # repeated header: combined, as RFC 9110 allows
                value = f"{lower[key]}, {value}"
                shown.pop(next(n for n in shown if n.lower() == key))
            shown[name] = value
            lower[key] = value
        self._status = status
        self._shown = shown
        self._headers = lower
        connection = lower.get("connection", "").lower()
        if version == "HTTP/1.0":
            self._keep_alive = "keep-alive" in connection
        else:
            self._keep_alive = "close" not in connection
        self._chunks = []
        self._size = 0
        if self._no_body or status in (204, 304):
            self._done(b"")
        elif "chunked" in lower.get("transfer-encoding", "").lower():
            self._length = 0
            self._state = "chunked"
        elif "content-length" in lower:
            length = lower["content-length"].split(",")[0].strip()
            if not length.isdigit():
                raise HttpError("invalid Content-Length in the answer")
            self._length = int(length)
            if self._length > MAX_BODY:
                raise HttpError(f"answer larger than {MAX_BODY // 2**20} MiB")
            self._state = "length"
        else:
            self._keep_alive = False
            self._state = "until-close"
        return True

    def _parse_chunk(self) -> bool:
        if self._length > 0:  # inside a chunk: its data and the CRLF after it
            if len(self._buffer) < self._length + 2:
                return False
            self._chunks.append(bytes(self._buffer[: self._length]))
            del self._buffer[: self._length + 2]
            self._length = 0
            return True
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise HttpError("malformed chunked answer")
            return False
        if self._length == -1:  # after the last chunk: trailers up to an empty line
            line = self._buffer[:end]
            del self._buffer[: end + 2]
            if not line:
                self._done(b"".join(self._chunks))
            return True
        size_text = bytes(self._buffer[:end]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpError("malformed chunked answer") from None
        del self._buffer[: end + 2]
        self._size += size
        if self._size > MAX_BODY:
            raise HttpError(f"answer larger than {MAX_BODY // 2**20} MiB")
        self._length = size if size else -1
        return True


def _forbidden(name: str, value: str) -> bool:
    """A line break (header injection), NUL, or a name that is not a token."""
    return (
        "\n" in value
        or "\r" in value
        or "\0" in value
        or "\n" in name
        or "\r" in name
        or ":" in name
        or " " in name
    )


class HttpClient:
    """Pools of kept-alive connections per (scheme, host, port); one request per connection
    at a time. Use as an async context manager, or call `close()`.

    Proxies come from `environ` (default: the process environment, read once), see
    tidings.delivery.proxies."""

    def __init__(
        self,
        *,
        user_agent: str = "tidings",
        max_idle_per_host: int = 128,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.max_idle_per_host = max_idle_per_host
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._targets: dict[str, Target] = {}
        self._tls: Any = None
        environ = os.environ if environ is None else environ
        # Only what proxy selection reads, copied: later changes to os.environ do not count.
        self._environ = {k: v for k, v in environ.items() if k.lower().endswith("_proxy")}
        self._proxies: dict[tuple[str, str, int], Proxy | None] = {}

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

    def target(self, url: str) -> Target:
        found = self._targets.get(url)
        if found is None:
            found = parse_target(url)
            # Signed URLs change on every send: caching them would only grow the cache.
            if len(self._targets) < 10000 and "sign=" not in url:
                self._targets[url] = found
        return found

    def _proxy(self, target: Target) -> Proxy | None:
        """The Proxy of this target (None: direct), decided once per scheme, host and port."""
        if not self._environ:
            return None
        if target.key not in self._proxies:
            from tidings.delivery.proxies import proxy_for

            found = proxy_for(target.scheme, target.host, target.port, self._environ)
            self._proxies[target.key] = found
        return self._proxies[target.key]

    def _encode(
        self,
        method: str,
        target: Target,
        headers: dict[str, str],
        body: bytes,
        proxy: Proxy | None = None,
    ) -> bytes:
        fields = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        # One line per header and nothing else: a CR or LF inside a name or value would
        # smuggle in headers of its own (header injection).
        if (
            fields.count("\n") != len(headers)
            or fields.count("\r") != len(headers)
            or "\0" in fields
            or any(":" in name or " " in name for name in headers)
        ):
            bad = next(n for n, v in headers.items() if _forbidden(n, v))
            raise HttpError(f"header {bad.strip()!r} holds a line break or a forbidden character")
        given = f"\n{fields.lower()}"
        extra = ""
        if "\nuser-agent:" not in given:
            extra += f"User-Agent: {self.user_agent}\r\n"
        if "\naccept-encoding:" not in given:
            extra += "Accept-Encoding: gzip\r\n"
        if target.authorization and "\nauthorization:" not in given:
            extra += f"Authorization: {target.authorization}\r\n"
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            extra += f"Content-Length: {len(body)}\r\n"
        path = target.path
        if proxy is not None and target.scheme == "http":  # sent to the proxy, not tunnelled
            path = f"http://{target.host_header}{path}"
            if proxy.authorization:
                extra += f"Proxy-Authorization: {proxy.authorization}\r\n"
        head = f"{method} {path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
        return f"{head}{fields}{extra}\r\n".encode() + body

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> Answer:
        """One request and its whole answer within `timeout` seconds (connecting included)."""
        target = self.target(url)
        proxy = self._proxy(target)
        data = self._encode(method, target, headers, body, proxy)
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            return await self._exchange(target, data, method == "HEAD", deadline, proxy)
        except (_TimedOut, TimeoutError):
            raise HttpError(f"no answer within {timeout:g} s") from None

    async def _exchange(
        self, target: Target, data: bytes, no_body: bool, deadline: float, proxy: Proxy | None
    ) -> Answer:
        for _ in range(2):
            connection, reused = await self._acquire(target, deadline, proxy)
            self._busy.add(connection)
            answered = False
            try:
                answer = await connection.exchange(data, no_body, deadline)
                answered = True
            except _Stale:
                # A kept-alive connection the server had just closed: the request never got
                # to it, so it goes again on a new connection (once; the delivery id stays).
                if reused:
                    continue
                raise
            finally:
                self._busy.discard(connection)
                if not answered:  # cut off or timed out mid-answer: never reused
                    connection.close()
            self._release(target, connection)
            return answer
        raise HttpError("server closed the connection without an answer")

    async def _acquire(
        self, target: Target, deadline: float, proxy: Proxy | None
    ) -> tuple[_Connection, bool]:
        idle = self._idle.get(target.key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection, True
            connection.close()
        remaining = deadline - asyncio.get_running_loop().time()
        connect = self._connect(target) if proxy is None else self._via(proxy, target, deadline)
        return await asyncio.wait_for(connect, max(remaining, 0.0)), False

    def _release(self, target: Target, connection: _Connection) -> None:
        if not connection.reusable:
            connection.close()
            return
        idle = self._idle.setdefault(target.key, [])
        if len(idle) >= self.max_idle_per_host:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)

    async def _connect(self, target: Target) -> _Connection:
        tls = self._tls_context() if target.scheme == "https" else None
        with _connect_errors(target.host, target.port):
            _, connection = await asyncio.get_running_loop().create_connection(
                _Connection,
                target.host,
                target.port,
                ssl=tls,
                server_hostname=target.host if tls else None,
            )
        return connection

    async def _via(self, proxy: Proxy, target: Target, deadline: float) -> _Connection:
        """A connection through the proxy: as is for http://, a TLS tunnel for https://."""
        with _connect_errors(proxy.host, proxy.port, "proxy "):
            _, connection = await asyncio.get_running_loop().create_connection(
                _Connection, proxy.host, proxy.port
            )
        if target.scheme == "http":
            return connection
        try:
            await self._tunnel(connection, proxy, target, deadline)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _tunnel(
        self, connection: _Connection, proxy: Proxy, target: Target, deadline: float
    ) -> None:
        """CONNECT through the proxy, then TLS with the target inside the tunnel."""
        host = f"[{target.host}]" if ":" in target.host else target.host
        authority = f"{host}:{target.port}"
        auth = f"Proxy-Authorization: {proxy.authorization}\r\n" if proxy.authorization else ""
        request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{auth}\r\n"
        try:
            answer = await connection.exchange(request.encode(), True, deadline)
        except _Stale:
            raise HttpError(f"proxy {proxy.shown} closed the connection") from None
        if not 200 <= answer.status < 300:
            hint = ": give user:password@ in the proxy URL" if answer.status == 407 else ""
            raise HttpError(
                f"proxy {proxy.shown} refused the tunnel to {authority} "
                f"(HTTP {answer.status}){hint}"
            )
        assert connection.transport is not None
        with _connect_errors(target.host, target.port):
            connection.transport = await asyncio.get_running_loop().start_tls(  # type: ignore[assignment]
                connection.transport, connection, self._tls_context(), server_hostname=target.host
            )

    def _tls_context(self) -> Any:
        if self._tls is None:  # built on first use: loading the CA store takes tens of ms
            import ssl

            self._tls = ssl.create_default_context()
        return self._tls


@contextlib.contextmanager
def _connect_errors(host: str, port: int, what: str = "") -> Iterator[None]:
    """Connection failures as HttpErrors that say which host and why."""
    import socket
    import ssl

    try:
        yield
    except socket.gaierror:
        raise HttpError(f"cannot resolve {what}host {host}") from None
    except ssl.SSLCertVerificationError as exc:
        raise HttpError(f"TLS certificate of {host} not trusted ({exc.verify_message})") from None
    except ssl.SSLError as exc:
        raise HttpError(f"TLS with {host}:{port} failed ({exc.reason})") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise HttpError(f"cannot connect to {what}{host}:{port} ({reason})") from None
