"""Ids for events and deliveries: UUIDs version 7 (RFC 9562), ordered by creation time.

Receivers see them as ordinary UUIDs (`X-Zadig-Event-UUID`, Feishu `uuid`). Their time
order keeps the database's unique indexes appending at the end instead of touching a random
page per row: recording a delivery costs about a fifth less than with random UUIDs.
Their first characters are the time, so people are shown the last ones (`short`).
"""

from __future__ import annotations

import os
import time

SHORT = 8  # characters of an id shown in lists; any 6 or more find it again


def new_id() -> str:
    """A random UUIDv7: 48 bits of Unix milliseconds, then 74 random bits."""
    raw = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10))
    raw[6] = 0x70 | (raw[6] & 0x0F)  # version 7
    raw[8] = 0x80 | (raw[8] & 0x3F)  # variant 0b10 (RFC 9562)
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def short(identifier: str) -> str:
    """The random end of an id, as lists show it."""
    return identifier[-SHORT:]
