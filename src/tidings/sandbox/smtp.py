"""SMTP server for mail notifications: aiosmtpd on a real loopback socket, in its own thread
(so it works the same from sync and async code), with a throwaway certificate.

``security`` picks what a mail client must speak, as with real providers: "starttls" (port
587 style: plain listener, STARTTLS required before AUTH and MAIL), "ssl" (port 465 style:
implicit TLS) or "none" (port 25 style). With ``users`` every message needs AUTH PLAIN or
LOGIN; a wrong password gets ``535 5.7.8 Authentication credentials invalid``.

Each accepted message becomes one ``Received`` row per recipient (platform "mail",
``http_status`` 0 as no HTTP is involved, ``code`` 250), so "one mail per address" can be
asserted like any other channel.

``reply_delay`` (seconds) holds every reply, the greeting included, that long: a slow or
overloaded server, for trying what a client's deadlines and leases do with one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email
import hmac
import ipaddress
import logging
import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tidings.sandbox.clock import Clock
from tidings.sandbox.records import MessageLog, OnReceive, Received

PLATFORM = "mail"
Security = Literal["starttls", "ssl", "none"]
SECURITIES = ("starttls", "ssl", "none")
log = logging.getLogger(__name__)
SERVER_NAME = "localhost"  # EHLO name; avoids aiosmtpd's slow socket.getfqdn()
CERT_VALIDITY = datetime.timedelta(days=1)


def write_certificate(directory: Path, names: Sequence[str] = ("localhost",)) -> tuple[Path, Path]:
    """A self-signed certificate for ``names`` and 127.0.0.1, usable as its own CA file:
    (cert.pem, key.pem) in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tidings sandbox SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    *(x509.DNSName(name) for name in names),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def parse_message(raw: bytes) -> tuple[dict[str, str], dict[str, Any], str]:
    """(headers, {"subject","from","to","html","text"}, plain text) of a MIME message."""
    # SMTP carries CRLF lines; store LF ones, as a mailbox would
    msg = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default)
    headers = {k: str(v) for k, v in msg.items()}
    html = text = None
    if isinstance(msg, EmailMessage):
        html_part = msg.get_body(preferencelist=("html",))
        text_part = msg.get_body(preferencelist=("plain",))
        html = html_part.get_content() if isinstance(html_part, EmailMessage) else None
        text = text_part.get_content() if isinstance(text_part, EmailMessage) else None
    body = {
        "subject": str(msg.get("subject", "")),
        "from": str(msg.get("from", "")),
        "to": str(msg.get("to", "")),
        "html": html,
        "text": text,
    }
    return headers, body, text or ""


