"""The network settings of a configuration that deliveries use: `system.proxy` and
`system.tls`. Without a configuration (`tidings notify`), or without `system.proxy`, the
environment's proxy settings apply (HTTPS_PROXY, NO_PROXY, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidings.config.models import Config
    from tidings.delivery.proxies import Proxies


@dataclass(frozen=True)
class Network:
    proxies: Proxies | None  # None: the environment's
    ca_file: str | None  # PEM of CAs trusted besides the system's


def network_of(config: Config | None) -> Network | None:
    """What the configuration says (None: nothing, use the environment)."""
    if config is None:
        return None
    system = config.system
    proxies = None
    if system.proxy is not None:
        from tidings.delivery.proxies import Proxies

        proxies = Proxies.configured(system.proxy.address, system.proxy.no_proxy)
    return Network(proxies, system.tls.ca_file or None)
