"""Endpoint.call(): the one place where upstream calls are limited, retried and timed out, and
where transport and status failures become gateway errors.

Per call: the circuit breaker may refuse at once; each exchange takes one unit of the request's
call budget and a slot of the provider's concurrency limit (released while waiting to retry);
the request's deadline bounds everything (waiting included); reads are retried on connection
errors, 429 and 502/503/504 with jittered exponential backoff, honouring Retry-After when it
fits before the deadline; writes are never retried.

Breakers and health record only what the upstream did. A call cut by the caller's deadline
counts against the provider only if the upstream had held the sent request for `slow_call`
seconds (a slow-call threshold, as in resilience4j) while the event loop kept up (lag.py);
time spent queued in the gateway, a refusal by the budget, a missing forwarded credential and
cancellation record nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import orjson

from app.errors import (
    GatewayError,
    RequestDeadline,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from app.tracing import Tracing
from app.upstream import accounting, deadline
from app.upstream.circuit import CircuitState
from app.upstream.credentials import Credential
from app.upstream.health import ProviderHealth
from app.upstream.lag import LAG

if TYPE_CHECKING:  # metrics import this package's circuit states
    from app.metrics import Metrics

T = TypeVar("T")

# Set for readiness probes: they skip the concurrency queue, which measures the gateway's load.
UNQUEUED: contextvars.ContextVar[bool] = contextvars.ContextVar("unqueued", default=False)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
BACKOFF_BASE = 0.05  # seconds; attempt n waits up to BACKOFF_BASE * 2**n (full jitter)
MAX_RETRY_AFTER = 10.0


class Endpoint:
    """A provider's origin, credentials, shared client session and call policy."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        health: ProviderHealth | None = None,
        retries: int = 2,
        concurrency: int = 16,
        slow_call: float = 2.0,
        credential: Credential | None = None,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.session = session
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.credential = credential or Credential()
        self.metrics = metrics
        self.tracing = tracing or Tracing()
        self.health = health or ProviderHealth()
        self.retries = retries
        self.slow_call = slow_call
        self._limit = asyncio.Semaphore(concurrency)

    async def call(
        self,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        params: Mapping[str, str] | None = None,
        body: object = None,
        expected: Mapping[int, T] | None = None,
        read: bool | None = None,
        headers: bool = False,
    ) -> T:
        """Call `path` and return `parse(json)` (None for an empty body).

        `read` (default: GET only) marks a call safe to retry. A status in `expected` (e.g.
        `{404: None}`) answers its value instead of raising. A shape `parse` rejects is an
        UpstreamBadResponse, and counts against the provider's health like any failure.
        With `headers`, `parse` gets `(json, response headers)`, for paging in a `Link` header.
        """
        circuit = self.health.circuit
        # Whether this call is the half-open probe: only the probe may give the probe back.
        probe = circuit.state is CircuitState.HALF_OPEN
        if not circuit.allow():
            raise UpstreamUnavailable(
                f"{self.provider} is failing; the gateway skips it for another "
                f"{circuit.retry_in():.0f} s (circuit open).",
                provider=self.provider,
                details={"circuit": circuit.state.value},
            )
        started = time.perf_counter()
        status: int | None = None
        try:
            retry = method == "GET" if read is None else read
            attributes = {"gateway.provider": self.provider, "http.request.method": method}
            with self.tracing.span(f"upstream {self.provider}", attributes) as span:
                status, content, received = await self._within_deadline(
                    method, path, params, body, retry
                )
                if span is not None:
                    span.set_attribute("http.response.status_code", status)
            if expected is not None and status in expected:
                result = expected[status]
            else:
                payload = _decode(self.provider, status, content)
                result = parse_shape(
                    self.provider, parse, (payload, received) if headers else payload
                )
        except UpstreamError as exc:
            self._settle(started, status, exc, probe)
            raise
        except BaseException:
            # Cancelled (the caller went away) or a bug here: the upstream said nothing, so
            # nothing is recorded and a half-open probe goes back for the next call.
            if probe:
                circuit.release()
            raise
        self._settle(started, status, None, probe)
        return result

    def _settle(
        self, started: float, status: int | None, error: UpstreamError | None, probe: bool
    ) -> None:
        """Record how a call ended: health, metrics and breaker see only the upstream's doing."""
        circuit = self.health.circuit
        code = error.code if error else None
        if self.metrics is not None:
            outcome = str(status) if status is not None else (code or "-")
            seconds = time.perf_counter() - started
            self.metrics.upstream(self.provider, outcome, seconds, code)
        if error is not None and not error.upstream_fault:
            if probe:
                circuit.release()  # a deadline, budget or missing credential of the gateway's
            return
        self.health.record(started, code)
        # Only transport-level trouble opens the circuit; a 4xx is about our request.
        circuit.record(isinstance(error, UpstreamUnavailable | UpstreamTimeout))

    async def _within_deadline(
        self, method: str, path: str, params: Mapping[str, str] | None, body: object, retry: bool
    ) -> tuple[int, bytes, Mapping[str, str]]:
        until = deadline.DEADLINE.get()
        flight = _Flight()
        try:
            async with asyncio.timeout_at(until) as scope:
                return await self._attempts(method, path, params, body, retry, flight)
        except TimeoutError as exc:
            loop = asyncio.get_running_loop()
            if until is None or not scope.expired():
                raise  # not ours: a per-call timeout already turned into UpstreamTimeout
            details: dict[str, object] = {"deadline": True}
            now = loop.time()
            in_flight = flight.seconds(now)
            # The loop half as late as the threshold: the answer may have waited unread.
            since = now if flight.sent is None else flight.sent
            busy = LAG.worst_since(since, now) >= self.slow_call / 2
            if in_flight >= self.slow_call and not busy:
                # The upstream held a sent call this long: slow enough to count against it.
                raise UpstreamTimeout(
                    f"{self.provider} did not answer before the request deadline.",
                    provider=self.provider,
                    details=details,
                ) from exc
            raise RequestDeadline(
                f"{self.provider} did not answer before the request deadline.",
                provider=self.provider,
                details=details,
            ) from exc

    async def _attempts(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: object,
        retry: bool,
        flight: _Flight,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        attempt, refreshed = 0, False
        while True:
            last = not retry or attempt >= self.retries
            attempt += 1
            try:
                used = await self.credential.headers()
                accounting.charge(self.provider)  # retries spend the request's budget too
                # The slot is held for the exchange only, never while waiting to retry.
                async with self._limit if not UNQUEUED.get() else contextlib.nullcontext():
                    with flight:
                        status, content, retry_after, received = await self._request(
                            method, path, params, body, used
                        )
            except UpstreamUnavailable:
                if last:
                    raise
                await asyncio.sleep(_backoff(attempt))
                continue
            if status == 401 and self.credential.refreshable and not refreshed:
                # An expired or revoked token: fetch a new one and try once more (the upstream
                # did not act on a request it refused, so this is safe for writes too).
                self.credential.invalidate(used)
                refreshed, attempt = True, attempt - 1
                continue
            if last or status not in RETRY_STATUSES:
                return status, content, received
            wait = _backoff(attempt) if retry_after is None else retry_after
            left = deadline.remaining()
            if wait > MAX_RETRY_AFTER or (left is not None and wait >= left):
                return status, content, received  # waiting would outlast the request: report it now
            await asyncio.sleep(wait)

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: object,
        credential: Mapping[str, str],
    ) -> tuple[int, bytes, float | None, Mapping[str, str]]:
        name = self.provider
        headers = {**self.headers, **credential}
        data = None
        if body is not None:
            data = orjson.dumps(body)  # a few times faster than aiohttp's json.dumps
            headers["Content-Type"] = "application/json"
        try:
            async with self.session.request(
                method, self.base_url + path, params=params, data=data, headers=headers
            ) as response:
                status = response.status
                content = await response.read()
                received = response.headers  # case-insensitive, and kept after release
                retry_after = _retry_after(received.get("Retry-After"))
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{name} did not answer in time.", provider=name) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"{name} is unavailable.", provider=name) from exc
        return status, content, retry_after, received


