"""Clocks the delivery layer runs on: the real one, or a scaled one so that tests of
"20 per minute" take milliseconds while every party (sender, pacing, simulator) agrees on time."""

from __future__ import annotations

import asyncio
import time


class Clock:
    """Wall-clock time (epoch seconds) and sleeping."""

    def now(self) -> float:
        return time.time()

    def __call__(self) -> float:  # so a Clock can be handed to the sandbox as a time function
        return self.now()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock(Clock):
    """Time that runs `scale` times faster than real time, from `start` (default: now)."""

    def __init__(self, scale: float, start: float | None = None) -> None:
        self.scale = scale
        self._origin_real = time.monotonic()
        self._origin = time.time() if start is None else start

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._origin_real) * self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.scale)
