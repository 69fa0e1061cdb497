"""What the gateway has seen of each provider recently, for `Query.providers`."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

from app.core.circuit import CircuitBreaker


class Health(enum.Enum):
    """How the last call to a provider went."""

    UNKNOWN = "UNKNOWN"
    UP = "UP"
    DOWN = "DOWN"


@dataclass(slots=True)
class ProviderHealth:
    """Outcome and latency of the latest upstream call; process-local, per provider."""

    health: Health = Health.UNKNOWN
    latency_ms: float | None = None
    last_error_code: str | None = None
    checked_at: float | None = None
    circuit: CircuitBreaker = field(default_factory=CircuitBreaker)

    def record(self, started: float, error_code: str | None) -> None:
        """Note a finished call that began at `started` (a `time.perf_counter()` value)."""
        self.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        self.health = Health.DOWN if error_code else Health.UP
        self.last_error_code = error_code
        self.checked_at = time.time()
