"""Splitting a URL into what a request needs: where to connect, the request target, the
Host header and Basic credentials. The path and query are sent as given (a platform's
signature in the query is never re-encoded)."""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from tidings import net
from tidings.delivery.http.errors import HttpError
from tidings.net import basic

_SAFE = string.punctuation  # percent-encode only what may not appear in a request target


@dataclass(frozen=True)
class Target:
    scheme: str  # "http" | "https"
    host: str  # ASCII (IDNA); an IPv6 address without brackets
    port: int
    path: str  # the request target: path and query
    host_header: str  # host[:port], IPv6 in brackets
    authorization: str | None  # Basic, from user:password@ in the URL

    @property
    def authority(self) -> str:
        """host:port, as CONNECT names it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def ascii_host(host: str) -> str:
    try:
        return net.ascii_host(host)
    except net.BadAddress as exc:
        raise HttpError(str(exc), permanent=True) from None


# Signed URLs (a new query per send) only cycle through the cache; the common case, one
# robot's URL sent to again and again, is split once.
@functools.lru_cache(maxsize=2048)
def parse_target(url: str) -> Target:
    """Split a URL for sending; only bytes that may not appear on the wire are encoded."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise HttpError(f"invalid URL ({exc})", permanent=True) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise HttpError("invalid URL (only http:// and https:// can be sent to)", permanent=True)
    if not parts.hostname:
        raise HttpError("invalid URL (no host)", permanent=True)
    host = ascii_host(parts.hostname)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    path = quote(path, safe=_SAFE)  # spaces, control and non-ASCII characters only
    shown = f"[{host}]" if ":" in host else host
    authorization = None
    if parts.username is not None:
        authorization = basic(parts.username, parts.password)
    return Target(
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        path=path,
        host_header=shown if port is None else f"{shown}:{port}",
        authorization=authorization,
    )
