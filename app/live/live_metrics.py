"""Prometheus metrics of live subscriptions, in the app's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Upstream calls one poll of one provider makes; seconds from an upstream change to its event.
CALL_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50)
LAG_BUCKETS = (0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600)


class LiveMetrics:
    """Open subscriptions, pollers, events, dropped subscribers, the replicas' leases, upstream
    calls per poll and event lag."""

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
        self.poll_calls = Histogram(
            "gateway_live_poll_calls",
            "Upstream calls of one poll of one watch at one provider (one poll per interval).",
            ["provider"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.lag = Histogram(
            "gateway_live_event_lag_seconds",
            "From the upstream's time of a change (creation, expiry, update) to its event.",
            ["provider", "kind"],
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.sweeps = Counter(
            "gateway_live_sweeps",
            "Sweeps of every listing of a provider completed by a watch: until its first, a "
            "watch knows only the sessions it has read so far.",
            ["provider"],
            registry=registry,
        )
