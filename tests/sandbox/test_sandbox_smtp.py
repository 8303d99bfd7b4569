"""SMTP sandbox over real sockets: STARTTLS + AUTH, implicit TLS, plain, one row per
recipient, and its place in Sandbox (shared log, demo server)."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import socket
import ssl
from collections.abc import Iterator
from email.message import EmailMessage

import aiohttp
import aiosmtplib
import pytest
from sandbox_helpers import post

from tidings.sandbox import DEMO_SMTP, Received, Sandbox, SmtpSandbox

USERS = {"tidings": "s3cret"}


def message(to: str = "dev@example.com, qa@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Zadig <noreply@example.com>"
    msg["To"] = to
    msg["Subject"] = "✅ 工作流 demo#42 执行成功"
    msg.set_content("您好，\ndemo#42 执行成功\n")
    msg.add_alternative("<p>您好，</p><p><b>demo#42</b> 执行成功</p>", subtype="html")
    return msg


def trust(server: SmtpSandbox) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.cafile)


@pytest.fixture
def starttls() -> Iterator[SmtpSandbox]:
    with SmtpSandbox(security="starttls", users=USERS) as server:
        yield server


async def test_starttls_auth_multipart_one_row_per_recipient(starttls: SmtpSandbox):
    server = starttls
    assert server.host == "127.0.0.1" and server.port > 0
    errors, reply = await aiosmtplib.send(
        message(),
        hostname="127.0.0.1",
        port=server.port,
        start_tls=True,
        tls_context=trust(server),
        username="tidings",
        password="s3cret",
    )
    assert errors == {} and reply.startswith("Message accepted")
    rows = server.messages
    assert [r.destination for r in rows] == ["dev@example.com", "qa@example.com"]
    first = rows[0]
    assert first.platform == "mail" and first.accepted and first.msgtype == "email"
    assert first.code == 250 and first.mentions == [] and first.method == "SMTP"
    assert first.body == {
        "subject": "✅ 工作流 demo#42 执行成功",
        "from": "Zadig <noreply@example.com>",
        "to": "dev@example.com, qa@example.com",
        "html": "<p>您好，</p><p><b>demo#42</b> 执行成功</p>\n",
        "text": "您好，\ndemo#42 执行成功\n",
    }
    assert first.text == "您好，\ndemo#42 执行成功\n"
    assert first.headers["Subject"] == "✅ 工作流 demo#42 执行成功"
    assert first.headers["Content-Type"].startswith("multipart/alternative")
    assert first.extra == {"login": "tidings", "mail_from": "noreply@example.com", "tls": True}
    assert "s3cret" not in repr(rows)


async def test_wrong_password_is_535(starttls: SmtpSandbox):
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as err:
        await aiosmtplib.send(
            message(),
            hostname="127.0.0.1",
            port=starttls.port,
            start_tls=True,
            tls_context=trust(starttls),
            username="tidings",
            password="wrong",
        )
    assert err.value.code == 535
    assert "5.7.8 Authentication credentials invalid" in err.value.message
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:  # no AUTH at all
        await aiosmtplib.send(
            message(), hostname="127.0.0.1", port=starttls.port, tls_context=trust(starttls)
        )
    assert refused.value.code == 530
    assert starttls.messages == []


async def test_auth_before_starttls_is_refused(starttls: SmtpSandbox):
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=starttls.port, start_tls=False)
    await client.connect()
    try:
        await client.ehlo()
        assert client.supports_extension("starttls")
        plain = base64.b64encode(b"\0tidings\0s3cret")
        reply = await client.execute_command(b"AUTH", b"PLAIN", plain)
        assert reply.code == 530 and "STARTTLS" in reply.message
    finally:
        await client.quit()


async def test_implicit_tls():
    with SmtpSandbox(security="ssl", users=USERS) as server:
        await aiosmtplib.send(
            message("ops@example.com"),
            hostname="localhost",
            port=server.port,
            use_tls=True,
            tls_context=trust(server),
            username="tidings",
            password="s3cret",
        )
        [row] = server.messages
        assert row.destination == "ops@example.com" and row.extra["tls"] is True
        assert row.extra["login"] == "tidings"
        cafile = server.cafile
        assert cafile is not None
    with pytest.raises(FileNotFoundError):  # the certificate is removed on stop
        open(cafile).close()


async def test_plain_without_users_aiosmtplib_and_smtplib():
    seen: list[Received] = []
    with SmtpSandbox(security="none", on_receive=seen.append) as server:
        assert server.cafile is None
        await aiosmtplib.send(message("a@example.com"), hostname="127.0.0.1", port=server.port)

        def stdlib() -> None:
            with smtplib.SMTP("127.0.0.1", server.port, timeout=5) as client:
                client.send_message(message("b@example.com"))

        await asyncio.to_thread(stdlib)
        rows = server.messages
    assert [r.destination for r in rows] == ["a@example.com", "b@example.com"]
    assert [r.extra["login"] for r in rows] == [None, None] and not rows[0].extra["tls"]
    assert seen == rows


async def test_sandbox_integration_shares_the_log(http: aiohttp.ClientSession):
    async with Sandbox(smtp={"security": "none"}) as sb:
        assert sb.smtp is not None and sb.smtp.host == "127.0.0.1"
        await post(http, sb.webhook_inbox("w"), {})
        await aiosmtplib.send(message("x@example.com"), hostname="127.0.0.1", port=sb.smtp.port)
        assert [r.platform for r in sb.received()] == ["webhook", "mail"]
        assert sb.received("mail") == sb.smtp.messages == sb.accepted("mail", "x@example.com")
        port = sb.smtp.port
    with pytest.raises(OSError):  # stopped with the sandbox
        await aiosmtplib.send(message(), hostname="127.0.0.1", port=port, timeout=2)


def _free_port_pair() -> int:
    """A port p with p and p + 25 both free right now."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            p = a.getsockname()[1]
            if p + 25 > 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", p + 25))
                except OSError:
                    continue
        return p
    raise RuntimeError("no free port pair")


async def test_demo_smtp_on_port_plus_25():
    port = _free_port_pair()
    sb = Sandbox(port=port)
    sb.add_demo_destinations()
    async with sb:
        assert sb.smtp is not None and sb.smtp.port == port + 25
        assert sb.smtp.security == DEMO_SMTP["security"] == "starttls"
        [(user, password)] = DEMO_SMTP["users"].items()
        await aiosmtplib.send(
            message("demo@example.com"),
            hostname="127.0.0.1",
            port=sb.smtp.port,
            start_tls=True,
            tls_context=trust(sb.smtp),
            username=user,
            password=password,
        )
        assert [r.destination for r in sb.accepted("mail")] == ["demo@example.com"]


async def test_demo_smtp_starts_on_a_running_sandbox(sb: Sandbox):
    assert sb.smtp is None
    sb.add_demo_destinations()
    assert sb.smtp is not None and sb.smtp.port != sb.port
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=sb.smtp.port, start_tls=False)
    await client.connect()
    await client.quit()
