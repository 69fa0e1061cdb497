"""Prometheus metrics of webhook delivery, in the app's registry; `endpoint` is Endpoint.key."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class WebhookMetrics:
    """Deliveries and failed attempts, retries, dead letters, full queues, queue depth."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.deliveries = Counter(
            "gateway_webhook_deliveries",
            "Delivery attempts by outcome: delivered (2xx), failed (any other answer, a timeout "
            "or a connection error), gone (410).",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self.retries = Counter(
            "gateway_webhook_retries",
            "Deliveries scheduled again after a failed attempt.",
            ["endpoint"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "gateway_webhook_dead_letters",
            "Messages given up on, by reason: expired (retried for GATEWAY_WEBHOOK_RETRY_FOR), "
            "disabled (the endpoint answered 410), full (its queue was full).",
            ["endpoint", "reason"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "gateway_webhook_queue_depth",
            "Messages waiting for delivery (in Redis: the stream's length as last read).",
            ["endpoint"],
            registry=registry,
        )
        self.queue_full = Counter(
            "gateway_webhook_queue_full",
            "Events refused because the endpoint's queue held GATEWAY_WEBHOOK_QUEUE messages.",
            ["endpoint"],
            registry=registry,
        )
