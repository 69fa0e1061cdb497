"""The whole-request deadline, carried to every upstream call of the request by a contextvar."""

from __future__ import annotations

import asyncio
import contextvars

# Event-loop time by which the current request must answer; None outside a request.
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


def start(seconds: float) -> float:
    """Set the deadline of the current request `seconds` from now, and return it."""
    deadline = asyncio.get_running_loop().time() + seconds
    DEADLINE.set(deadline)
    return deadline


def remaining() -> float | None:
    """Seconds left before the current request's deadline (None: no deadline)."""
    deadline = DEADLINE.get()
    if deadline is None:
        return None
    return deadline - asyncio.get_running_loop().time()
