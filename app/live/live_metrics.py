"""Prometheus metrics of live subscriptions, in the app's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class LiveMetrics:
    """Open subscriptions, running pollers, events by kind, dropped subscribers."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.subscriptions = Gauge(
            "gateway_live_subscriptions", "Open sessionEvents subscriptions.", registry=registry
        )
        self.pollers = Gauge(
            "gateway_live_pollers",
            "Poll loops running (one per distinct filter and caller scope).",
            registry=registry,
        )
        self.events = Counter(
            "gateway_live_events",
            "Session events published by pollers and revocations, by kind.",
            ["kind"],
            registry=registry,
        )
        self.problems = Counter(
            "gateway_live_problems",
            "Coded problems told to subscribers (failing provider, truncated watch, ...).",
            ["code"],
            registry=registry,
        )
        self.dropped = Counter(
            "gateway_live_dropped_subscribers",
            "Subscribers dropped because they did not keep up with their events.",
            registry=registry,
        )
