"""One wrapper for what a call leaves behind: its span, its metrics and the provider's health."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from app.core.errors import UpstreamError
from app.observability.tracing import Tracing
from app.upstream.calls.exchange import Call
from app.upstream.health import ProviderHealth

if TYPE_CHECKING:  # metrics import the upstream package's circuit states
    from app.observability.metrics import Metrics

T = TypeVar("T")


class Telemetry:
    """Traces and measures every call; health sees only what the upstream did."""

    def __init__(
        self, provider: str, health: ProviderHealth, metrics: Metrics | None, tracing: Tracing
    ) -> None:
        self._provider = provider
        self._health = health
        self._metrics = metrics
        self._tracing = tracing

    async def observe(self, call: Call, run: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        attributes = {"gateway.provider": self._provider, "http.request.method": call.method}
        with self._tracing.span(f"upstream {self._provider}", attributes) as span:
            try:
                result = await run()
            except UpstreamError as exc:
                self._record(call, started, exc)
                raise
            finally:
                if span is not None and call.status is not None:
                    span.set_attribute("http.response.status_code", call.status)
            # Anything else (cancelled, a bug here): the upstream said nothing; nothing recorded.
        self._record(call, started, None)
        return result

    def _record(self, call: Call, started: float, error: UpstreamError | None) -> None:
        code = error.code if error else None
        if self._metrics is not None:
            outcome = str(call.status) if call.status is not None else (code or "-")
            self._metrics.upstream(self._provider, outcome, time.perf_counter() - started, code)
        if error is None or error.upstream_fault:
            self._health.record(started, code)
