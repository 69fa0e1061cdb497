"""Shared state: the Redis connection replicas share, and how its outages are reported.

Rate limits, the response cache and registered APQ documents live in Redis when
GATEWAY_REDIS_URL is set, so replicas behind a load balancer behave as one; without it each
feature keeps its state in the process. Every Redis call has short timeouts: a dead Redis costs
a request at most about GATEWAY_REDIS_TIMEOUT (default `TIMEOUT_SECONDS`), then the feature
fails open or closed as configured. An outage is logged once when it starts and once when it
ends, counted per feature in metrics, and shown in /readyz.

A full Redis is not an unreachable one. At `maxmemory` with the `noeviction` policy Redis still
answers reads but refuses every command that may add data (an OOM error reply). That is noted
apart (`full`): nothing fails open for it. Writes are skipped while it lasts (the response
cache, APQ registrations), rate limits count in this process (app/state/ratelimit.py), and one small
probe write per RETRY_SECONDS finds out when Redis accepts writes again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import OutOfMemoryError, ResponseError

from app.observability.metrics import Metrics

log = logging.getLogger("session_gateway.shared")

# A healthy Redis on the same network answers in well under a millisecond.
TIMEOUT_SECONDS = 0.25
# After a failure, skip Redis for this long instead of paying the timeout on every request.
RETRY_SECONDS = 1.0
# Written to find out whether a full Redis accepts writes again: SET is refused when it is full.
PROBE_KEY = "gateway:probe"


class Shared:
    """The Redis client of one app (None without GATEWAY_REDIS_URL) and its health."""

    def __init__(
        self,
        url: str | None,
        metrics: Metrics | None = None,
        fail_open: bool = True,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.fail_open = fail_open  # rate limiting's choice; /readyz reports it
        self.metrics = metrics
        self.client: redis.Redis | None = None
        self.pool: redis.ConnectionPool | None = None
        if url:
            self.pool = redis.ConnectionPool.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                health_check_interval=10,
                # No retries inside redis-py: a failed call is reported at once (see `failed`).
                retry=Retry(NoBackoff(), 0),
            )
            self.client = redis.Redis(connection_pool=self.pool)
        self.down_since: float | None = None  # wall clock, for /readyz
        self._retry_at = 0.0
        self.last_error: str | None = None
        self.full_since: float | None = None  # wall clock: Redis refuses writes (maxmemory)
        self._probe_at = 0.0
        if metrics is not None:
            metrics.redis_up.set_function(lambda: 0 if self.down_since else 1)
            metrics.redis_full.set_function(lambda: 1 if self.full_since else 0)

    @property
    def configured(self) -> bool:
        return self.client is not None

    def available(self) -> bool:
        """Whether to try Redis now: configured, and not inside the pause after a failure."""
        return self.client is not None and (
            self.down_since is None or time.monotonic() >= self._retry_at
        )

    def failed(self, feature: str, error: BaseException) -> None:
        """Note a failed Redis call of `feature`; logged once per outage, counted every time.

        A refusal because Redis is full is noted as such (see `full`), not as an outage.
        """
        if self.metrics is not None:
            self.metrics.redis_errors.labels(feature).inc()
        if is_full(error):
            self._filled(feature)
            return
        self._retry_at = time.monotonic() + RETRY_SECONDS
        # The class only: a connection error's text may carry the URL (and its password).
        self.last_error = type(error).__name__
        if self.down_since is None:
            self.down_since = time.time()
            log.error(
                "Redis is unreachable (%s, first seen by %s): the response cache is skipped "
                "and the other shared features follow their fail-open settings until it is back.",
                self.last_error,
                feature,
            )

    @property
    def full(self) -> bool:
        """Whether Redis refused a write for lack of memory and has not accepted one since."""
        return self.full_since is not None

    async def writable(self, feature: str) -> bool:
        """Whether to try writes now: Redis is not known full, or a probe write just worked.

        While Redis is full, one caller per RETRY_SECONDS probes; the others skip their write.
        """
        if self.full_since is None:
            return True
        if self.client is None or time.monotonic() < self._probe_at:
            return False
        self._probe_at = time.monotonic() + RETRY_SECONDS
        try:
            await self.client.set(PROBE_KEY, b"1", ex=60)
        except ERRORS as exc:
            self.failed(feature, exc)
            return False
        self.succeeded()
        self.wrote()
        return True

    def wrote(self) -> None:
        """Note a write Redis accepted: it is not full (any more)."""
        if self.full_since is not None:
            log.warning(
                "Redis accepts writes again after %.1f s full.", time.time() - self.full_since
            )
            self.full_since = None

    def _filled(self, feature: str) -> None:
        self._probe_at = time.monotonic() + RETRY_SECONDS
        if self.full_since is None:
            self.full_since = time.time()
            log.error(
                "Redis is full (used memory over maxmemory, first seen by %s): it refuses "
                "writes, so the response cache and APQ registrations are skipped and rate limits "
                "count in each process (or refuse, with GATEWAY_RATE_LIMIT_FAIL_OPEN=false) "
                "until it accepts writes again.",
                feature,
            )

    def succeeded(self) -> None:
        """Note a Redis call that worked: an outage, if any, is over."""
        if self.down_since is not None:
            log.warning("Redis is reachable again after %.1f s.", time.time() - self.down_since)
            self.down_since = None
            self.last_error = None

    def status(self) -> dict[str, Any]:
        """What /readyz shows about Redis."""
        if self.client is None:
            return {"configured": False, "note": "per-process state (GATEWAY_REDIS_URL unset)"}
        if self.down_since is None:
            if self.full_since is not None:
                return {
                    "configured": True,
                    "up": True,
                    "full": True,
                    "fullSince": round(self.full_since, 3),
                }
            return {"configured": True, "up": True}
        return {
            "configured": True,
            "up": False,
            "downSince": round(self.down_since, 3),
            "error": self.last_error,
        }

    async def ping(self) -> None:
        """One round trip, for /readyz: it also ends an outage no request has noticed yet, and
        probes whether a full Redis accepts writes again (a replica taken out of service while
        Redis is full gets no request that would find out)."""
        if self.client is None:
            return
        try:
            await self.client.ping()  # type: ignore[misc]  # redis-py types sync and async
        except (redis.RedisError, OSError) as exc:
            self.failed("readiness", exc)
            return
        self.succeeded()
        if self.full_since is not None:
            await self.writable("readiness")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self.pool is not None:
            await self.pool.aclose()


# What a Redis call raises when Redis is away or slow (timeouts are RedisError subclasses), or
# full (see `is_full`).
ERRORS: tuple[type[Exception], ...] = (redis.RedisError, OSError)


def is_full(error: BaseException) -> bool:
    """Whether `error` is Redis refusing a command for lack of memory (it is reachable)."""
    # redis-py maps the OOM reply to OutOfMemoryError, from a script or a pipeline too.
    return isinstance(error, OutOfMemoryError) or (
        isinstance(error, ResponseError) and str(error).startswith("OOM ")
    )
