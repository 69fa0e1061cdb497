"""Per-request accounting of upstream calls: the count for the request log, and the budget.

Every upstream call of a request takes one unit of the request's budget before it is sent; a
call past the budget is refused by the gateway (CallBudgetExceeded), so one query can never
make more than `budget` calls, however its filters and aliases turn out.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from app.core.errors import CallBudgetExceeded


@dataclass(slots=True)
class _Tally:
    calls: int
    budget: int | None


# One tally per request, shared by reference, so calls made in child tasks add to it.
_TALLY: contextvars.ContextVar[_Tally | None] = contextvars.ContextVar("calls", default=None)


def start(budget: int | None = None) -> None:
    """Begin counting for the current request; None: no budget."""
    _TALLY.set(_Tally(0, budget))


def charge(provider: str) -> None:
    """Take one call of the current request's budget, or refuse it (a no-op outside requests)."""
    tally = _TALLY.get()
    if tally is None:
        return
    if tally.budget is not None and tally.calls >= tally.budget:
        raise CallBudgetExceeded(
            f"The request used its budget of {tally.budget} upstream calls; {provider} was "
            "not asked. Narrow the filter (gateway-side filters such as statuses, userAgent, "
            "remoteAddress and expiresAt may read whole listings) or ask for less per request.",
            provider=provider,
            details={"budget": tally.budget},
        )
    tally.calls += 1


def calls() -> int:
    """Upstream calls the current request has made so far."""
    tally = _TALLY.get()
    return tally.calls if tally else 0
