"""A per-provider circuit breaker: after repeated failures, skip the provider for a while."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class CircuitState(enum.Enum):
    """CLOSED: calls flow; OPEN: calls fail at once; HALF_OPEN: one probe call is let through."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class CircuitBreaker:
    """Counts consecutive transport failures; opens at `failures`, probes after `cooldown` s."""

    def __init__(
        self,
        failures: int = 5,
        cooldown: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failures
        self._cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._probing or self._clock() - self._opened_at >= self._cooldown:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def retry_in(self) -> float:
        """Seconds until the next probe is allowed (0 when calls may go through)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._cooldown - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """Whether a call may go out now; in HALF_OPEN only one probe at a time."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def release(self) -> None:
        """Give back a probe that was never sent; the state stays as it was."""
        self._probing = False

    def record(self, failed: bool) -> None:
        """Note how an allowed call ended."""
        if not failed:
            self._failures, self._opened_at, self._probing = 0, None, False
            return
        self._failures += 1
        if self._probing or self._failures >= self._threshold:
            self._opened_at, self._probing = self._clock(), False
