"""Receivers that answer the way the test says, byte for byte, over real loopback sockets:
well-behaved, malformed, endless, slow, over TLS. (A uniquely named helper module.)"""

from __future__ import annotations

import asyncio
import ssl
import struct
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

# An answer: raw bytes; None to hang up unanswered; or a coroutine function that writes
# however it likes (drip, endless) and returns when done.
Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]
Answer = bytes | Writer | None


class RawServer:
    """A TCP (or TLS) server; `answer(n, request)` chooses the answer to the n-th request.
    It records each request (head and body) and counts connections."""

    def __init__(
        self,
        answer: Callable[[int, bytes], Answer],
        *,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        close_after: bool = False,
    ) -> None:
        self.answer = answer
        self.tls = tls
        self.host = host
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for writer in self.writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def url(self, path: str = "/hook?access_token=T0KEN") -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.answer(len(self.requests), request)
                if answer is None:  # hang up without answering
                    break
                if isinstance(answer, bytes):
                    writer.write(answer)
                    await writer.drain()
                else:
                    await answer(writer)
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        except asyncio.CancelledError:  # the test is over
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


def ok(body: bytes = b'{"errcode":0}', extra: str = "", status: str = "200 OK") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def gzip_bomb(gib: int = 1) -> bytes:
    """About 1 MB of gzip that inflates to `gib` GiB of zeros: one deflate block of 16 MiB
    of zeros, repeated (a full flush makes each one the same), in a gzip frame."""
    zeros = bytes(16 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflate.compress(zeros)
    deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush()
    count = gib * 64
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, (count * len(zeros)) & 0xFFFFFFFF)
    return header + block * count + end + trailer


def server_tls(
    directory: Path, names: tuple[str, ...] = ("localhost",)
) -> tuple[ssl.SSLContext, Path]:
    """A server context with a new self-signed certificate for `names` and 127.0.0.1, and
    that certificate's file (its own CA)."""
    from tidings.sandbox.smtp import write_certificate

    directory.mkdir(parents=True, exist_ok=True)
    cert, key = write_certificate(directory, names=names)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert
