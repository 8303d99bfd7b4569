"""The delivery HTTP client against real socket servers answering the way servers do:
framing (length, chunked, until close), gzip and deflate, 100 Continue, keep-alive and its
races, IPv6, what a request may not carry, and errors that never show a URL's path."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest

from hostile import RawServer, ok
from tidings.delivery.http import Answer, HttpClient, HttpError, parse_target


async def post(client: HttpClient, url: str, body: bytes = b"{}", timeout: float = 5.0) -> Answer:
    return await client.request("POST", url, {"Content-Type": "application/json"}, body, timeout)


async def test_request_is_sent_as_given_and_connection_kept_alive() -> None:
    async with RawServer(lambda n, r: ok()) as server, HttpClient(user_agent="ua/1") as client:
        for _ in range(3):
            answer = await post(client, server.url("/hook?access_token=T%2Bx"), b'{"a":1}')
            assert (answer.status, answer.body) == (200, b'{"errcode":0}')
    assert server.connections == 1  # kept alive
    first = server.requests[0].decode()
    assert first.startswith("POST /hook?access_token=T%2Bx HTTP/1.1\r\n")  # never re-encoded
    assert f"Host: 127.0.0.1:{server.port}\r\n" in first
    assert "User-Agent: ua/1\r\n" in first and "Accept-Encoding: gzip, deflate\r\n" in first
    assert first.count("Content-Length:") == 1 and "Content-Length: 7\r\n" in first
    assert first.count("Host:") == 1 and first.endswith('\r\n\r\n{"a":1}')


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
    async with RawServer(lambda n, r: chunked) as server, HttpClient() as client:
        answer = await post(client, server.url())
        again = await post(client, server.url())
    assert answer.body == b'{"code":0,"msg":"ok"}' == again.body
    assert answer.headers["X-Ogw-Ratelimit-Reset"] == "3"  # names as the server spelled them
    assert "X-Trailer" not in answer.headers
    assert server.connections == 1


async def test_deflate_answers_wrapped_or_raw_and_large_ones_too() -> None:
    text = b'{"errcode":0,"errmsg":"ok"}' * 2000  # 54 KB; its gzip is decoded off the loop
    raw = zlib.compressobj(wbits=-15)
    bodies = {
        "deflate": zlib.compress(text),
        "Deflate ": raw.compress(text) + raw.flush(),
        "gzip": gzip.compress(text, compresslevel=0),  # 54 KB on the wire
    }
    for coding, body in bodies.items():
        reply = ok(body, extra=f"Content-Encoding: {coding}\r\n")
        async with RawServer(lambda n, r, a=reply: a) as server, HttpClient() as client:
            assert (await post(client, server.url())).body == text, coding


async def test_answer_without_length_is_read_until_close() -> None:
    reply = b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 7\r\n\r\nbusy, come back"
    server = RawServer(lambda n, r: reply, close_after=True)
    async with server, HttpClient() as client:
        answers = [await post(client, server.url()) for _ in range(2)]
    assert [(a.status, a.body) for a in answers] == [(503, b"busy, come back")] * 2
    assert answers[0].headers["Retry-After"] == "7"
    assert server.connections == 2  # HTTP/1.0 without keep-alive: a new connection each time


async def test_http_1_0_keep_alive_and_connection_close_are_honoured() -> None:
    kept = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}"
    async with RawServer(lambda n, r: kept) as server, HttpClient() as client:
        for _ in range(2):
            assert (await post(client, server.url())).status == 200
    assert server.connections == 1
    closing = ok(extra="Connection: close\r\n")
    async with RawServer(lambda n, r: closing) as server, HttpClient() as client:
        for _ in range(2):
            assert (await post(client, server.url())).status == 200
    assert server.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_not_written_to() -> None:
    # The server answers, then closes the kept-alive connection a moment later (its idle
    # timer). The next request goes on a new connection: nothing was lost or sent twice.
    async def answer_then_close(writer: asyncio.StreamWriter) -> None:
        writer.write(ok())
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    async with RawServer(lambda n, r: answer_then_close) as server, HttpClient() as client:
        assert (await post(client, server.url())).status == 200
        await asyncio.sleep(0.3)
        assert (await post(client, server.url())).status == 200
    assert len(server.requests) == 2 and server.connections == 2


async def test_a_post_is_never_sent_again_once_written() -> None:
    # The server takes the second request and drops the connection unanswered: it may have
    # acted on it, so the client does not send it again; the outcome is unknown.
    async with RawServer(lambda n, r: ok() if n != 2 else None) as server, HttpClient() as client:
        assert (await post(client, server.url())).status == 200
        with pytest.raises(HttpError, match="closed the connection without an answer") as caught:
            await post(client, server.url())
    assert caught.value.sent and not caught.value.permanent
    assert len(server.requests) == 2


async def test_answer_cut_off_midway() -> None:
    cut = b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial":'
    server = RawServer(lambda n, r: cut, close_after=True)
    async with server, HttpClient() as client:
        with pytest.raises(HttpError, match="answer cut off") as caught:
            await post(client, server.url())
    assert caught.value.sent


async def test_timeout_names_the_limit_and_the_connection_is_not_reused() -> None:
    async def never(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with RawServer(lambda n, r: never) as server, HttpClient() as client:
        with pytest.raises(HttpError, match=r"^no answer within 0.2 s$"):
            await post(client, server.url(), timeout=0.2)
        assert not any(client._idle.values())


async def test_refused_connection_names_host_but_never_the_path() -> None:
    async with RawServer(lambda n, r: ok()) as server:
        port = server.port
    async with HttpClient() as client:
        with pytest.raises(HttpError) as caught:
            await post(client, f"http://127.0.0.1:{port}/robot/send?access_token=SECRET")
    assert f"cannot connect to 127.0.0.1:{port}" in str(caught.value)
    assert "SECRET" not in str(caught.value) and "/robot" not in str(caught.value)
    assert not caught.value.sent


async def test_ipv6_receivers() -> None:
    async with RawServer(lambda n, r: ok(), host="::1") as server, HttpClient() as client:
        assert (await post(client, server.url())).status == 200
    assert f"Host: [::1]:{server.port}\r\n".encode() in server.requests[0]


async def test_header_injection_and_framing_headers_are_refused_before_sending() -> None:
    refused = {
        "X-Zadig-Token": ("a\r\nX: y", "line break"),
        "X-Bad": ("a\x00b", "control character"),
        "X Bad": ("v", "not a valid token"),
        "Host": ("evil.example", "set by the transport"),
        "Content-Length": ("0", "set by the transport"),
        "transfer-encoding": ("chunked", "set by the transport"),
        "Connection": ("close", "set by the transport"),
    }
    async with RawServer(lambda n, r: ok()) as server, HttpClient() as client:
        for name, (value, reason) in refused.items():
            with pytest.raises(HttpError, match=reason) as caught:
                await client.request("POST", server.url(), {name: value}, b"", 5)
            assert caught.value.permanent, name
        with pytest.raises(HttpError, match="not one tidings sends"):
            await client.request("HEAD", server.url(), {}, b"", 5)
    assert server.requests == []


def test_targets_userinfo_ipv6_idna_and_bad_urls() -> None:
    target = parse_target("https://bot:p%40ss@[::1]:8443/a b?x=中")
    assert (target.host, target.port, target.host_header) == ("::1", 8443, "[::1]:8443")
    assert target.path == "/a%20b?x=%E4%B8%AD"
    assert target.authorization == "Basic Ym90OnBAc3M="  # bot:p@ss
    assert target.authority == "[::1]:8443"
    assert parse_target("http://例え.jp/").host == "xn--r8jz45g.jp"
    assert parse_target("http://h").path == "/"
    for bad, reason in (
        ("ftp://h/x", "only http:// and https://"),
        ("http:///x", "no host"),
        ("http://h:99999/", "invalid URL"),
    ):
        with pytest.raises(HttpError, match=reason):
            parse_target(bad)


async def test_happy_eyeballs_reaches_ipv4_when_the_ipv6_route_is_a_black_hole(monkeypatch):
    """A name with an IPv6 address that swallows connection attempts (a listening socket
    whose accept queue is full: SYNs go unanswered) and an IPv4 address that works. Tried
    one after the other, the IPv6 attempt would use the whole timeout; RFC 8305 tries IPv4
    0.25 s later and the request succeeds."""
    import socket

    async with RawServer(lambda n, r: ok()) as server:
        hole = socket.socket(socket.AF_INET6)
        hole.bind(("::1", server.port))
        hole.listen(0)
        filler = socket.socket(socket.AF_INET6)
        filler.connect(("::1", server.port))  # the one place in the queue, never accepted
        loop = asyncio.get_running_loop()
        resolve = loop.getaddrinfo

        async def both_families(host, port, *args, **kwargs):
            if host != "dual.test":
                return await resolve(host, port, *args, **kwargs)
            tcp = (socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
            return [
                (socket.AF_INET6, *tcp, ("::1", port, 0, 0)),
                (socket.AF_INET, *tcp, ("127.0.0.1", port)),
            ]

        monkeypatch.setattr(loop, "getaddrinfo", both_families)
        try:
            async with HttpClient() as client:
                answer = await post(client, f"http://dual.test:{server.port}/hook", timeout=3)
        finally:
            filler.close()
            hole.close()
    assert answer.status == 200
    assert f"Host: dual.test:{server.port}\r\n".encode() in server.requests[0]


async def test_a_connection_is_reused_only_well_within_the_servers_keep_alive_timeout():
    # Node.js closes idle connections after 5 s and says so: `Keep-Alive: timeout=5`.
    for timeout, connections in ((5, 1), (1, 2)):
        reply = ok(extra=f"Keep-Alive: timeout={timeout}\r\n")
        async with RawServer(lambda n, r, a=reply: a) as server, HttpClient() as client:
            for _ in range(2):
                assert (await post(client, server.url())).status == 200
        assert server.connections == connections, timeout
