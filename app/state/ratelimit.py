"""Rate limits: requests and query cost per caller per window, shared by replicas via Redis.

Each caller (an API key's name, a JWT's subject, or an anonymous caller's address) may send
GATEWAY_RATE_LIMIT requests (a key's own `rateLimit` overrides it) and spend GATEWAY_COST_BUDGET
of estimated query cost per window, counted with the `limits` library's sliding-window counter:
in Redis when GATEWAY_REDIS_URL is set (every replica counts against the same totals), else in
this process. Over either, the request is answered at once with 429, Retry-After and
RATE_LIMITED.

The request is counted before it runs. Its cost is only known once resolvers/engine/cost.py has
priced the document (before validation, with the variables), so the charge happens after the answer;
a caller whose budget is spent is refused from the next request on. A cache hit costs nothing.
A subscription is one request and its document's cost, charged when it ends, whichever the
transport: an SSE stream is a request here, and app/http/websocket.py admits and meters each
WebSocket `subscribe` the same way (a refused one gets an `error` message, the socket stays).

If Redis is unreachable, GATEWAY_RATE_LIMIT_FAIL_OPEN decides: let requests through unlimited
(default: an outage of a shared counter should not become an outage of the gateway), or refuse
with 503. A full Redis (maxmemory reached, `noeviction`) answers but refuses to count: that
never lets requests through uncounted. With fail-open, each process counts in its own memory
until Redis accepts writes again (so with N replicas a caller may get up to N times its limit
meanwhile, never unlimited); with fail-closed, requests are refused with 503 as for an outage.
"""

from __future__ import annotations

import json
import math
import time
from contextvars import Token
from dataclasses import dataclass

from graphql import GraphQLFormattedError
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.principal import Principal
from app.core.errors import ConfigError
from app.observability.metrics import Metrics
from app.state.shared import ERRORS, Shared, is_full
from resolvers.engine.cost import PRICED

KEY_PREFIX = "gateway:limits"
_FAILURES: tuple[type[Exception], ...] = (StorageError, *ERRORS)


def parse_limit(value: str, where: str) -> RateLimitItem:
    """`600/minute` (limits' notation) as a rate limit item, or a ConfigError naming `where`."""
    try:
        item = parse(value)
    except ValueError:
        raise ConfigError(
            f"{where}: {value!r} is not a rate limit; write it as <count>/<unit>, "
            "for example 600/minute or 10/second"
        ) from None
    if item.amount < 1:
        raise ConfigError(f"{where}: a rate limit allows at least 1 per window")
    return item


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: str
    message: str
    retry_after: int


