"""Reads sent again after a transient failure, by stamina: jittered exponential backoff with a
cap, or the upstream's Retry-After when it fits before the request's deadline."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import stamina

from app.core.errors import CallBudgetExceeded, UpstreamError, UpstreamUnavailable
from app.upstream import request_deadline
from app.upstream.calls.decoding import status_error
from app.upstream.calls.exchange import Call, Layer, Response

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Attempt n waits WAIT_INITIAL * 2**(n-1) plus up to WAIT_JITTER, at most WAIT_MAX seconds.
WAIT_INITIAL = 0.05
WAIT_JITTER = 0.05
WAIT_MAX = 0.2
MAX_RETRY_AFTER = 10.0


class Retrying:
    """Up to `retries` more attempts for reads; writes are sent once."""

    def __init__(self, inner: Layer, *, provider: str, retries: int) -> None:
        self._inner = inner
        self._provider = provider
        self._attempts = retries + 1

    async def send(self, call: Call) -> Response:
        if not call.read or self._attempts <= 1:
            return await self._inner.send(call)
        try:
            return await self._attempt(call)
        except (_Answered, UpstreamUnavailable) as exc:
            failed: _Answered | UpstreamUnavailable = exc
        # Most reads succeed at once, so stamina is set up only after a failure; its first
        # attempt replays that one, for its hook to decide on like any other.
        try:
            async for attempt in stamina.retry_context(
                on=_wait,
                attempts=self._attempts,
                timeout=None,  # the request's deadline bounds the attempts (Deadline)
                wait_initial=WAIT_INITIAL,
                wait_max=WAIT_MAX,
                wait_jitter=WAIT_JITTER,
            ):
                with attempt:
                    if attempt.num == 1:
                        raise failed
                    try:
                        return await self._attempt(call)
                    except (_Answered, UpstreamUnavailable) as exc:
                        failed = exc
                        raise
        except _Answered as last:
            return last.response  # its status is reported (not retried again, or no time left)
        except CallBudgetExceeded as spent:
            # The budget ran out between attempts: report the upstream's failure, noting why it
            # was not tried again.
            raise _not_retried(self._provider, failed, spent) from spent
        raise AssertionError("stamina ended without an outcome")  # pragma: no cover

    async def _attempt(self, call: Call) -> Response:
        """One exchange; a status worth retrying is raised (_Answered)."""
        response = await self._inner.send(call)
        if response.status in RETRY_STATUSES:
            raise _Answered(response)
        return response


class _Answered(Exception):
    """An answer with a status worth another attempt, raised for stamina to decide on."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


def _wait(exc: Exception) -> bool | float:
    """stamina's hook: whether to try again, and after how long (True: its own backoff)."""
    if isinstance(exc, _Answered):
        wait = retry_after(exc.response.headers.get("Retry-After"))
    elif isinstance(exc, UpstreamUnavailable):
        wait = None
    else:
        return False
    if wait is not None and wait > MAX_RETRY_AFTER:
        return False
    left = request_deadline.remaining()
    if left is not None and (WAIT_MAX if wait is None else wait) >= left:
        return False  # waiting would outlast the request: report the failure now
    return True if wait is None else wait


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdecimal():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _not_retried(
    provider: str, failed: _Answered | UpstreamError, spent: CallBudgetExceeded
) -> UpstreamError:
    """The failure of the last attempt, saying that the request's call budget stopped retries."""
    if isinstance(failed, _Answered):
        error = status_error(provider, failed.response.status)
        assert error is not None  # a status worth retrying is always an error
    else:
        error = failed
    budget = spent.details["budget"]
    return type(error)(
        f"{error} It was not retried: the request has used its budget of {budget} upstream calls.",
        provider=error.provider,
        details={**error.details, "budget": budget, "notRetried": spent.code},
    )
