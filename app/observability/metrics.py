"""Prometheus metrics of one gateway app; label values are bounded (no ids, no queries)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, parse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from app.core.circuit import CircuitState

# Operation names come from clients: only well-formed ones, and only so many distinct ones.
# The operations of the gateway's own documents (trusted documents, GraphiQL's examples) always
# have their label. Any other name takes one of MAX_OPERATION_NAMES labels, for good, the first
# time it is used; one caller may bring at most OPERATION_NAMES_PER_CALLER of them (anonymous
# callers all count as one: an address is cheap to change), so a caller inventing names cannot
# take the labels of the others' operations. Names past either bound are counted as `other`.
MAX_OPERATION_NAMES = 100
OPERATION_NAMES_PER_CALLER = 20
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_CIRCUIT_VALUE = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


class Metrics:
    """The gateway's counters and histograms, in their own registry (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._trusted: frozenset[str] = frozenset()
        self._operations: set[str] = set()
        self._brought: dict[str, int] = {}  # caller -> operation names it brought
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.requests = Counter(
            "gateway_graphql_requests",
            "GraphQL operations by operation name and outcome (ok, partial, error).",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "gateway_graphql_request_duration_seconds",
            "Time to answer a GraphQL operation.",
            ["operation"],
            registry=self.registry,
        )
        self.upstream_calls = Counter(
            "gateway_upstream_calls",
            "Upstream HTTP calls by provider and outcome (HTTP status, or the error code).",
            ["provider", "status"],
            registry=self.registry,
        )
        self.upstream_seconds = Histogram(
            "gateway_upstream_call_duration_seconds",
            "Upstream call latency, retries included.",
            ["provider"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "gateway_upstream_errors",
            "Failed upstream calls by provider and gateway error code.",
            ["provider", "code"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "gateway_dataloader_batch_size",
            "Keys per dataloader batch.",
            ["loader"],
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=self.registry,
        )
        self.people_reload_failures = Counter(
            "gateway_people_reload_failures",
            "Re-reads of GATEWAY_PEOPLE_FILE that failed (the people loaded before were kept).",
            registry=self.registry,
        )
        self.circuit = Gauge(
            "gateway_circuit_state",
            "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.",
            ["provider"],
            registry=self.registry,
        )

        self.in_flight = Gauge(
            "gateway_requests_in_flight",
            "GraphQL requests admitted and not yet answered.",
            registry=self.registry,
        )
        self.shed = Counter(
            "gateway_requests_shed_total",
            "GraphQL requests refused by admission control, on arrival or after waiting (caller: "
            "429, over its share while callers compete; process: 503, saturated).",
            ["reason"],
            registry=self.registry,
        )
        self.websockets_refused = Counter(
            "gateway_websocket_upgrades_refused_total",
            "WebSocket upgrades refused before the handshake, by reason: address (429, the "
            "client address has its limit open), process (503, the process's WebSocket or "
            "connection limit).",
            ["reason"],
            registry=self.registry,
        )
        self.admission_queue = Gauge(
            "gateway_admission_queue_requests",
            "GraphQL requests waiting for a slot in admission control's queue.",
            registry=self.registry,
        )
        self.admission_wait = Histogram(
            "gateway_admission_wait_seconds",
            "Time a GraphQL request waited in the admission queue, by how the wait ended "
            "(admitted, evicted, timeout, disconnected); requests admitted at once do not wait.",
            ["outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )

        # Shared state (app/state/shared.py and the features on it).
        self.redis_up = Gauge(
            "gateway_redis_up",
            "1 when GATEWAY_REDIS_URL is unset or Redis answered last, 0 during an outage.",
            registry=self.registry,
        )
        self.redis_full = Gauge(
            "gateway_redis_full",
            "1 while Redis refuses writes for lack of memory (maxmemory reached), else 0.",
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "gateway_redis_errors_total",
            "Failed Redis calls (unreachable or full) by feature (rate_limit, response_cache, "
            "persisted, readiness).",
            ["feature"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "gateway_rate_limited_total",
            "Requests refused with RATE_LIMITED, by limit (requests, cost).",
            ["limit"],
            registry=self.registry,
        )
        self.rate_limit_skipped = Counter(
            "gateway_rate_limit_skipped_total",
            "Requests let through unlimited because Redis was unreachable (fail-open).",
            registry=self.registry,
        )
        self.response_cache = Counter(
            "gateway_response_cache_total",
            "Response cache lookups by result (hit, miss, skipped: Redis unreachable).",
            ["result"],
            registry=self.registry,
        )
        self.persisted = Counter(
            "gateway_persisted_documents_total",
            "Requests by how their document came (id, apq_hit, apq_registered, apq_not_found, "
            "refused), and APQ documents not kept (apq_too_large, apq_over_limit, "
            "apq_store_full, apq_store_unavailable).",
            ["result"],
            registry=self.registry,
        )

    def trust(self, documents: Iterable[str]) -> None:
        """Give the named operations of these documents their labels, whoever sends them."""
        names: set[str] = set(self._trusted)
        for document in documents:
            try:
                definitions = parse(document).definitions
            except GraphQLError:
                continue  # not a document: nothing to name
            names.update(
                definition.name.value
                for definition in definitions
                if isinstance(definition, OperationDefinitionNode) and definition.name
            )
        self._trusted = frozenset(name for name in names if _NAME.match(name))

    def operation(self, name: str | None, caller: str = "") -> str:
        """A bounded label for the operation name a caller sent."""
        if not name:
            return "anonymous"
        if name in self._operations or name in self._trusted:
            return name
        if not _NAME.match(name):
            return "invalid"
        brought = self._brought.get(caller, 0)
        if len(self._operations) >= MAX_OPERATION_NAMES or brought >= OPERATION_NAMES_PER_CALLER:
            return "other"
        self._operations.add(name)
        self._brought[caller] = brought + 1
        return name

    def watch_circuit(self, provider: str, state: Callable[[], CircuitState]) -> None:
        """Report `state()` at every scrape."""
        self.circuit.labels(provider).set_function(lambda: _CIRCUIT_VALUE[state()])

    def upstream(self, provider: str, outcome: str, seconds: float, error: str | None) -> None:
        """Count one finished upstream call."""
        self._child(self.upstream_calls, provider, outcome).inc()
        self._child(self.upstream_seconds, provider).observe(seconds)
        if error is not None:
            self._child(self.upstream_errors, provider, error).inc()

    def request(
        self, operation: str | None, outcome: str, seconds: float, caller: str = ""
    ) -> None:
        """Count one answered GraphQL operation of `caller` (see Principal.identity)."""
        label = self.operation(operation, caller)
        self._child(self.requests, label, outcome).inc()
        self._child(self.request_seconds, label).observe(seconds)

    def batch(self, loader: str) -> Callable[[float], None]:
        """What records the size of each batch of `loader`."""
        histogram: Callable[[float], None] = self._child(self.batch_size, loader).observe
        return histogram

    def _child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once: it takes a lock and checks every value.

        Label values are bounded (see `operation`), and so is this cache.
        """
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child
