"""The circuit breaker around a whole call: refusal when open, the half-open probe's ownership,
and what the breaker is told of an outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.core.circuit import CircuitBreaker, CircuitState
from app.core.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable

T = TypeVar("T")


class Breaker:
    """Lets a call through the provider's circuit and records how it ended, if the upstream's."""

    def __init__(self, circuit: CircuitBreaker, provider: str) -> None:
        self._circuit = circuit
        self._provider = provider

    async def guard(self, run: Callable[[], Awaitable[T]]) -> T:
        circuit = self._circuit
        # Whether this call is the half-open probe: only the probe may give the probe back.
        probe = circuit.state is CircuitState.HALF_OPEN
        if not circuit.allow():
            raise UpstreamUnavailable(
                f"{self._provider} is failing; the gateway skips it for another "
                f"{circuit.retry_in():.0f} s (circuit open).",
                provider=self._provider,
                details={"circuit": circuit.state.value},
            )
        try:
            result = await run()
        except UpstreamError as exc:
            if exc.upstream_fault:
                # Only transport-level trouble opens the circuit; a 4xx is about our request.
                circuit.record(isinstance(exc, UpstreamUnavailable | UpstreamTimeout))
            elif probe:
                circuit.release()  # a deadline, budget or missing credential of the gateway's
            raise
        except BaseException:
            # Cancelled (the caller went away) or a bug here: the upstream said nothing, so
            # nothing is recorded and a half-open probe goes back for the next call.
            if probe:
                circuit.release()
            raise
        circuit.record(False)
        return result
