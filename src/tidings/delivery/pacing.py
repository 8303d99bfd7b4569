"""Pacing: never send to a destination faster than its platform allows (sliding windows).

Pure functions over the recent send times of one destination; the worker keeps those times
in the database so every worker, on every machine, paces against the same history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from tidings.channels.base import Limits

# A small margin so our window and the platform's never disagree by clock skew.
_MARGIN = 0.05


def windows(limits: Limits) -> list[tuple[int, float]]:
    """(messages, seconds) windows to respect."""
    found = []
    if limits.per_second:
        found.append((limits.per_second, 1.0))
    if limits.per_minute:
        found.append((limits.per_minute, 60.0))
    return found


def wait_time(recent: Sequence[float], limits: Limits, now: float) -> float:
    """Seconds to wait before the next send so every window stays within its count."""
    wait = 0.0
    for count, seconds in windows(limits):
        inside = [t for t in recent if t > now - seconds - _MARGIN]
        if len(inside) >= count:
            # The oldest send that must leave the window before one more fits.
            oldest = sorted(inside)[len(inside) - count]
            wait = max(wait, oldest + seconds + _MARGIN - now)
    return max(0.0, wait)


def remember(recent: Sequence[float], limits: Limits, sent_at: float) -> list[float]:
    """The recent send times after one more send, trimmed to what the windows still need."""
    longest = max((seconds for _, seconds in windows(limits)), default=0.0)
    keep = max((count for count, _ in windows(limits)), default=0)
    if not keep:
        return []
    times = [t for t in recent if t > sent_at - longest - _MARGIN] + [sent_at]
    return sorted(times)[-keep:]


# --- digests (delivery.coalesce) -----------------------------------------------------------


def reserved(limits: Limits) -> Limits:
    """The limits single messages keep to on a destination whose backlog may be merged: a
    quarter of each minute's sends is kept for digests, so a burst never spends the whole
    minute on single messages while the digest of what comes next waits for the minute's end."""
    if not limits.per_minute or limits.per_minute < 4:
        return limits
    return replace(limits, per_minute=limits.per_minute - limits.per_minute // 4)


def capacity(
    recent: Sequence[float], limits: Limits, now: float, horizon: float, enough: int
) -> int:
    """How many sends fit in [now, now + horizon] after `recent`, counted up to `enough`."""
    times = list(recent)
    at, count = now, 0
    while count < enough:
        at += wait_time(times, limits, at)
        if at > now + horizon:
            break
        times = remember(times, limits, at)
        count += 1
    return count


def spread_time(recent: Sequence[float], limits: Limits, now: float) -> float:
    """Seconds to wait before the next digest so that the sends a window has left are spread
    over the rest of it, not spent at once: a steady stream of events then gets a digest
    every few seconds instead of several small ones now and nothing until the window ends."""
    wait = wait_time(recent, limits, now)
    if not recent:
        return wait
    last = max(recent)
    for count, seconds in windows(limits):
        inside = sorted(t for t in recent if t > now - seconds - _MARGIN)
        free = count - len(inside)
        if inside and free > 0:
            frees_at = inside[0] + seconds + _MARGIN
            wait = max(wait, last + (frees_at - last) / (free + 1) - now)
    return max(0.0, wait)
