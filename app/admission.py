"""Admission: a bound on GraphQL requests in flight, per process and per caller within it.

Past a bound the request is answered at once (429 for a caller over its share, 503 for a full
process), with Retry-After: nothing waits in a queue, so no queued work outlives its deadline,
and the requests that are admitted keep the event loop to themselves.
"""

from __future__ import annotations

import json
from collections import Counter

from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.principal import Principal
from app.metrics import Metrics
from app.sse import is_event_stream

RETRY_AFTER_SECONDS = 1


class Admission:
    """Admit a GraphQL request if both its caller and the process are under their bounds."""

    def __init__(
        self,
        app: ASGIApp,
        max_in_flight: int,
        per_caller: int,
        metrics: Metrics | None = None,
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.per_caller = per_caller
        self.metrics = metrics
        self.path = path
        self.in_flight = 0
        self.callers: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal | None = scope.get("state", {}).get("principal")
        if (
            scope["type"] != "http"
            or principal is None
            or scope["path"].rstrip("/") != self.path
            or is_event_stream(scope)  # lives for hours; bounded by the subscription caps
        ):
            # Only authenticated GraphQL requests do work worth bounding (not the IDE page).
            await self.app(scope, receive, send)
            return
        caller = principal.caller(scope.get("client"))
        if self.callers[caller] >= self.per_caller:
            await self._shed(send, "caller")
            return
        if self.in_flight >= self.max_in_flight:
            await self._shed(send, "process")
            return
        self.in_flight += 1
        self.callers[caller] += 1
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.callers[caller] -= 1
            if not self.callers[caller]:
                del self.callers[caller]
            if self.metrics is not None:
                self.metrics.in_flight.dec()

    async def _shed(self, send: Send, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.shed.labels(reason).inc()
        if reason == "caller":
            status, code = 429, "TOO_MANY_REQUESTS"
            message = (
                f"This caller already has {self.per_caller} requests in flight, its limit; "
                f"retry after {RETRY_AFTER_SECONDS} s."
            )
        else:
            status, code = 503, "OVERLOADED"
            message = (
                f"The gateway has {self.max_in_flight} requests in flight, its limit; retry "
                f"after {RETRY_AFTER_SECONDS} s."
            )
        body = {"errors": [{"message": message, "extensions": {"code": code}}]}
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})
