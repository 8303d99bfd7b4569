"""What the sandbox received: one ``Received`` row per request, rejected ones included, so a
test can assert both "it arrived" and "the platform would have refused it, and why"."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tidings.sandbox.clock import Clock

log = logging.getLogger(__name__)

PLATFORMS = ("dingtalk", "wecom", "feishu", "feishu_app", "msteams", "slack", "webhook", "mail")


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the simulated platform saw and answered it."""

    seq: int
    platform: str
    destination: str
    accepted: bool
    http_status: int
    code: int | None
    message: str
    msgtype: str | None
    headers: dict[str, str]
    query: dict[str, str]
    body: Any
    text: str
    mentions: list[str]
    at: float
    method: str = "POST"
    extra: dict[str, Any] = field(default_factory=dict)
    """Platform specifics, e.g. Feishu app ``message_id`` / ``duplicate``, SMTP ``login``."""

    @property
    def duplicate(self) -> bool:
        """An idempotent repeat (Feishu ``uuid``): answered like the original, but it is
        not a new message anybody sees."""
        return bool(self.extra.get("duplicate"))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (the control endpoint ``GET /_sandbox/messages`` serves these)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Received:
        """Rebuild a row fetched from a sandbox running in another process."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


OnReceive = Callable[[Received], None]


class MessageLog:
    """Thread-safe, in-memory, arrival-ordered log (the server may run on another thread)."""

    def __init__(self, clock: Clock, on_receive: OnReceive | None = None) -> None:
        self._clock = clock
        self._on_receive = on_receive
        self._rows: list[Received] = []
        self._seq = 0
        self._lock = threading.Lock()

    def add(self, **fields: Any) -> Received:
        """Append a row, stamping ``seq`` and ``at``; then tell ``on_receive``."""
        with self._lock:
            self._seq += 1
            row = Received(seq=self._seq, at=self._clock(), **fields)
            self._rows.append(row)
        if self._on_receive is not None:
            try:
                self._on_receive(row)
            except Exception:  # a printing callback must never break the simulated platform
                log.exception("sandbox on_receive callback failed")
        return row

    def select(
        self,
        platform: str | None = None,
        destination: str | None = None,
        accepted: bool | None = None,
    ) -> list[Received]:
        """Rows in arrival order, optionally filtered. ``accepted=True`` means "became a
        visible message", so idempotent repeats (``duplicate``) are left out of it."""
        with self._lock:
            rows = list(self._rows)
        return [
            r
            for r in rows
            if (platform is None or r.platform == platform)
            and (destination is None or r.destination == destination)
            and (accepted is None or (r.accepted == accepted and not (accepted and r.duplicate)))
        ]

    def clear(self) -> None:
        """Forget every row (``seq`` keeps increasing so rows stay unambiguous)."""
        with self._lock:
            self._rows.clear()
