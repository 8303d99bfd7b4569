"""Deliveries through an HTTP proxy — `system.proxy`, else the environment's (HTTPS_PROXY,
HTTP_PROXY, NO_PROXY): a real forward proxy on a socket, plain or over TLS, tunnelling
https:// (CONNECT, then TLS to the receiver through it) and relaying http://, with and
without credentials, and one that refuses."""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from helpers import enqueue_tasks
from hostile import server_tls
from tidings.config.loading import loads
from tidings.delivery.http import HttpClient, HttpError
from tidings.delivery.proxies import Proxies, parse_proxy
from tidings.delivery.resolve import Resolver
from tidings.delivery.worker import Backoff, Settings, Worker
from tidings.redact import Redactor
from tidings.store.db import Store

# A name only the proxy resolves (to the loopback receiver): the client never looks it up.
HOOK_HOST = "hooks.internal.test"


class ForwardProxy:
    """CONNECT tunnels and absolute-form requests, like squid, over TLS when given a context;
    records what it was asked. `refuse`: the status it answers CONNECT with instead."""

    def __init__(
        self,
        credentials: str | None = None,
        tls: ssl.SSLContext | None = None,
        refuse: int | None = None,
    ) -> None:
        self.credentials = credentials
        self.tls = tls
        self.refuse = refuse
        self.asked: list[tuple[str, str, str | None]] = []  # method, target, proxy auth
        self.port = 0

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()

    @property
    def url(self) -> str:
        who = f"{self.credentials}@" if self.credentials else ""
        return f"{'https' if self.tls else 'http'}://{who}127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
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
            if self.credentials
            else None
        )
        if wanted and auth != wanted:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        if self.refuse is not None:
            writer.write(f"HTTP/1.1 {self.refuse} Forbidden\r\nContent-Length: 0\r\n\r\n".encode())
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
    except (ConnectionError, ssl.SSLError):
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


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


async def test_https_is_tunnelled_through_the_proxy_with_its_credentials(tmp_path):
    context, cert = server_tls(tmp_path, names=(HOOK_HOST,))
    async with Receiver(context) as receiver, ForwardProxy("ops:s3cret") as proxy:
        url = f"https://{HOOK_HOST}:{receiver.port}/robot/send?access_token=T0KEN"
        async with HttpClient(environ={"HTTPS_PROXY": proxy.url}, ca_file=str(cert)) as client:
            assert await post(client, url) == 200
            assert await post(client, url) == 200  # the tunnel is kept alive and reused
    assert proxy.asked == [("CONNECT", f"{HOOK_HOST}:{receiver.port}", basic("ops:s3cret"))]
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


async def test_an_https_proxy_with_basic_auth_carries_both_kinds_of_target(tmp_path):
    # TLS to the proxy (its certificate trusted through ca_file), then for an https://
    # target a second TLS session with the receiver inside the first.
    proxy_tls, proxy_cert = server_tls(tmp_path / "proxy", names=("localhost",))
    receiver_tls, receiver_cert = server_tls(tmp_path / "receiver", names=(HOOK_HOST,))
    bundle = tmp_path / "cas.pem"
    bundle.write_bytes(proxy_cert.read_bytes() + receiver_cert.read_bytes())
    proxy = ForwardProxy("ops:p@ss w0rd", tls=proxy_tls)
    async with proxy, Receiver(receiver_tls) as tls_receiver, Receiver() as plain_receiver:
        address = proxy.url.replace("p@ss w0rd", "p%40ss%20w0rd")
        proxies = Proxies.configured(address)
        async with HttpClient(proxies=proxies, ca_file=str(bundle)) as client:
            assert await post(client, f"https://{HOOK_HOST}:{tls_receiver.port}/x?t=1") == 200
            assert await post(client, f"http://{HOOK_HOST}:{plain_receiver.port}/y") == 200
    assert [(m, auth) for m, _, auth in proxy.asked] == [
        ("CONNECT", basic("ops:p@ss w0rd")),
        ("POST", basic("ops:p@ss w0rd")),
    ]
    assert tls_receiver.requests[0].startswith(b"POST /x?t=1 HTTP/1.1\r\n")
    assert plain_receiver.requests[0].startswith(b"POST /y HTTP/1.1\r\n")


async def test_an_https_proxy_with_an_untrusted_certificate_is_named(tmp_path):
    proxy_tls, _ = server_tls(tmp_path, names=("localhost",))
    proxy = ForwardProxy(tls=proxy_tls)
    async with proxy, HttpClient(proxies=Proxies.configured(proxy.url)) as client:
        with pytest.raises(HttpError) as caught:
            await post(client, f"https://{HOOK_HOST}/x")
    assert str(caught.value).startswith("TLS certificate of proxy 127.0.0.1 not trusted")
    assert caught.value.permanent and "system.tls.ca_file" in str(caught.value)


