"""The delivery HTTP client against a real socket server that answers the way servers do:
framing (length, chunked, until close), gzip, 100 Continue, keep-alive and its races, limits."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import Callable

import pytest

from tidings.delivery.http1 import HttpClient, HttpError, parse_target


class Server:
    """A TCP server whose answers are raw bytes chosen per test; it records each request."""

    def __init__(self, answer: Callable[[int, bytes], bytes | None], close_after: bool = False):
        self.answer = answer
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
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
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?access_token=T%2Bx"


def ok(body: bytes = b'{"errcode":0}', extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def post(client: HttpClient, url: str, body: bytes = b"{}", timeout: float = 5.0):
    return await client.request("POST", url, {"Content-Type": "application/json"}, body, timeout)


async def test_request_is_sent_as_given_and_connection_kept_alive() -> None:
    async with Server(lambda n, r: ok()) as server, HttpClient(user_agent="ua/1") as client:
        for _ in range(3):
            answer = await post(client, server.url, b'{"a":1}')
            assert (answer.status, answer.body) == (200, b'{"errcode":0}')
    assert server.connections == 1  # kept alive
    first = server.requests[0].decode()
    assert first.startswith("POST /hook?access_token=T%2Bx HTTP/1.1\r\n")  # never re-encoded
    assert f"Host: 127.0.0.1:{server.port}\r\n" in first
    assert "User-Agent: ua/1\r\n" in first and "Accept-Encoding: gzip\r\n" in first
    assert "Content-Length: 7\r\n" in first and first.endswith('\r\n\r\n{"a":1}')


async def test_chunked_gzip_and_informational_answers() -> None:
    packed = gzip.compress(b'{"code":0,"msg":"ok"}')
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
        b"X-Ogw-Ratelimit-Reset: 3\r\n\r\n"
        + f"{10:x};ext=1\r\n".encode()
        + packed[:10]
        + b"\r\n"
        + f"{len(packed) - 10:x}\r\n".encode()
        + packed[10:]
        + b"\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    async with Server(lambda n, r: chunked) as server, HttpClient() as client:
        answer = await post(client, server.url)
        again = await post(client, server.url)
    assert answer.body == b'{"code":0,"msg":"ok"}' == again.body
    assert answer.headers["X-Ogw-Ratelimit-Reset"] == "3"  # names as the server spelled them
    assert server.connections == 1


async def test_answer_without_length_is_read_until_close() -> None:
    answer_bytes = b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 7\r\n\r\nbusy, come back"
    server = Server(lambda n, r: answer_bytes, close_after=True)
    async with server, HttpClient() as client:
        answers = [await post(client, server.url) for _ in range(2)]
    assert [(a.status, a.body) for a in answers] == [(503, b"busy, come back")] * 2
    assert answers[0].headers["Retry-After"] == "7"
    assert server.connections == 2  # HTTP/1.0 without keep-alive: a new connection each time


async def test_connection_close_header_is_honoured() -> None:
    server = Server(lambda n, r: ok(extra="Connection: close\r\n"))
    async with server, HttpClient() as client:
        for _ in range(2):
            assert (await post(client, server.url)).status == 200
    assert server.connections == 2


async def test_stale_kept_alive_connection_is_retried_once_on_a_new_one() -> None:
    # The server answers the first request, then drops the second one's connection unanswered
    # (as a server does when its keep-alive timer fires just as a request arrives).
    async with Server(lambda n, r: ok() if n != 2 else None) as server, HttpClient() as client:
        assert (await post(client, server.url)).status == 200
        assert (await post(client, server.url)).status == 200
    assert len(server.requests) == 3 and server.connections == 2


async def test_unanswered_new_connection_is_an_error_not_retried() -> None:
    async with Server(lambda n, r: None) as server, HttpClient() as client:
        with pytest.raises(HttpError, match="closed the connection without an answer"):
            await post(client, server.url)
    assert len(server.requests) == 1


async def test_answer_cut_off_midway() -> None:
    cut = b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial":'
    async with Server(lambda n, r: cut, close_after=True) as server, HttpClient() as client:
        with pytest.raises(HttpError, match="answer cut off"):
            await post(client, server.url)


async def test_timeout_names_the_limit_and_the_connection_is_not_reused() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(5)

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with HttpClient() as client:
            with pytest.raises(HttpError, match=r"no answer within 0.2 s"):
                await post(client, f"http://127.0.0.1:{port}/", timeout=0.2)
            assert not client._idle.get(("http", "127.0.0.1", port))
    finally:
        server.close()


async def test_refused_connection_names_host_but_never_the_path() -> None:
    async with Server(lambda n, r: ok()) as server:
        port = server.port
    async with HttpClient() as client:
        with pytest.raises(HttpError) as caught:
            await post(client, f"http://127.0.0.1:{port}/robot/send?access_token=SECRET")
    assert f"cannot connect to 127.0.0.1:{port}" in str(caught.value)
    assert "SECRET" not in str(caught.value)


async def test_oversized_and_malformed_answers_are_refused() -> None:
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n"
    garbage = b"SSH-2.0-OpenSSH_9.2\r\n\r\n"
    for raw, reason in ((huge, "larger than 16 MiB"), (garbage, "not an HTTP/1.x answer")):
        async with Server(lambda n, r, raw=raw: raw) as server, HttpClient() as client:
            with pytest.raises(HttpError, match=reason):
                await post(client, server.url)


async def test_header_injection_is_refused_before_sending() -> None:
    async with Server(lambda n, r: ok()) as server, HttpClient() as client:
        with pytest.raises(HttpError, match="line break"):
            await client.request("POST", server.url, {"X-Zadig-Token": "a\r\nX: y"}, b"", 5)
    assert server.requests == []


async def test_tls_verified_against_the_trust_store(tmp_path, monkeypatch) -> None:
    from tidings.sandbox.smtp import write_certificate

    cert, key = write_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    tls = Server(lambda n, r: ok())
    server = await asyncio.start_server(tls._serve, "127.0.0.1", 0, ssl=context)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    try:
        async with HttpClient() as client:
            with pytest.raises(HttpError, match=r"TLS certificate of 127\.0\.0\.1 not trusted"):
                await post(client, url)
        # A private CA is trusted the OpenSSL way: SSL_CERT_FILE.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        async with HttpClient() as client:
            assert (await post(client, url)).status == 200
            assert (await post(client, url)).status == 200
    finally:
        server.close()
    assert len(tls.requests) == 2 and tls.connections == 1


def test_targets_userinfo_ipv6_idna_and_bad_urls() -> None:
    target = parse_target("https://bot:p%40ss@[::1]:8443/a b?x=中")
    assert (target.host, target.port, target.host_header) == ("::1", 8443, "[::1]:8443")
    assert target.path == "/a%20b?x=%E4%B8%AD"
    assert target.authorization == "Basic Ym90OnBAc3M="  # bot:p@ss
    assert parse_target("http://例え.jp/").host == "xn--r8jz45g.jp"
    assert parse_target("http://h").path == "/"
    for bad, reason in (
        ("ftp://h/x", "only http:// and https://"),
        ("http:///x", "no host"),
        ("http://h:99999/", "invalid URL"),
    ):
        with pytest.raises(HttpError, match=reason):
            parse_target(bad)


def test_ssl_module_is_only_needed_for_https() -> None:
    client = HttpClient()
    assert client._tls is None
    assert isinstance(client._tls_context(), ssl.SSLContext)
