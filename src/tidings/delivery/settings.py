"""A worker's settings and each channel's pacing, as the configuration says them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tidings import channels
from tidings.channels.base import Limits
from tidings.delivery.worker import Settings

if TYPE_CHECKING:  # types only: `tidings notify` never loads the configuration models
    from tidings.config.models import Config


def settings_of(config: Config | None) -> Settings:
    if config is None:
        return Settings()
    d = config.system.delivery
    return Settings(
        concurrency=d.concurrency,
        claim_batch=d.claim_batch,
        lease=d.lease,
        max_attempts=d.max_attempts,
        timeout=d.timeout,
        attempt_timeout=d.attempt_timeout,
        breaker_failures=d.breaker_failures,
        breaker_pause=d.breaker_pause,
        breaker_max_pause=d.breaker_max_pause,
        coalesce_after=d.coalesce_after,
    )


def limits_of(config: Config | None) -> Callable[[str], Limits]:
    """Each channel's platform limits; webhooks paced as configured (unlimited by default)."""

    def limits(channel: str) -> Limits:
        if channel == "webhook" and config is not None:
            d = config.system.delivery
            return Limits(per_second=d.webhook_per_second, per_minute=d.webhook_per_minute)
        return channels.get(channel).limits

    return limits
