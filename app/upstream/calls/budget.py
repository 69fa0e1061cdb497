"""The request's call budget, charged per exchange (retries and refreshes included)."""

from __future__ import annotations

from app.upstream import accounting
from app.upstream.calls.exchange import Call, Layer, Response


class Budget:
    """Takes one unit of the request's budget before each exchange, or refuses it."""

    def __init__(self, inner: Layer, provider: str) -> None:
        self._inner = inner
        self._provider = provider

    async def send(self, call: Call) -> Response:
        accounting.charge(self._provider)
        return await self._inner.send(call)
