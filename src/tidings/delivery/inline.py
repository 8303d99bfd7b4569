"""Sending a batch of deliveries now, with retries until a deadline (`tidings send` / `notify`).

Per destination, deliveries go out one after another in order (a card before its mentions);
different destinations are sent concurrently. Retryable outcomes wait with exponential backoff
and jitter, or as long as the platform asked; permanent failures stop at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tidings.channels import get as channel
from tidings.channels.base import Destination, Fail, Ok, Outcome, Request, Retry
from tidings.delivery.transport import HttpTransport, TransportError, prepare


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1: base * factor**(n-1), capped, times a random factor in [0.5, 1]."""

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0

    def delay(self, attempt: int, asked: float | None = None) -> float:
        computed = min(self.cap, self.base * self.factor ** (attempt - 1))
        jittered = computed * random.uniform(0.5, 1.0)
        return max(jittered, asked or 0.0)


@dataclass
class Delivery:
    """One request to one destination; its id is stable across retries (sent as event UUID)."""

    id: str
    request: Request
    destination_display: str = ""


@dataclass
class Attempt:
    at: float
    outcome: Outcome
    http_status: int | None = None


@dataclass
class Result:
    delivery: Delivery
    outcome: Outcome  # the final one: Ok or Fail
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return isinstance(self.outcome, Ok)


async def _deliver_one(
    delivery: Delivery,
    destination: Destination | None,
    transport: HttpTransport,
    deadline: float,
    backoff: Backoff,
    clock: Callable[[], float],
) -> Result:
    result = Result(delivery, Fail("not attempted"))
    if destination is None:
        result.outcome = Fail(
            f"destination {delivery.request.destination} is no longer in the configuration"
        )
        return result
    interpret = channel(delivery.request.channel).interpret
    while True:
        now = clock()
        call = prepare(delivery.request, destination, delivery.id, time.time())
        status: int | None = None
        try:
            response = await transport.send(call, timeout=max(0.5, deadline - now))
            status = response.status
            outcome = interpret(response)
        except TransportError as exc:
            outcome = Retry(f"network error: {exc}")
        result.attempts.append(Attempt(time.time(), outcome, status))
        if not isinstance(outcome, Retry):
            result.outcome = outcome
            return result
        wait = backoff.delay(len(result.attempts), outcome.after)
        if clock() + wait > deadline:
            tries = len(result.attempts)
            result.outcome = Fail(
                f"gave up after {tries} attempt{'s' * (tries > 1)} within the deadline: "
                f"{outcome.reason}"
                + (f" (the platform asked to wait {outcome.after:g} s)" if outcome.after else ""),
                outcome.code,
            )
            return result
        await asyncio.sleep(wait)


async def deliver(
    deliveries: list[Delivery],
    destinations: Mapping[str, Destination],
    *,
    deadline_seconds: float = 60.0,
    backoff: Backoff | None = None,
    on_result: Callable[[Result], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[Result]:
    """Send every delivery; return results in the order given."""
    backoff = backoff or Backoff()
    deadline = clock() + deadline_seconds
    by_destination: dict[str, list[int]] = {}
    for index, delivery in enumerate(deliveries):
        by_destination.setdefault(delivery.request.destination, []).append(index)
    results: list[Result | None] = [None] * len(deliveries)

    async with HttpTransport() as transport:

        async def run_destination(key: str, indexes: list[int]) -> None:
            for index in indexes:
                result = await _deliver_one(
                    deliveries[index], destinations.get(key), transport, deadline, backoff, clock
                )
                results[index] = result
                if on_result is not None:
                    on_result(result)

        await asyncio.gather(*(run_destination(k, v) for k, v in by_destination.items()))
    return [r for r in results if r is not None]
