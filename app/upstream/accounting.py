"""Per-request accounting of upstream calls, for the request log line."""

from __future__ import annotations

import contextvars

# A one-element list per request, so calls made in child tasks add to the request's count.
_CALLS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("calls", default=None)


def start() -> None:
    """Begin counting for the current request."""
    _CALLS.set([0])


def count_call() -> None:
    """Note one upstream call of the current request (a no-op outside requests)."""
    calls = _CALLS.get()
    if calls is not None:
        calls[0] += 1


def calls() -> int:
    """Upstream calls the current request has made so far."""
    found = _CALLS.get()
    return found[0] if found else 0
