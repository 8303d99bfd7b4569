"""Addresses on the network as users write them: host names (IDNA), Basic credentials in a
URL, proxy URLs. Used where settings are checked (config) and where they are used (delivery);
messages never show a URL, which may hold a password."""

from __future__ import annotations

import base64
import ipaddress
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


# --- where ad-hoc notifications may go (POST /api/v1/notify) ----------------------------------

# The platforms' own hosts: an ad-hoc message to DingTalk, WeCom, Feishu/Lark or Teams needs
# no listing. (Teams' incoming webhooks and Workflows are on these domains and subdomains.)
PLATFORM_HOSTS = (
    "oapi.dingtalk.com",
    "qyapi.weixin.qq.com",
    "open.feishu.cn",
    "open.larksuite.com",
    "outlook.office.com",
    "outlook.office365.com",
)
PLATFORM_DOMAINS = (".webhook.office.com", ".logic.azure.com", ".powerplatform.com")
ALLOW_SETTING = "system.api.notify_allowed_hosts"

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def allowed_entry(entry: str) -> str | IpNetwork:
    """One entry of notify_allowed_hosts: a host name (`hooks.example.com`, `*.example.com`
    for its subdomains) or an address or network (`10.1.2.3`, `10.0.0.0/8`, `fd00::/8`)."""
    text = entry.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    name = text[2:] if text.startswith("*.") else text
    if not name or "/" in name or ":" in name or " " in name:
        raise BadAddress(f"{entry!r} is not a host name, address or network (CIDR)")
    return f"*.{ascii_host(name)}" if text.startswith("*.") else ascii_host(name)


def shown_host(host: str) -> str:
    """A host as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class HostPolicy:
    """Where an ad-hoc notification may connect: the platforms' hosts, the hosts the
    configuration names and the listed ones; and, after DNS, only to public addresses unless
    the address is in a listed network or its host name was listed itself."""

    names: frozenset[str] = frozenset()  # allowed host names (ASCII, lower case)
    listed: frozenset[str] = frozenset()  # named in notify_allowed_hosts: private allowed
    domains: tuple[str, ...] = ()  # ".example.com": its subdomains are allowed
    networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def build(cls, entries: list[str], configured: set[str]) -> HostPolicy:
        names, domains, networks = set(), list(PLATFORM_DOMAINS), []
        for entry in entries:
            parsed = allowed_entry(entry)
            if isinstance(parsed, str) and parsed.startswith("*."):
                domains.append(parsed[1:])
            elif isinstance(parsed, str):
                names.add(parsed)
            else:
                networks.append(parsed)
        return cls(
            frozenset({*PLATFORM_HOSTS, *names, *(h.lower() for h in configured)}),
            frozenset(names),
            tuple(domains),
            tuple(networks),
        )

    def _in_networks(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def host_problem(self, host: str) -> str | None:
        """Why an ad-hoc notification may not go to this host (before any DNS), or None."""
        host = host.lower().rstrip(".")
        if host in self.names or host.endswith(self.domains) or self._in_networks(host):
            return self.address_problem(host, host) if is_ip(host) else None
        return (
            f"host {shown_host(host)} is not allowed for ad-hoc notifications: only the "
            f"platforms' hosts, hosts the configuration names and {ALLOW_SETTING}"
        )

    def address_problem(self, host: str, address: str) -> str | None:
        """Why the connection to `address` (what `host` resolved to) is refused, or None."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"{address!r} is not an IP address"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_global and not ip.is_multicast:
            return None
        if any(ip in network for network in self.networks) or host.lower() in self.listed:
            return None
        kind = (
            "loopback"
            if ip.is_loopback
            else "link-local"
            if ip.is_link_local
            else "private"
            if ip.is_private
            else "non-public"
        )
        return (
            f"refused: {shown_host(host)} is at {shown_host(str(ip))}, a {kind} address; ad-hoc "
            f"notifications reach such addresses only when {ALLOW_SETTING} lists them"
        )


def is_ip(host: str) -> bool:
    """Whether `host` is an IP address (not a name)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
