"""Finding a stored delivery's destination (address and secrets) at send time, by its key.

A delivery names its destination by what it addresses (channels.identity), never by where a
ctl stands in a file. The sender looks that address up among every notify_ctl of the
configuration it runs with, and sends with today's secret; ad-hoc `notify` destinations
(whose secrets are never stored) are known only to the process that took them (`extra`). A
destination this process does not know is not claimed at all: another configuration may
hold it, and only the configuration that queued it may say it is gone (queue.sweep_gone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from tidings.channels import identity
from tidings.channels.base import Destination

if TYPE_CHECKING:  # types only: `tidings notify` never loads the configuration models
    from tidings.config.models import Config


@dataclass(frozen=True)
class Unresolved:
    reason: str


def configured(config: Config | None) -> dict[str, Destination]:
    """Every destination the configuration addresses, by address key."""
    found: dict[str, Destination] = {}
    if config is None:
        return found
    for _, _, ctl in config.ctls():
        try:
            destination = ctl.destination(config.system)
        except ValueError:  # its Feishu app or mail server is not configured
            continue
        # Ctls that share a destination agree on its secrets (`tidings check` makes sure).
        found.setdefault(destination.key, destination)
    return found


class Resolver:
    def __init__(self, config: Config | None, extra: Mapping[str, Destination] | None = None):
        self.config = config
        self.known = configured(config)
        self.extra = dict(extra or {})
        self._json: str | None = None

    def add(self, destinations: Mapping[str, Destination]) -> None:
        """Ad-hoc destinations this process may send to (their secrets are in memory only)."""
        self.extra.update(destinations)
        self._json = None

    def forget(self, addresses: set[str]) -> None:
        """Ad-hoc destinations with nothing left to send."""
        for address in addresses:
            self.extra.pop(address, None)
        self._json = None

    def addresses(self) -> list[str]:
        """The address keys this process can send to: only their deliveries are claimed."""
        return sorted({*self.known, *self.extra})

    def addresses_json(self) -> str:
        """addresses() as the JSON array the queue's statements take (built once per change)."""
        if self._json is None:
            self._json = orjson.dumps(self.addresses()).decode("utf-8")
        return self._json

    def __call__(self, key: str) -> Destination | Unresolved:
        address = identity.address_of(key)
        found = self.known.get(address) or self.extra.get(address)
        if found is None:
            return Unresolved(f"destination {key} is not in this process's configuration")
        return found
