"""A destination's circuit breaker (#20.7): retryable failures in a row pause the destination
as a whole, for longer with each pause in a row, instead of each queued delivery spending its
retries in turn; a success resumes it. A pause and a resumption are logged (`tidings worker`
and `tidings serve` print them as lines of their log format)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from tidings.channels.base import Ok, Outcome, Retry
from tidings.store.queue import Circuit

log = logging.getLogger("tidings.delivery")


def after(
    circuit: Circuit,
    outcome: Outcome,
    now: float,
    *,
    failures: int,
    pause: float,
    max_pause: float,
    reason: Callable[[str], str],
) -> Circuit:
    """The breaker after an attempt: a success closes it; a retryable failure the platform
    did not ask to wait for (a network error, a timeout, a 5xx) counts, and `failures` in a
    row (0: never), or one right after a pause, pause it again, each pause in a row twice as
    long as the one before (from `pause`, at most `max_pause`). `reason` masks the failure's
    text (the destination's own secrets too)."""
    if isinstance(outcome, Ok):
        return Circuit()
    if not isinstance(outcome, Retry) or outcome.after is not None or failures <= 0:
        return circuit  # refused for this message, or paced by the platform: not broken
    in_a_row = circuit.failures + 1
    if in_a_row < failures and circuit.pauses == 0:
        return replace(circuit, failures=in_a_row)
    pauses = circuit.pauses + 1
    length = min(max_pause, pause * 2 ** min(pauses - 1, 30))
    return Circuit(in_a_row, pauses, now + length, reason(outcome.reason))


def report(before: Circuit, current: Circuit, key: str, channel: str, address: str) -> None:
    """Log the destination's pause, or its resumption after one."""
    if current.pauses > before.pauses and current.paused_until is not None:
        until = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(current.paused_until))
        fields = {
            "event": "paused",
            "destination": key,
            "channel": channel,
            "address": address,
            "until": until,
            "failures": current.failures,
            "reason": current.reason,
        }
        log.warning(
            "%s paused until %s after %d failures in a row: %s",
            address or key,
            until,
            current.failures,
            current.reason,
            extra={"fields": fields},
        )
    elif before.pauses and not current.pauses:
        fields = {"event": "resumed", "destination": key, "channel": channel, "address": address}
        log.info("%s answers again: resumed", address or key, extra={"fields": fields})