class _Session(Session):
    """aiosmtpd's session without the deprecation warning it logs on every AUTH."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _SMTP(SMTP):
    """aiosmtpd's protocol. ``auth_without_starttls`` allows AUTH outside STARTTLS (implicit
    TLS, which aiosmtpd cannot see, or plain text) without its warning per connection."""

    def __init__(
        self,
        handler: Any,
        *,
        auth_without_starttls: bool = False,
        reply_delay: float = 0.0,
        **kw: Any,
    ) -> None:
        super().__init__(handler, **kw)
        if auth_without_starttls:
            self._auth_require_tls = False
        self._reply_delay = reply_delay

    async def push(self, status: Any) -> None:
        line = status.encode() if isinstance(status, str) else status
        if self._reply_delay > 0 and line[3:4] != b"-":  # once per reply, before its last line
            await asyncio.sleep(self._reply_delay)
        await super().push(status)

    def _create_session(self) -> Session:
        return _Session(self.loop)


class _Controller(Controller):
    """aiosmtpd's controller on a socket bound beforehand, so port 0 works."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class SmtpSandbox:
    """An SMTP server recording what it receives (see the module docstring).

    ``port=0`` picks a free port, bound when ``port`` is first read or on ``start()``.
    ``log`` and ``clock`` are for ``Sandbox(smtp=...)``, which shares its message log.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        security: Security = "starttls",
        users: dict[str, str] | None = None,
        on_receive: OnReceive | None = None,
        clock: Clock | None = None,
        log: MessageLog | None = None,
        reply_delay: float = 0.0,
    ) -> None:
        if security not in SECURITIES:
            raise ValueError(f"security must be one of {', '.join(SECURITIES)}")
        self.host = host
        self._port = port
        self.security: Security = security
        self.users = dict(users) if users else None
        self.reply_delay = reply_delay
        self._log = log if log is not None else MessageLog(clock or time.time, on_receive)
        self._extra_on_receive = on_receive if log is not None else None
        self._sock: socket.socket | None = None
        self._certdir: Path | None = None
        self._cert: tuple[Path, Path] | None = None
        self._controller: _Controller | None = None

    # --- addresses and certificate ------------------------------------------------------

    def _socket(self) -> socket.socket:
        if self._sock is None:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            self._sock = socket.create_server((self.host, self._port), family=family)
        return self._sock

    @property
    def port(self) -> int:
        """The listening port (binds it if not yet bound)."""
        return int(self._socket().getsockname()[1])

    @property
    def cafile(self) -> str | None:
        """PEM of the server's self-signed certificate, to trust in the client (None when
        ``security="none"``); generated on first use, deleted by ``stop()``."""
        if self.security == "none":
            return None
        return str(self._certificate()[0])

    def _certificate(self) -> tuple[Path, Path]:
        if self._cert is None:
            self._certdir = Path(tempfile.mkdtemp(prefix="tidings-smtp-"))
            self._cert = write_certificate(self._certdir)
        return self._cert

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert, key = self._certificate()
        ctx.load_cert_chain(cert, key)
        return ctx

    # --- recording ----------------------------------------------------------------------

    @property
    def messages(self) -> list[Received]:
        """One row per recipient of each accepted message, in arrival order."""
        return self._log.select(PLATFORM)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        users = self.users or {}
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace")
        expected = users.get(login)
        ok = expected is not None and hmac.compare_digest(expected.encode(), data.password)
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """aiosmtpd hook: record the message once per recipient."""
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        headers, body, text = parse_message(raw)
        transport = server.transport
        extra = {
            "login": session.auth_data if isinstance(session.auth_data, str) else None,
            "mail_from": envelope.mail_from,
            "tls": transport is not None and transport.get_extra_info("ssl_object") is not None,
        }
        for rcpt in envelope.rcpt_tos:
            row = self._log.add(
                platform=PLATFORM,
                destination=rcpt,
                accepted=True,
                http_status=0,
                code=250,
                message="Message accepted for delivery",
                msgtype="email",
                headers=headers,
                query={},
                body=body,
                text=text,
                mentions=[],
                method="SMTP",
                extra=dict(extra),
            )
            if self._extra_on_receive is not None:
                try:
                    self._extra_on_receive(row)
                except Exception:  # like MessageLog: a callback never breaks the server
                    log.exception("sandbox SMTP on_receive callback failed")
        return "250 Message accepted for delivery"

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Listen (returns once the server answers); a no-op if already started."""
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {"server_hostname": SERVER_NAME}
        if self.reply_delay > 0:
            kwargs["reply_delay"] = self.reply_delay
        if self.security == "starttls":
            kwargs.update(tls_context=self._tls_context(), require_starttls=True)
        else:
            kwargs["auth_without_starttls"] = True
            if self.security == "ssl":
                kwargs["ssl_context"] = self._tls_context()
        if self.users:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        controller = _Controller(self, self._socket(), **kwargs)
        try:
            controller.start()
        except BaseException:
            with contextlib.suppress(Exception):
                controller.stop(no_assert=True)
            self._release()
            raise
        self._controller = controller

    def stop(self) -> None:
        """Stop listening and delete the certificate; a no-op if not started."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        self._release()

    def _release(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._certdir is not None:
            shutil.rmtree(self._certdir, ignore_errors=True)
        self._certdir = self._cert = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SmtpSandbox({self.host}:{self._port}, security={self.security!r})"
