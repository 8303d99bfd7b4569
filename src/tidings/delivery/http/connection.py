"""One HTTP/1.1 connection: writes a request, and reads its answer with llhttp (the parser
of Node.js, through httptools) within limits.

llhttp does the framing, strictly: a malformed status line, a conflicting or malformed
Content-Length, Transfer-Encoding beside Content-Length, a bad chunk size or chunk data
without its CRLF are errors, never guesses. This module only collects what it reports and
bounds it: head size and header count, body size, and (with the caller's deadline) time.
"""

from __future__ import annotations

import asyncio
import re
import select
import time
from dataclasses import dataclass

import httptools

from tidings.delivery.http.decoding import coding_of
from tidings.delivery.http.errors import HttpError, NotSent

MAX_HEAD = 64 * 1024  # status line and headers of an answer (1xx answers before it included)
MAX_HEADERS = 100  # header lines of an answer
MAX_BODY = 1024 * 1024  # an answer body, as sent and once decoded; platforms answer ~100 bytes
# All bytes of one answer: chunk framing and trailers count too (a trailer is collected whole
# by the parser, so an endless one must end somewhere).
MAX_WIRE = MAX_HEAD + 4 * MAX_BODY
IDLE_SECONDS = 15.0  # a kept-alive connection unused for longer is closed, not reused
_KEEP_ALIVE_TIMEOUT = re.compile(r"(?i)\btimeout\s*=\s*(\d{1,6})\b")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names as the server spelled them; repeated ones joined by ", "
    body: bytes
    coding: str | None = None  # Content-Encoding still to undo (gzip, deflate)


class TimedOut(HttpError):
    """The deadline passed: `started` says whether any byte of the answer had come."""

    def __init__(self, started: bool) -> None:
        super().__init__("answer not complete in time" if started else "no answer in time")
        self.started = started