async def test_a_proxy_that_refuses_connect_is_named_and_retried():
    proxy = ForwardProxy(refuse=403)
    async with proxy, HttpClient(proxies=Proxies.configured(proxy.url)) as client:
        with pytest.raises(HttpError) as caught:
            await post(client, f"https://{HOOK_HOST}/robot/send?access_token=T0KEN")
    text = str(caught.value)
    assert text == f"proxy 127.0.0.1:{proxy.port} refused the tunnel to {HOOK_HOST}:443 (HTTP 403)"
    assert not caught.value.permanent and not caught.value.sent


async def test_a_proxy_that_wants_credentials_says_so_without_showing_the_url():
    async with ForwardProxy("ops:s3cret") as proxy:
        bare = proxy.url.replace("ops:s3cret@", "")
        async with HttpClient(environ={"HTTPS_PROXY": bare}) as client:
            with pytest.raises(HttpError) as caught:
                await post(client, f"https://{HOOK_HOST}/robot/send?access_token=T0KEN")
    text = str(caught.value)
    assert f"proxy 127.0.0.1:{proxy.port} refused the tunnel to {HOOK_HOST}:443 (HTTP 407)" in text
    assert "user:password@" in text and "T0KEN" not in text and "/robot" not in text
    assert caught.value.permanent  # credentials are a setting to fix


async def test_unreachable_proxy_is_named_and_its_password_never_shown():
    async with HttpClient(environ={"HTTPS_PROXY": "http://ops:s3cret@127.0.0.1:9"}) as client:
        with pytest.raises(HttpError) as caught:
            await post(client, f"https://{HOOK_HOST}/x")
    assert "cannot connect to proxy 127.0.0.1:9" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_no_proxy_and_loopback_are_reached_directly():
    env = Proxies.from_environment(
        {
            "https_proxy": "proxy.corp:3128",
            "NO_PROXY": "internal.test, .corp.example,10.0.0.0/8,*.svc:8443",
        }
    )
    assert env.for_target("https", "hooks.internal.test", 443) is None  # subdomain of an entry
    assert env.for_target("https", "a.corp.example", 443) is None
    assert env.for_target("https", "10.1.2.3", 443) is None
    assert env.for_target("https", "api.svc", 8443) is None
    assert env.for_target("https", "api.svc", 443) is not None  # the entry names a port
    assert env.for_target("https", "127.0.0.1", 8900) is None  # the sandbox, a local receiver
    assert env.for_target("https", "localhost", 8900) is None
    assert env.for_target("http", "oapi.dingtalk.com", 80) is None  # no http_proxy given
    via = env.for_target("https", "oapi.dingtalk.com", 443)
    assert via is not None and (via.scheme, via.host, via.port) == ("http", "proxy.corp", 3128)
    everything = Proxies.from_environment({"ALL_PROXY": "http://p:8080", "no_proxy": "*"})
    assert everything.for_target("https", "x.example", 443) is None


def test_system_proxy_serves_both_schemes_with_its_own_no_proxy():
    configured = Proxies.configured("https://ops:pw@proxy.corp", ["*.lark.internal"])
    for scheme in ("http", "https"):
        via = configured.for_target(scheme, "open.feishu.cn", 443)
        assert via is not None and (via.scheme, via.host, via.port) == ("https", "proxy.corp", 443)
    assert configured.for_target("https", "open.lark.internal", 443) is None
    assert not Proxies.configured("")  # an empty address: always directly
    assert "Basic" not in repr(parse_proxy("http://ops:s3cret@proxy.corp:3128"))
    with pytest.raises(HttpError, match="socks5:// proxies are not supported"):
        parse_proxy("socks5://p:1080")


def test_a_bad_proxy_in_the_environment_fails_only_what_would_use_it():
    env = Proxies.from_environment({"HTTPS_PROXY": "socks5://p:1080"})
    assert env.for_target("http", "example.com", 80) is None
    with pytest.raises(HttpError, match=r"\(HTTPS_PROXY in the environment\)") as caught:
        env.for_target("https", "example.com", 443)
    assert caught.value.permanent


# --- from the configuration ------------------------------------------------------------------