class _Flight:
    """When the current exchange of a call left the gateway: how long the upstream has held it."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent: float | None = None

    def __enter__(self) -> None:
        self.sent = asyncio.get_running_loop().time()

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None or not issubclass(kind, asyncio.CancelledError):
            self.sent = None  # it ended (a cancellation leaves the time to measure)

    def seconds(self, now: float) -> float:
        return 0.0 if self.sent is None else now - self.sent


def _backoff(attempt: int) -> float:
    return random.uniform(0, BACKOFF_BASE * 2**attempt)


def _retry_after(value: str | None) -> float | None:
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


def _decode(name: str, status: int, body: bytes) -> Any:
    """The JSON of a 2xx answer; any other status becomes its gateway error."""
    if status in (401, 403):
        raise UpstreamUnauthorized(
            f"{name} rejected the gateway's credentials (HTTP {status}).", provider=name
        )
    if status == 429:
        raise UpstreamUnavailable(f"{name} is rate limiting the gateway (HTTP 429).", provider=name)
    if status >= 500:
        raise UpstreamUnavailable(f"{name} answered HTTP {status}.", provider=name)
    if status >= 400:
        raise UpstreamBadResponse(
            f"{name} refused the gateway's request (HTTP {status}).", provider=name
        )
    if status == 204 or not body:
        return None
    # orjson decodes about twice as fast. Where it refuses (NaN, 1e400, lone surrogates, bytes
    # that are not UTF-8) json decides, as before. Unlike json it reads integers past 64 bits
    # as floats; no upstream sends any, and the readers refuse inexact integers (_json.opt_int).
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise UpstreamBadResponse(f"{name} answered with invalid JSON.", provider=name) from exc


def parse_shape(provider: str, parse: Callable[[Any], T], payload: Any) -> T:
    """`parse(payload)`, with a shape it rejects reported as the provider's bad response."""
    try:
        return parse(payload)
    except GatewayError:
        raise
    except Exception as exc:  # any reader's failure on a body is that body's fault
        raise UpstreamBadResponse(
            f"{provider} answered with an unexpected shape.", provider=provider
        ) from exc
