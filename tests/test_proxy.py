"""Deliveries through an HTTP proxy from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY):
a real forward proxy on a socket, tunnelling https:// (CONNECT, then TLS to the receiver
through it) and relaying http://, with and without credentials."""

from __future__ import annotations

import asyncio
import base64
import ssl
from urllib.parse import urlsplit

import pytest

from tidings.delivery.http1 import HttpClient, HttpError
from tidings.delivery.proxies import parse_proxy, proxy_for
from tidings.sandbox.smtp import write_certificate

# A name only the proxy resolves (to the loopback receiver): the client never looks it up.
HOOK_HOST = "hooks.internal.test"


class ForwardProxy:
    """CONNECT tunnels and absolute-form requests, like squid; records what it was asked."""

    def __init__(self, credentials: str | None = None) -> None:
        self.credentials = credentials
        self.asked: list[tuple[str, str, str | None]] = []  # method, target, proxy auth
        self.port = 0

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()

    @property
    def url(self) -> str:
        who = f"{self.credentials}@" if self.credentials else ""
        return f"http://{who}127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ")
        auth = next(
            (line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("proxy-a")),
            None,
        )
        self.asked.append((method, target, auth))
        wanted = (
            "Basic " + base64.b64encode(self.credentials.encode()).decode()
            if (self.credentials)
            else None
        )
        if wanted and auth != wanted:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = await asyncio.open_connection(_resolve(host), int(port))
            writer.write(b"HTTP/1.0 200 Connection established\r\n\r\n")
            rest = b""
        else:  # absolute form: forwarded in origin form, without the proxy's own header
            url = urlsplit(target)
            upstream = await asyncio.open_connection(_resolve(url.hostname), url.port or 80)
            origin = f"{method} {url.path}{'?' + url.query if url.query else ''} HTTP/1.1"
            kept = [line for line in lines[1:] if not line.lower().startswith("proxy-")]
            rest = "\r\n".join([origin, *kept]).encode("latin-1")
        up_reader, up_writer = upstream
        up_writer.write(rest)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


def _resolve(host: str | None) -> str:
    return "127.0.0.1" if host in (HOOK_HOST, "127.0.0.1") else "192.0.2.1"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


class Receiver:
    """A webhook receiver answering 200, over TLS when given a context; records each request."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.requests: list[bytes] = []

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"code":0}\n')
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


async def post(client: HttpClient, url: str) -> int:
    answer = await client.request("POST", url, {"Content-Type": "application/json"}, b"{}", 5)
    return answer.status


async def test_https_is_tunnelled_through_the_proxy_with_its_credentials(tmp_path, monkeypatch):
    cert, key = write_certificate(tmp_path, names=(HOOK_HOST,))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    async with Receiver(context) as receiver, ForwardProxy("ops:s3cret") as proxy:
        url = f"https://{HOOK_HOST}:{receiver.port}/robot/send?access_token=T0KEN"
        async with HttpClient(environ={"HTTPS_PROXY": proxy.url}) as client:
            assert await post(client, url) == 200
            assert await post(client, url) == 200  # the tunnel is kept alive and reused
    assert proxy.asked == [
        (
            "CONNECT",
            f"{HOOK_HOST}:{receiver.port}",
            "Basic " + base64.b64encode(b"ops:s3cret").decode(),
        )
    ]
    assert len(receiver.requests) == 2
    assert receiver.requests[0].startswith(b"POST /robot/send?access_token=T0KEN HTTP/1.1\r\n")
    assert b"Proxy-Authorization" not in receiver.requests[0]  # not past the proxy


async def test_http_goes_to_the_proxy_in_absolute_form():
    async with Receiver() as receiver, ForwardProxy() as proxy:
        url = f"http://{HOOK_HOST}:{receiver.port}/hook?k=1"
        async with HttpClient(environ={"http_proxy": proxy.url}) as client:
            assert await post(client, url) == 200
    assert proxy.asked == [("POST", url, None)]
    assert receiver.requests[0].startswith(b"POST /hook?k=1 HTTP/1.1\r\n")


async def test_a_proxy_that_wants_credentials_says_so_without_showing_the_url():
    async with ForwardProxy("ops:s3cret") as proxy:
        bare = proxy.url.replace("ops:s3cret@", "")
        async with HttpClient(environ={"HTTPS_PROXY": bare}) as client:
            with pytest.raises(HttpError) as caught:
                await post(client, f"https://{HOOK_HOST}/robot/send?access_token=T0KEN")
    text = str(caught.value)
    assert f"proxy 127.0.0.1:{proxy.port} refused the tunnel to {HOOK_HOST}:443 (HTTP 407)" in text
    assert "user:password@" in text and "T0KEN" not in text and "/robot" not in text


async def test_unreachable_proxy_is_named_and_its_password_never_shown():
    async with HttpClient(environ={"HTTPS_PROXY": "http://ops:s3cret@127.0.0.1:9"}) as client:
        with pytest.raises(HttpError) as caught:
            await post(client, f"https://{HOOK_HOST}/x")
    assert "cannot connect to proxy 127.0.0.1:9" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_no_proxy_and_loopback_are_reached_directly():
    env = {
        "https_proxy": "proxy.corp:3128",
        "NO_PROXY": "internal.test, .corp.example,10.0.0.0/8,*.svc:8443",
    }
    assert proxy_for("https", "hooks.internal.test", 443, env) is None  # subdomain of an entry
    assert proxy_for("https", "a.corp.example", 443, env) is None
    assert proxy_for("https", "10.1.2.3", 443, env) is None
    assert proxy_for("https", "api.svc", 8443, env) is None
    assert proxy_for("https", "api.svc", 443, env) is not None  # the entry names a port
    assert proxy_for("https", "127.0.0.1", 8900, env) is None  # the sandbox, a local receiver
    assert proxy_for("https", "localhost", 8900, env) is None
    assert proxy_for("http", "oapi.dingtalk.com", 80, env) is None  # no http_proxy given
    via = proxy_for("https", "oapi.dingtalk.com", 443, env)
    assert via is not None and (via.host, via.port, via.authorization) == ("proxy.corp", 3128, None)
    assert (
        proxy_for("https", "x.example", 443, {"ALL_PROXY": "http://p:8080", "no_proxy": "*"})
        is None
    )
    assert "Basic" not in repr(parse_proxy("http://ops:s3cret@proxy.corp:3128"))
    with pytest.raises(HttpError, match="socks5:// proxies are not supported"):
        parse_proxy("socks5://p:1080")