class RateLimiter:
    """Counts requests and cost per caller; `storage` in Redis or in this process."""

    def __init__(
        self,
        shared: Shared,
        default: RateLimitItem | None,
        cost_budget: RateLimitItem | None,
        fail_open: bool = True,
        metrics: Metrics | None = None,
    ) -> None:
        self.shared = shared
        self.default = default
        self.cost_budget = cost_budget
        self.fail_open = fail_open
        self.metrics = metrics
        self._overrides: dict[str, RateLimitItem] = {}
        storage: Storage
        if shared.pool is not None and shared.url is not None:
            storage = RedisStorage(
                f"async+{shared.url}",  # parsed only: the connections come from the pool
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=KEY_PREFIX,
                connection_pool=shared.pool,  # type: ignore[arg-type]  # passed to redis-py
            )
        else:
            storage = MemoryStorage()
        self.strategy = SlidingWindowCounterRateLimiter(storage)
        # Where counting goes while Redis is full (refusing writes): this process.
        self.local = (
            self.strategy
            if isinstance(storage, MemoryStorage)
            else SlidingWindowCounterRateLimiter(MemoryStorage())
        )

    @property
    def enabled(self) -> bool:
        return self.default is not None or self.cost_budget is not None

    def limit_of(self, principal: Principal) -> RateLimitItem | None:
        if principal.rate_limit is None:
            return self.default
        item = self._overrides.get(principal.rate_limit)
        if item is None:
            item = parse_limit(principal.rate_limit, "rateLimit")
            self._overrides[principal.rate_limit] = item
        return item

    async def admit(self, principal: Principal, caller: str) -> Refusal | None:
        """Count one request of `caller`; the refusal when it is over a limit."""
        if self.shared.configured and not self.shared.available():
            return self._unavailable()
        limit = self.limit_of(principal)
        if self.shared.full and not await self.shared.writable("rate_limit"):
            return await self._admit_locally(limit, caller)
        try:
            refusal = await self._admit(self.strategy, limit, caller)
        except _FAILURES as exc:
            cause = _cause(exc)
            self.shared.failed("rate_limit", cause)
            if is_full(cause):
                return await self._admit_locally(limit, caller)
            return self._unavailable()
        if self.shared.configured:
            self.shared.succeeded()
        return refusal

    async def _admit(
        self, strategy: SlidingWindowCounterRateLimiter, limit: RateLimitItem | None, caller: str
    ) -> Refusal | None:
        if limit is not None and not await strategy.hit(limit, "requests", caller):
            return await self._over(strategy, limit, "requests", caller, "requests")
        budget = self.cost_budget
        if budget is not None and not await strategy.test(budget, "cost", caller):
            return await self._over(strategy, budget, "cost", caller, "query cost")
        return None

    async def _admit_locally(self, limit: RateLimitItem | None, caller: str) -> Refusal | None:
        """Admission while Redis is full: counted in this process, or refused (fail-closed)."""
        if not self.fail_open:
            return Refusal(
                503,
                "RATE_LIMIT_UNAVAILABLE",
                "The shared rate-limit store is full (it refuses writes) and this gateway is "
                "configured to refuse requests until it accepts them again "
                "(GATEWAY_RATE_LIMIT_FAIL_OPEN=false).",
                1,
            )
        return await self._admit(self.local, limit, caller)

    async def charge(self, caller: str, cost: int) -> None:
        """Take `cost` from the caller's budget (no refusal now: the request is answered)."""
        budget = self.cost_budget
        if budget is None or cost <= 0:
            return
        if self.shared.configured and not self.shared.available():
            return  # Redis is away: nothing to charge to
        if self.shared.full and not await self.shared.writable("rate_limit"):
            await self._spend(self.local, budget, caller, cost)
            return
        try:
            await self._spend(self.strategy, budget, caller, cost)
        except _FAILURES as exc:
            if not self.shared.configured:
                raise
            cause = _cause(exc)
            self.shared.failed("rate_limit", cause)
            if is_full(cause):
                await self._spend(self.local, budget, caller, cost)

    def metered(self, caller: str) -> Metered:
        """`async with`: the cost of the documents priced within, charged to `caller` after."""
        return Metered(self, caller)

    async def _spend(
        self,
        strategy: SlidingWindowCounterRateLimiter,
        budget: RateLimitItem,
        caller: str,
        cost: int,
    ) -> None:
        # A hit past the limit counts nothing, so take what is left: a query that costs more
        # than the rest of the budget spends all of it, and the next request is refused.
        stats = await strategy.get_window_stats(budget, "cost", caller)
        if (charge := min(cost, stats.remaining)) > 0:
            await strategy.hit(budget, "cost", caller, cost=charge)

    async def _over(
        self,
        strategy: SlidingWindowCounterRateLimiter,
        item: RateLimitItem,
        kind: str,
        caller: str,
        what: str,
    ) -> Refusal:
        if self.metrics is not None:
            self.metrics.rate_limited.labels(kind).inc()
        stats = await strategy.get_window_stats(item, kind, caller)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return Refusal(
            429,
            "RATE_LIMITED",
            f"This caller is over its rate limit of {item.amount} {what} per "
            f"{_window(item)}; retry after {retry} s.",
            retry,
        )

    def _unavailable(self) -> Refusal | None:
        if self.fail_open:
            if self.metrics is not None:
                self.metrics.rate_limit_skipped.inc()
            return None
        return Refusal(
            503,
            "RATE_LIMIT_UNAVAILABLE",
            "The shared rate-limit store is unreachable and this gateway is configured to "
            "refuse requests until it is back (GATEWAY_RATE_LIMIT_FAIL_OPEN=false).",
            1,
        )


class Metered:
    """Notes what resolvers/engine/cost.py prices inside the block and charges it on the way out
    (a class, not a generator: it wraps every request)."""

    __slots__ = ("caller", "limiter", "meter", "token")
    token: Token[list[int] | None]

    def __init__(self, limiter: RateLimiter, caller: str) -> None:
        self.limiter, self.caller = limiter, caller
        self.meter: list[int] = []

    async def __aenter__(self) -> None:
        self.token = PRICED.set(self.meter)

    async def __aexit__(self, *exc: object) -> None:
        PRICED.reset(self.token)
        if self.meter:
            await self.limiter.charge(self.caller, sum(self.meter))


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def _cause(exc: BaseException) -> BaseException:
    # limits wraps the client's error: report the original class, not "StorageError".
    return exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ else exc


class RateLimit:
    """ASGI middleware after authentication: count the request, charge its cost after."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, path: str = "/graphql") -> None:
        self.app = app
        self.limiter = limiter
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal | None = scope.get("state", {}).get("principal")
        if (
            not self.limiter.enabled
            or scope["type"] != "http"
            or principal is None
            or scope["path"].rstrip("/") != self.path
        ):
            await self.app(scope, receive, send)
            return
        caller = principal.caller(scope.get("client"))
        refusal = await self.limiter.admit(principal, caller)
        if refusal is not None:
            await _refuse(send, refusal)
            return
        async with self.limiter.metered(caller):
            await self.app(scope, receive, send)


def refusal_error(refusal: Refusal) -> GraphQLFormattedError:
    """The refusal as a GraphQL error: the body's error over HTTP, a `subscribe`'s over
    WebSocket."""
    return {"message": refusal.message, "extensions": {"code": refusal.code}}


async def _refuse(send: Send, refusal: Refusal) -> None:
    error = refusal_error(refusal)
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", str(refusal.retry_after).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps({"errors": [error]}).encode()})
