"""Prometheus metrics of the delivery worker (`tidings worker --metrics-port`)."""

from __future__ import annotations

import time
from typing import Any

from tidings.store.db import Store


class Metrics:
    """Counters and histograms the worker updates, and queue gauges read from the database
    when scraped (so they are right whichever worker did the work)."""

    def __init__(self, store: Store, lease: float = 30.0) -> None:
        """`lease`: system.delivery.lease; a worker seen within it is counted as running."""
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "tidings_deliveries_total",
            "Deliveries that reached a final status, by channel and status (sent/failed/dead).",
            ["channel", "status"],
            registry=self.registry,
        )
        self.attempts = Counter(
            "tidings_attempts_total",
            "Send attempts, by channel and outcome (ok/retry/fail).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tidings_send_seconds",
            "Time of one send attempt (HTTP request and answer), by channel.",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.digests = Counter(
            "tidings_digests_sent_total",
            "Digests sent: a rate-limited robot's backlog merged into one message, by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.digests_made = Counter(
            "tidings_digests_made_total",
            "Digests made from backlogs (sent or not yet), by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.merged = Counter(
            "tidings_events_coalesced_total",
            "Deliveries merged into digests, by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.registry.register(_QueueCollector(store, lease))

    def attempt(self, channel: str, outcome: str, seconds: float) -> None:
        self.attempts.labels(channel, outcome).inc()
        self.latency.labels(channel).observe(seconds)

    def final(self, channel: str, status: str) -> None:
        self.deliveries.labels(channel, status).inc()

    def coalesced(self, channel: str, digests: int, merged: int) -> None:
        self.digests_made.labels(channel).inc(digests)
        self.merged.labels(channel).inc(merged)

    def digest_sent(self, channel: str) -> None:
        self.digests.labels(channel).inc()

    def written(self, batch: Any) -> None:
        """Hook for group commits (nothing to count yet)."""

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        from prometheus_client import start_http_server

        start_http_server(port, addr=host, registry=self.registry)


class _QueueCollector:
    def __init__(self, store: Store, lease: float) -> None:
        self.store = store
        self.lease = lease

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        from tidings.store import workers
        from tidings.store.browse import paused_count
        from tidings.store.queue import depth, lag_by_destination

        count, oldest = depth(self.store)
        yield GaugeMetricFamily(
            "tidings_queue_depth", "Deliveries waiting to be sent.", value=count
        )
        yield GaugeMetricFamily(
            "tidings_oldest_pending_age_seconds",
            "Age of the oldest delivery still waiting to be sent (0 when none).",
            value=max(0.0, time.time() - oldest) if oldest else 0.0,
        )
        lag = GaugeMetricFamily(
            "tidings_destination_lag_seconds",
            "Per destination with deliveries waiting: age of its oldest waiting delivery.",
            labels=["destination", "channel"],
        )
        now = time.time()
        for key, channel, since in lag_by_destination(self.store):
            lag.add_metric([key, channel], max(0.0, now - since))
        yield lag
        yield GaugeMetricFamily(
            "tidings_paused_destinations",
            "Destinations their circuit breaker has paused after failures in a row.",
            value=paused_count(self.store, now),
        )
        yield GaugeMetricFamily(
            "tidings_workers",
            "Workers running: their heartbeat is less than a lease old (they share the queue).",
            value=workers.alive(self.store, now - self.lease),
        )
