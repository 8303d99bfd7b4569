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
from typing import TYPE_CHECKING

from tidings import channels
from tidings.channels.base import Destination

if TYPE_CHECKING:  # types only: `tidings notify` never loads the configuration models
    from tidings.config import Config, NotifyCtl

EPHEMERAL_PREFIX = "notify/"
# `<workflow>/notify_ctls[i]`, a job's `<workflow>/jobs/<job>/notify_ctls[i]`, a notification
# job's `<workflow>/jobs/<job>/spec`; `.../to/<receiver>` for channels that send to each person.
_CTL_KEY = re.compile(
    r"^(?P<workflow>.+?)(?:/jobs/(?P<job>[A-Za-z0-9_-]+))?"
    r"/(?:notify_ctls\[(?P<index>\d+)\]|(?P<spec>spec))(?:/to/(?P<to>.+))?$"
)


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
        ctl = _find_ctl(self.config, match)
        if ctl is None:
            return Unresolved(
                f"destination {key} is no longer in the configuration", permanent=True
            )
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


def _find_ctl(config: Config, match: re.Match[str]) -> NotifyCtl | None:
    """The notify_ctl a key names: the workflow's, a job's, or a notification job's spec."""
    workflow = next((w for w in config.workflows if w.name == match["workflow"]), None)
    if workflow is None:
        return None
    ctls = workflow.notify_ctls
    if match["job"]:
        job = workflow.job(match["job"])
        if job is None:
            return None
        if match["spec"]:
            spec = job.typed
            return spec.ctl() if job.type == "notification" and spec is not None else None
        ctls = job.notify_ctls
    elif match["spec"]:
        return None
    index = int(match["index"])
    return ctls[index] if index < len(ctls) else None