def test_system_proxy_is_checked_and_its_password_redacted():
    from tidings.errors import ConfigError

    config = loads(
        "system:\n  proxy:\n    address: http://ops:Pr0xyPassw0rd@proxy.corp:3128\n"
        "    no_proxy: 'a.example, 10.0.0.0/8'\n"
    )
    assert config.system.proxy is not None
    assert config.system.proxy.no_proxy == ["a.example", "10.0.0.0/8"]
    assert Redactor(config.secrets())("via Pr0xyPassw0rd") == "via ***"
    with pytest.raises(ConfigError) as caught:
        loads("system:\n  proxy: {address: 'socks5://ops:Pr0xyPassw0rd@p:1080'}\n")
    text = str(caught.value) + "".join(str(p) for p in caught.value.problems)
    assert "socks5:// proxies are not supported" in text and "Pr0xyPassw0rd" not in text


async def test_ctls_go_through_system_proxy_unless_they_say_proxy_false(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path}/tidings.db").open()
    async with Receiver() as receiver, ForwardProxy("ops:s3cret") as proxy:
        via = f"http://{HOOK_HOST}:{receiver.port}/via?token=T0KEN"
        direct = f"http://{HOOK_HOST}:{receiver.port}/direct"
        config = loads(
            f"system:\n  proxy: {{address: '{proxy.url}'}}\n"
            "workflows:\n  - name: bulk\n    notify_ctls:\n"
            "      - {webhook_type: webhook, notify_type: [passed], "
            f"webhook_notification_config: {{address: '{via}'}}}}\n"
            "      - {webhook_type: webhook, notify_type: [passed], proxy: false, "
            f"webhook_notification_config: {{address: '{direct}'}}}}\n"
        )
        ids = enqueue_tasks(store, config, 1)
        settings = Settings(timeout=3, backoff=Backoff(base=60))
        async with Worker(store, Resolver(config), settings=settings) as worker:
            statuses = await worker.run_until(ids, time.time() + 1)
        with store.transaction(write=False) as db:
            errors = dict(db.run("SELECT status, last_error FROM deliveries ORDER BY seq"))
    assert sorted(statuses.values()) == ["pending", "sent"]
    assert [(method, target) for method, target, _ in proxy.asked] == [("POST", via)]
    # The direct one never reached the proxy: this machine cannot resolve the name itself.
    assert errors["pending"] == f"network error: cannot resolve host {HOOK_HOST}"


async def test_a_channels_own_deliver_gets_a_transport_bound_to_its_destination():
    """Feishu apps send through the transport themselves (tokens, lookups): a ctl's
    `proxy: false` reaches them through the transport the worker hands them."""
    from tidings.channels.base import Destination
    from tidings.delivery.network import Network
    from tidings.delivery.transport import HttpCall, HttpTransport, TransportError

    async with Receiver() as receiver, ForwardProxy() as proxy:
        url = f"http://{HOOK_HOST}:{receiver.port}/open-apis/x"
        call = HttpCall("POST", url, {"Content-Type": "application/json"}, b"{}")
        network = Network(Proxies.configured(proxy.url), None)
        async with HttpTransport(3.0, network) as transport:
            assert (await transport.send(call)).status == 200
            app = Destination("feishu_app:k", f"http://{HOOK_HOST}:{receiver.port}", proxy=False)
            with pytest.raises(TransportError, match=f"cannot resolve host {HOOK_HOST}"):
                await transport.for_destination(app).send(call)
    assert [method for method, _, _ in proxy.asked] == ["POST"]


async def test_an_ad_hoc_host_only_the_proxy_can_resolve_goes_through_it():
    """A network that reaches out only through its proxy: this host's DNS does not know the
    name, the proxy does. An ad-hoc destination whose name is allowed goes through the proxy
    (which resolves it); without a proxy the same name cannot be resolved, and says so; an
    allowed name that does resolve here to a private address is still refused."""
    from tidings.net import HostPolicy

    guard = HostPolicy.build([HOOK_HOST], set())
    async with Receiver() as receiver, ForwardProxy() as proxy:
        url = f"http://{HOOK_HOST}:{receiver.port}/hook"
        async with HttpClient(environ={"http_proxy": proxy.url}) as client:
            answer = await client.request("POST", url, {}, b"{}", 5, guard=guard)
            assert answer.status == 200
        assert proxy.asked == [("POST", url, None)]
        async with HttpClient(environ={}) as client:
            with pytest.raises(HttpError, match=f"cannot resolve host {HOOK_HOST}"):
                await client.request("POST", url, {}, b"{}", 5, guard=guard)
        # A name the configuration uses (allowed, but not its private addresses) that
        # resolves here, to loopback: checked here, as before, proxy or not.
        local = HostPolicy.build([], {"localhost"})
        async with HttpClient(environ={"http_proxy": proxy.url}) as client:
            with pytest.raises(HttpError, match="loopback"):
                await client.request("POST", "http://localhost:9/x", {}, b"{}", 5, guard=local)
