"""Which proxy a delivery goes through: `system.proxy` when the configuration has it, else
the environment's, read as curl and requests read it.

Environment: `https_proxy` / `HTTPS_PROXY` for https:// targets, `http_proxy` / `HTTP_PROXY`
for http:// ones, `all_proxy` / `ALL_PROXY` for both; `no_proxy` / `NO_PROXY` lists hosts
reached directly. `system.proxy` gives one proxy for both schemes and its own `no_proxy`.
A no_proxy entry is `*`, a name (its subdomains too; a leading `.` or `*.` is the same), an
IP address or network (`10.0.0.0/8`), each optionally with `:port`. Loopback targets
(localhost, 127.0.0.0/8, ::1: the sandbox, a local receiver) never go through a proxy.

Proxies are http:// (plain to the proxy) or https:// (TLS to the proxy); https:// targets
are tunnelled through either with CONNECT, so the proxy sees the host, never the message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tidings import net
from tidings.delivery.http.errors import HttpError
from tidings.net import Proxy as Proxy  # re-exported: what proxy_for answers

if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv6Address


def parse_proxy(setting: str, where: str = "system.proxy.address") -> Proxy:
    """tidings.net.parse_proxy, failing a delivery for good when the setting is wrong."""
    try:
        return net.parse_proxy(setting, where)
    except net.BadAddress as exc:
        raise HttpError(str(exc), permanent=True) from None


class Proxies:
    """The proxy of each target (None: direct), decided once per scheme, host and port.
    Settings are read when first needed: a wrong one fails the deliveries that would use
    it, with the setting's name, and nothing else."""

    def __init__(
        self,
        by_scheme: Mapping[str, tuple[str, str]],  # scheme -> (proxy URL, where it is set)
        no_proxy: Iterable[str] = (),
    ) -> None:
        self._settings = {k: v for k, v in by_scheme.items() if v[0].strip()}
        self._no_proxy = [entry.strip().lower() for entry in no_proxy if entry.strip()]
        self._chosen: dict[tuple[str, str, int], Proxy | None] = {}
        self._parsed: dict[str, Proxy] = {}

    @classmethod
    def configured(cls, address: str, no_proxy: Iterable[str] = ()) -> Proxies:
        """`system.proxy`: one proxy for http:// and https:// targets ("" for none)."""
        where = "system.proxy.address"
        return cls({"http": (address, where), "https": (address, where)}, no_proxy)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Proxies:
        by_scheme = {}
        for scheme in ("http", "https"):
            for name in (f"{scheme}_proxy", "all_proxy"):
                value, spelled = _setting(environ, name)
                if value:
                    by_scheme[scheme] = (value, f"{spelled} in the environment")
                    break
        no_proxy, _ = _setting(environ, "no_proxy")
        return cls(by_scheme, no_proxy.split(","))

    def __bool__(self) -> bool:
        return bool(self._settings)

    def for_target(self, scheme: str, host: str, port: int) -> Proxy | None:
        key = (scheme, host, port)
        if key not in self._chosen:
            self._chosen[key] = self._choose(scheme, host, port)
        return self._chosen[key]

    def _choose(self, scheme: str, host: str, port: int) -> Proxy | None:
        setting = self._settings.get(scheme)
        if setting is None or _loopback(host) or _bypassed(host, port, self._no_proxy):
            return None
        url, where = setting
        if url not in self._parsed:
            self._parsed[url] = parse_proxy(url, where)
        return self._parsed[url]


def _setting(environ: Mapping[str, str], name: str) -> tuple[str, str]:
    # The lower-case name first, as curl reads it; either spelling works.
    for spelled in (name, name.upper()):
        value = (environ.get(spelled) or "").strip()
        if value:
            return value, spelled
    return "", name.upper()


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


def _bypassed(host: str, port: int, no_proxy: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for raw in no_proxy:
        entry, wanted = _split_port(raw.replace(" ", ""))
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