class Connection(asyncio.Protocol):
    """A TCP (or TLS) connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.idle_limit = IDLE_SECONDS
        self._waiter: asyncio.Future[Answer] | None = None
        self._tunnel = False
        self._parser = httptools.HttpResponseParser(self)
        self._start()

    def _start(self) -> None:
        """State of one answer."""
        self._received = False  # any byte of it
        self._wire = 0
        self._head_bytes = 0
        self._head_done = False  # the final (non-1xx) head
        self._complete = False
        self._status = 0
        self._headers: dict[str, str] = {}
        self._names: dict[str, str] = {}  # lower-case name -> as spelled
        self._count = 0
        self._body: list[bytes] = []
        self._size = 0
        self._until_close = False
        self._keep_alive = False
        self._coding: str | None = None

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted again
            return
        self._received = True
        self._wire += len(data)
        if self._wire > MAX_WIRE:
            self._fail(HttpError(f"answer larger than {MAX_WIRE // 2**20} MiB on the wire"))
            return
        try:
            if self._head_done:
                self._parser.feed_data(data)
            else:
                self._feed_head(data)
        except httptools.HttpParserUpgrade:
            self._fail(HttpError("answer switches protocols (HTTP 101), which is not expected"))
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, HttpError):  # raised by a callback below: a limit
                self._fail(cause)
            elif not self._complete:
                self._fail(HttpError(f"malformed answer: {exc}"))
            else:  # bytes after a complete answer: the answer stands, the connection goes
                self.close()
        except HttpError as exc:  # a limit of the head
            self._fail(exc)

    def eof_received(self) -> bool:
        self._ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended()

    # --- llhttp callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:  # a second answer to one request
            self._keep_alive = False
            raise HttpError("more than one answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count += 1
        if self._count > MAX_HEADERS:
            raise HttpError(f"answer has more than {MAX_HEADERS} header lines")
        if self._head_done:
            return  # a trailer after a chunked body: not needed
        shown = name.decode("latin-1")
        text = value.decode("latin-1")
        key = shown.lower()
        first = self._names.get(key)
        if first is None:
            self._names[key] = shown
            self._headers[shown] = text
        else:  # repeated: combined, as RFC 9110 allows
            self._headers[first] = f"{self._headers[first]}, {text}"

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            return  # informational (100 Continue): the answer follows
        self._status = status
        self._head_done = True
        names = self._names
        if self._tunnel:  # a proxy's answer to CONNECT: what follows belongs to the tunnel
            self._finish()
            return
        if "transfer-encoding" in names:
            coding = self._headers[names["transfer-encoding"]]
            if coding.strip().lower() != "chunked":
                raise HttpError(f"answer has Transfer-Encoding {coding[:40]!r}; only chunked")
        elif "content-length" not in names:
            self._until_close = True
        else:  # llhttp has checked it is one number
            if int(self._headers[names["content-length"]]) > MAX_BODY:
                raise HttpError(f"answer larger than {MAX_BODY // 2**20} MiB")
        if "content-encoding" in names:
            self._coding = coding_of(self._headers[names["content-encoding"]])
        if "keep-alive" in names:  # `timeout=5` (Node.js): reused only well within it
            found = _KEEP_ALIVE_TIMEOUT.search(self._headers[names["keep-alive"]])
            if found:
                self.idle_limit = min(IDLE_SECONDS, int(found.group(1)) - 1.0)

    def on_body(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > MAX_BODY:
            raise HttpError(f"answer larger than {MAX_BODY // 2**20} MiB")
        self._body.append(data)

    def on_message_complete(self) -> None:
        if not self._head_done:  # the end of a 1xx answer
            self._names.clear()
            self._headers.clear()
            return
        self._keep_alive = self._parser.should_keep_alive()
        self._finish()

    # --- exchanges ---------------------------------------------------------------------------

    async def exchange(self, data: bytes, deadline: float, tunnel: bool = False) -> Answer:
        """Write one request, and its answer; TimedOut at `deadline` (loop time). A timer on
        the loop, not asyncio.timeout: this is the hot path, and it is much cheaper."""
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise NotSent("the connection was closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Answer] = loop.create_future()
        self._waiter = waiter
        self._tunnel = tunnel
        self._parser = httptools.HttpResponseParser(self)
        self._start()
        timer = loop.call_at(deadline, self._timed_out)
        transport.write(data)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def tunnelled(self, transport: asyncio.Transport) -> None:
        """TLS with the target now runs inside this connection (after CONNECT)."""
        self.transport = transport

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    @property
    def reusable(self) -> bool:
        return self._complete and self._keep_alive and not self.closed

    def alive(self) -> bool:
        """Still open, and nothing to read: a server that closed an idle connection (or
        sent anything unasked) since the loop last looked is caught before a request is
        written on it, when a new connection can still be taken without a duplicate."""
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            return False
        sock = transport.get_extra_info("socket")
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def idle(self) -> None:
        self.idle_since = time.monotonic()

    # --- ends ----------------------------------------------------------------------------

    def _feed_head(self, data: bytes) -> None:
        """Feed until the head is complete, never more than MAX_HEAD bytes of it."""
        room = MAX_HEAD - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            self._parser.feed_data(data)
            if not self._head_done and self._head_bytes >= MAX_HEAD:
                raise HttpError(f"answer headers larger than {MAX_HEAD // 1024} KiB")
            return
        view = memoryview(data)
        self._head_bytes = MAX_HEAD
        self._parser.feed_data(view[:room])
        if not self._head_done:
            raise HttpError(f"answer headers larger than {MAX_HEAD // 1024} KiB")
        self._parser.feed_data(view[room:])

    def _finish(self) -> None:
        self._complete = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            body = b"".join(self._body)
            waiter.set_result(Answer(self._status, self._headers, body, self._coding))

    def _fail(self, exc: HttpError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def _timed_out(self) -> None:
        self._fail(TimedOut(self._received))

    def _ended(self) -> None:
        """The server closed its side: the end of a body read to the close, or of the
        exchange."""
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._head_done and self._until_close and not self._complete:
            self._keep_alive = False
            self._finish()
        elif not self._received:
            self._fail(HttpError("server closed the connection without an answer"))
        else:
            self._fail(HttpError("answer cut off"))
