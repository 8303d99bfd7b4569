"""Which HTTP proxy a delivery goes through: the environment's, read as curl and requests do.

`https_proxy` / `HTTPS_PROXY` for https:// targets, `http_proxy` / `HTTP_PROXY` for http://
ones, `all_proxy` / `ALL_PROXY` for both; `no_proxy` / `NO_PROXY` lists hosts reached
directly: `*`, names (which also cover their subdomains; a leading `.` or `*.` is the same),
IP addresses and networks (`10.0.0.0/8`), each optionally with `:port`. Loopback targets
(localhost, 127.0.0.0/8, ::1: the sandbox, a local receiver) are never proxied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tidings.delivery.http1 import HttpError, _ascii_host, _basic

if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv6Address


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy: http:// targets are sent to it, https:// ones tunnelled (CONNECT)."""

    host: str
    port: int
    # Proxy-Authorization, from user:password@ in its URL: never in a repr.
    authorization: str | None = field(repr=False)

    @property
    def shown(self) -> str:  # for messages: never the credentials
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def proxy_for(scheme: str, host: str, port: int, environ: Mapping[str, str]) -> Proxy | None:
    """The proxy to reach scheme://host:port through, or None to connect directly."""
    setting = _setting(environ, f"{scheme}_proxy") or _setting(environ, "all_proxy")
    if not setting or _loopback(host):
        return None
    if _bypassed(host, port, _setting(environ, "no_proxy")):
        return None
    return parse_proxy(setting)


def parse_proxy(setting: str) -> Proxy:
    """A proxy URL (`http://user:password@proxy:3128`; the scheme may be left out)."""
    text = setting.strip()
    if "://" not in text:
        text = f"http://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise HttpError("invalid proxy URL in the environment (HTTPS_PROXY / HTTP_PROXY)") from None
    scheme = parts.scheme.lower()
    if scheme != "http":
        raise HttpError(
            f"{scheme}:// proxies are not supported: give an http:// proxy in HTTPS_PROXY / "
            "HTTP_PROXY (https:// targets are still tunnelled through it with TLS)"
        )
    if not parts.hostname:
        raise HttpError("invalid proxy URL in the environment (no host)")
    authorization = None
    if parts.username is not None:
        authorization = _basic(parts.username, parts.password)
    return Proxy(_ascii_host(parts.hostname), port or 80, authorization)


def _setting(environ: Mapping[str, str], name: str) -> str:
    # The lower-case name first, as curl reads it; either spelling works.
    return (environ.get(name) or environ.get(name.upper()) or "").strip()


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = _address(host)
    return address is not None and address.is_loopback


def _address(host: str) -> IPv4Address | IPv6Address | None:
    if not (host[:1].isdigit() or ":" in host):
        return None
    import ipaddress

    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    host = host.lower().rstrip(".")
    for raw in no_proxy.replace(" ", "").lower().split(","):
        entry, wanted = _split_port(raw)
        if not entry:
            continue
        if entry == "*":
            return True
        if wanted is not None and wanted != port:
            continue
        if "/" in entry:
            if _in_network(host, entry):
                return True
            continue
        name = entry.removeprefix("*").removeprefix(".").rstrip(".")
        if host == name or host.endswith(f".{name}"):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """`name:port`, `[v6]:port`, `v6`, `net/len`: the host part and the port if given."""
    if entry.startswith("["):
        inside, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return inside, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, int(port) if port.isdigit() else None
    return entry, None


def _in_network(host: str, entry: str) -> bool:
    import ipaddress

    address = _address(host)
    try:
        return address is not None and address in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
