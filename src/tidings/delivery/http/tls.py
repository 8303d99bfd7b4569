"""TLS for deliveries: the system's trust store plus `system.tls.ca_file`, and what a failed
handshake means for the delivery.

An untrusted certificate or one for another name is a setting to fix, not a network hiccup:
it is a permanent error that names the fix, instead of twelve retries.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tidings.delivery.http.errors import HttpError

if TYPE_CHECKING:
    import ssl

HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH
IP_MISMATCH = 64  # X509_V_ERR_IP_ADDRESS_MISMATCH


class TlsContexts:
    """The client contexts, built on first use: loading the trust store takes tens of ms,
    which a process that sends to http:// only (the sandbox, a local receiver) never pays."""

    def __init__(self, ca_file: str | None = None) -> None:
        self.ca_file = ca_file or None
        self._verified: ssl.SSLContext | None = None
        self._unverified: ssl.SSLContext | None = None

    def get(self, verify: bool = True) -> ssl.SSLContext:
        import ssl

        if verify:
            if self._verified is None:
                self._verified = client_context(self.ca_file)
            return self._verified
        if self._unverified is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self._unverified = context
        return self._unverified


def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """The system's trust store (SSL_CERT_FILE and SSL_CERT_DIR count, as in OpenSSL), plus
    the CAs of `ca_file` (PEM)."""
    import ssl

    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except OSError as exc:  # ssl.SSLError included: not PEM
            reason = exc.reason if isinstance(exc, ssl.SSLError) else exc.strerror
            raise HttpError(
                f"cannot load system.tls.ca_file {ca_file} ({reason or exc}): give a PEM "
                "file of CA certificates",
                permanent=True,
            ) from None
    return context


@contextlib.contextmanager
def connect_errors(host: str, port: int, what: str = "") -> Iterator[None]:
    """Connection and handshake failures as HttpErrors that say which host, why, and for
    certificates what to change. `what` is "proxy " when connecting to a proxy."""
    import socket
    import ssl

    if ":" in host:  # IPv6: as a URL writes it, so that the port is told apart
        host = f"[{host}]"
    try:
        yield
    except HttpError:
        raise
    except socket.gaierror:
        raise HttpError(f"cannot resolve {what}host {host}") from None
    except ssl.SSLCertVerificationError as exc:
        raise certificate_error(exc, host, what) from None
    except ssl.SSLError as exc:
        raise HttpError(f"TLS with {what}{host}:{port} failed ({exc.reason or exc})") from None
    except OSError as exc:
        # asyncio's strerror is "Connect call failed (addr)": the errno says why.
        reason = os.strerror(exc.errno).lower() if exc.errno else exc.strerror
        raise HttpError(
            f"cannot connect to {what}{host}:{port} ({reason or type(exc).__name__})"
        ) from None


def certificate_error(exc: ssl.SSLCertVerificationError, host: str, what: str = "") -> HttpError:
    reason = exc.verify_message or exc.reason or "not trusted"
    if exc.verify_code in (HOSTNAME_MISMATCH, IP_MISMATCH):
        return HttpError(
            f"TLS certificate of {what}{host} is not valid for that name ({reason}): address "
            "it by a name its certificate holds",
            permanent=True,
        )
    return HttpError(
        f"TLS certificate of {what}{host} not trusted ({reason}): if a private CA signed "
        "it, add that CA's certificate to system.tls.ca_file",
        permanent=True,
    )
