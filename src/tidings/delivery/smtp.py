"""Sending one mail over SMTP (aiosmtplib): SSL, STARTTLS or plain, AUTH when configured.

The mail channel builds the message and reads the reply; this does the talking, and turns
what went wrong on the way into a TransportFailure that says what to fix.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from tidings.channels.ports import TransportFailure

if TYPE_CHECKING:
    from email.message import EmailMessage

    from tidings.channels.ports import SmtpServer


def _tls_context(server: SmtpServer, ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=server.ca_file or None)
    if ca_file:  # system.tls.ca_file: trusted by mail as by HTTP deliveries
        context.load_verify_locations(cafile=ca_file)
    if not server.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connection(server: SmtpServer, timeout: float, ca_file: str | None = None) -> dict[str, Any]:
    """aiosmtplib keywords for the configured server (AUTH only with a username)."""
    options: dict[str, Any] = {
        "hostname": server.host,
        "port": server.server_port,
        "timeout": timeout,
        "use_tls": server.security == "ssl",
        "start_tls": server.security == "starttls",  # False: never upgrade on its own
    }
    if server.security != "none":
        options["tls_context"] = _tls_context(server, ca_file)
    if server.username:
        options.update(username=server.username, password=server.password)
    return options


async def send(
    message: EmailMessage,
    recipients: list[str],
    server: SmtpServer,
    timeout: float,
    ca_file: str | None = None,
) -> tuple[int, str]:
    """The server's final reply (code, text), a refusal included."""
    import aiosmtplib

    try:
        _, reply = await aiosmtplib.send(
            message, recipients=recipients, **connection(server, timeout, ca_file)
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients[0] if exc.recipients else None
        if refused is None:
            return 550, str(exc)
        return refused.code, refused.message
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    except aiosmtplib.SMTPNotSupported as exc:
        raise TransportFailure(
            f"{exc} — check system.smtp.security ({server.security})", permanent=True
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise _failure(exc) from None
    return 250, reply  # aiosmtplib gives the text of the accepting reply to DATA


def _failure(exc: BaseException) -> TransportFailure:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return TransportFailure(
                f"the server's certificate is not trusted ({cause.verify_message}) — "
                "add its CA to system.tls.ca_file (or set system.smtp.ca_file)",
                permanent=True,
            )
        cause = cause.__cause__ or cause.__context__
    return TransportFailure(str(exc) or type(exc).__name__)
