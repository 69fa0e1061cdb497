"""The per-provider concurrency limit: a slot is held for one exchange, never while waiting to
retry."""

from __future__ import annotations

import asyncio
import contextvars

from app.upstream.calls.exchange import Call, Layer, Response

# Set for readiness probes: they skip the concurrency queue, which measures the gateway's load.
UNQUEUED: contextvars.ContextVar[bool] = contextvars.ContextVar("unqueued", default=False)


class ConcurrencyLimit:
    """At most `limit` exchanges with the provider at once; the rest wait their turn."""

    def __init__(self, inner: Layer, limit: int) -> None:
        self._inner = inner
        self._slots = asyncio.Semaphore(limit)

    async def send(self, call: Call) -> Response:
        if UNQUEUED.get():
            return await self._inner.send(call)
        async with self._slots:
            return await self._inner.send(call)
