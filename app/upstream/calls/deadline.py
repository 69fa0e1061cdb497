"""The request's deadline around a call, waits and retries included, and whose fault a cut is."""

from __future__ import annotations

import asyncio

from app.core.errors import RequestDeadline, UpstreamTimeout
from app.observability.loop_lag import LAG
from app.upstream.calls.exchange import Call, Layer, Response
from app.upstream.request_deadline import DEADLINE


class Deadline:
    """Cuts the call at the request's deadline.

    The cut counts against the provider (UpstreamTimeout) only if the upstream had held the
    sent request for `slow_call` seconds (a slow-call threshold, as in resilience4j) while the
    event loop kept up (lag.py); otherwise it is the gateway's (RequestDeadline).
    """

    def __init__(self, inner: Layer, *, provider: str, slow_call: float) -> None:
        self._inner = inner
        self._provider = provider
        self._slow_call = slow_call

    async def send(self, call: Call) -> Response:
        until = DEADLINE.get()
        if until is None:
            return await self._inner.send(call)
        try:
            async with asyncio.timeout_at(until) as scope:
                return await self._inner.send(call)
        except TimeoutError as exc:
            if not scope.expired():
                raise  # not ours: a per-call timeout already turned into UpstreamTimeout
            raise self._cut(call) from exc

    def _cut(self, call: Call) -> UpstreamTimeout:
        now = asyncio.get_running_loop().time()
        in_flight = 0.0 if call.sent is None else now - call.sent
        # The loop half as late as the threshold: the answer may have waited unread.
        since = now if call.sent is None else call.sent
        busy = LAG.worst_since(since, now) >= self._slow_call / 2
        message = f"{self._provider} did not answer before the request deadline."
        details: dict[str, object] = {"deadline": True}
        if in_flight >= self._slow_call and not busy:
            # The upstream held a sent call this long: slow enough to count against it.
            return UpstreamTimeout(message, provider=self._provider, details=details)
        return RequestDeadline(message, provider=self._provider, details=details)
