"""Addresses on the network as users write them: host names (IDNA), Basic credentials in a
URL, proxy URLs. Used where settings are checked (config) and where they are used (delivery);
messages never show a URL, which may hold a password."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


class BadAddress(ValueError):
    """An address that can never be used: the message names the setting, not its value."""


def basic(username: str, password: str | None) -> str:
    """An Authorization value from a URL's (percent-encoded) user and password."""
    pair = f"{unquote(username)}:{unquote(password or '')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def ascii_host(host: str) -> str:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadAddress("invalid URL (host name)") from None


@dataclass(frozen=True)
class Proxy:
    scheme: str  # "http" | "https": how tidings talks to the proxy itself
    host: str
    port: int
    # Proxy-Authorization, from user:password@ in its URL: never in a repr or a message.
    authorization: str | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """For messages: host and port, never the credentials."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_proxy(setting: str, where: str = "system.proxy.address") -> Proxy:
    """A proxy URL: `http://user:password@proxy:3128`, `https://proxy:443` (scheme left out:
    http://). `where` names the setting in messages, which never show the URL itself."""
    text = setting.strip()
    if "://" not in text:
        text = f"http://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise BadAddress(f"invalid proxy URL in {where}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BadAddress(
            f"{scheme}:// proxies are not supported ({where}): give an http:// or https:// "
            "proxy (https:// targets are still tunnelled through it with TLS)"
        )
    if not parts.hostname:
        raise BadAddress(f"invalid proxy URL in {where} (no host)")
    authorization = None
    if parts.username is not None:
        authorization = basic(parts.username, parts.password)
    default = 443 if scheme == "https" else 80
    return Proxy(scheme, ascii_host(parts.hostname), port or default, authorization)
