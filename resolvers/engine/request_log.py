"""RequestLog: one structured log line and the request metrics per GraphQL operation."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from app.observability.tracing import Tracing
from app.upstream import accounting

log = logging.getLogger("session_gateway.requests")


class RequestLog(SchemaExtension):
    """Logs request id, operation, duration, upstream calls and outcome; counts them."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        context = self.execution_context.context
        tracing: Tracing = getattr(context, "tracing", None) or Tracing()
        attributes = {"gateway.request_id": str(getattr(context, "request_id", ""))}
        with tracing.span("graphql request", attributes) as span:
            yield
            if span is not None:
                span.set_attribute(
                    "graphql.operation.name", self.execution_context.operation_name or ""
                )
        seconds = time.perf_counter() - started
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or []
        data = getattr(result, "data", None)
        outcome = "ok" if not errors else ("partial" if data else "error")
        name = self.execution_context.operation_name
        metrics = getattr(context, "metrics", None)
        if metrics is not None:
            principal = getattr(context, "principal", None)
            metrics.request(name, outcome, seconds, principal.identity if principal else "")
        log.info(
            "graphql request",
            extra={
                "requestId": getattr(context, "request_id", ""),
                "operation": name,
                "durationMs": round(seconds * 1000, 2),
                "upstreamCalls": accounting.calls(),
                "outcome": outcome,
                "errorCodes": sorted(
                    {str((e.extensions or {}).get("code", "")) for e in errors} - {""}
                ),
            },
        )
