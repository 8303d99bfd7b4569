"""Finding a stored delivery's destination (address and secrets) at send time.

Stored requests name their destination by a key; the address, secret and token come from the
configuration the sender runs with, or, for ad-hoc `notify` destinations, from the memory of
the process that created them (their secrets are never stored).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from tidings import channels
from tidings.channels.base import Destination
from tidings.config import Config

EPHEMERAL_PREFIX = "notify/"
# `<workflow>/notify_ctls[i]`, and `.../to/<receiver>` for channels that send to each person.
_CTL_KEY = re.compile(r"^(?P<workflow>.+?)/notify_ctls\[(?P<index>\d+)\](?:/to/(?P<to>.+))?$")


def ephemeral_key(webhook_type: str, url: str) -> str:
    """A stable key for an ad-hoc destination that reveals nothing of its (secret) URL."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return f"{EPHEMERAL_PREFIX}{webhook_type}/{digest}"


@dataclass(frozen=True)
class Unresolved:
    reason: str
    permanent: bool  # False: another process may hold it (ad-hoc notify), leave it alone


class Resolver:
    def __init__(self, config: Config | None, extra: Mapping[str, Destination] | None = None):
        self.config = config
        self.extra = dict(extra or {})

    def __call__(self, key: str, channel: str) -> Destination | Unresolved:
        if key in self.extra:
            return self.extra[key]
        if key.startswith(EPHEMERAL_PREFIX):
            return Unresolved(
                "an ad-hoc destination only its `tidings notify` process can send", permanent=False
            )
        match = _CTL_KEY.match(key)
        if self.config is None or match is None:
            return Unresolved(f"destination {key} is not in the configuration", permanent=True)
        workflow = next((w for w in self.config.workflows if w.name == match["workflow"]), None)
        index = int(match["index"])
        if workflow is None or index >= len(workflow.notify_ctls):
            return Unresolved(
                f"destination {key} is no longer in the configuration", permanent=True
            )
        ctl = workflow.notify_ctls[index]
        if ctl.webhook_type != channel:
            return Unresolved(
                f"destination {key} is now a {ctl.webhook_type} notification, not {channel}",
                permanent=True,
            )
        sub = ctl.sub_config()
        if sub is None:
            return Unresolved(f"destination {key} has no {channel} settings any more", True)
        try:
            return channels.get(channel).destination(sub, key, self.config.system)
        except ValueError as exc:  # e.g. its Feishu app or mail server was removed
            return Unresolved(f"destination {key}: {exc}", permanent=True)
