"""Prometheus metrics of live subscriptions, in the app's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class LiveMetrics:
    """Open subscriptions, pollers, events, dropped subscribers, and the replicas' leases."""

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
        self.leases = Gauge(
            "gateway_live_leases",
            "Watches this replica polls for every replica (it holds their lease in Redis).",
            registry=registry,
        )
        self.takeovers = Counter(
            "gateway_live_lease_takeovers",
            "Leases this replica took: a watch it began polling for every replica.",
            registry=registry,
        )
        self.outbox = Gauge(
            "gateway_live_outbox",
            "Events found or made here and not yet in the shared stream (Redis unreachable).",
            registry=registry,
        )
        self.lost = Counter(
            "gateway_live_events_lost",
            "Events dropped from a full outbox while Redis was unreachable (subscribers are told).",
            registry=registry,
        )
