"""Destination keys: what a delivery is addressed to, never where its ctl stands in a file.

A key is a fingerprint of the channel and what it addresses (a robot's URL with its token, a
Feishu app and chat, a webhook URL, a mail server), hashed so that it reveals nothing, and,
for channels that send to each person (`feishu_person`, `mail`), of the person too:

    dingding:5f0c9a3e61b27d4488a1c2e0          one robot
    mail:0b7d41c2f9e8a6d3c1b0e4f2/9a8b7c6d5e4f3a21   one mailbox on one mail server

The part before `/` (the address key) is what a configuration must still hold for a queued
delivery to be sent: a sender finds the destination with that key in the configuration it
runs with and signs with today's secret. This module is the only one that builds or reads
keys; every other module treats them as opaque strings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_ADDRESS_HEX = 24  # 96 bits: no two addresses of one installation collide
_RECIPIENT_HEX = 16


def _digest(parts: Sequence[str], size: int) -> str:
    # NUL cannot occur in a URL, an id or an address: the joined parts are unambiguous.
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:size]


def address_key(channel: str, parts: Sequence[str]) -> str:
    """The key of what a notify_ctl addresses: `channel:` and a hash of `parts`."""
    return f"{channel}:{_digest([channel, *parts], _ADDRESS_HEX)}"


def key(address: str, recipient: str | None = None) -> str:
    """A delivery's destination key: the address key, with one person of it when given."""
    if recipient is None:
        return address
    return f"{address}/{_digest([recipient], _RECIPIENT_HEX)}"


def address_of(destination_key: str) -> str:
    """The address key a destination key belongs to (itself for robots and webhooks)."""
    return destination_key.partition("/")[0]


def channel_of(destination_key: str) -> str:
    """The webhook_type a destination key was made for."""
    return destination_key.partition(":")[0]
