"""Webhooks: the live hub's session events delivered to the GATEWAY_WEBHOOKS endpoints.

Each distinct endpoint filter is one organisation-wide watch of the hub, held by a long-lived
internal subscription (so the hub's poller, replay and revocations serve it as they serve
clients; there is no second poller). A pump per subscription turns each event into a message
and queues it for every endpoint of that filter that wants its type; a deliverer per endpoint
sends them. The pump only queues, so a receiver never slows the poller down: a subscriber
that fell behind resumes from its last cursor, as clients do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import aiohttp

from app.core.errors import GatewayError
from app.listing.filter import SessionFilter
from app.live.events import LiveProblem
from app.live.hub import Hub
from app.state.shared import Shared
from app.webhooks.config import Endpoint
from app.webhooks.delivery import IN_FLIGHT, Delivery, RetryPolicy
from app.webhooks.message import message
from app.webhooks.metrics import WebhookMetrics
from app.webhooks.queue import MemoryQueue, Queue, RedisQueue
from app.webhooks.sender import Sender

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger("session_gateway.webhooks")

CALLER = "gateway-webhooks"  # the subscriptions' caller (with a number per filter)
RESUBSCRIBE_SECONDS = 5.0  # after the hub refused a subscription (its budgets are full)


class Webhooks:
    """Every endpoint's queue and deliverer, and the subscriptions that feed them."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        hub: Hub,
        shared: Shared,
        metrics: WebhookMetrics,
        *,
        policy: RetryPolicy | None = None,
        timeout: float = 10.0,
        bound: int = 10_000,
    ) -> None:
        self.endpoints = tuple(endpoints)
        self._hub = hub
        self._shared = shared
        self._metrics = metrics
        self._policy = policy or RetryPolicy()
        self._timeout = timeout
        self._bound = bound
        self._session: aiohttp.ClientSession | None = None
        self.deliveries: list[Delivery] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._delayed = False  # the hub said its events wait for Redis (see `_told`)

    @classmethod
    def of(cls, settings: Settings, hub: Hub, shared: Shared, metrics: WebhookMetrics) -> Webhooks:
        policy = RetryPolicy(
            settings.webhook_retry_first, settings.webhook_retry_most, settings.webhook_retry_for
        )
        return cls(
            settings.webhook_endpoints,
            hub,
            shared,
            metrics,
            policy=policy,
            timeout=settings.webhook_timeout,
            bound=settings.webhook_queue,
        )

    async def start(self) -> None:
        if not self.endpoints:
            return
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        # Its own client: receivers never hold the upstream calls' connections.
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            connector=aiohttp.TCPConnector(limit_per_host=IN_FLIGHT),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        durable = self._shared.configured
        by_filter: dict[SessionFilter, list[Delivery]] = {}
        for endpoint in self.endpoints:
            wake = asyncio.Event()
            queue: Queue
            if durable:
                keep = self._policy.total + 3600  # message ids outlive their retry window
                queue = RedisQueue(
                    self._shared, endpoint.key, self._bound, keep, wake, endpoint.identity
                )
            else:
                queue = MemoryQueue(self._bound, wake)
            sender = Sender(endpoint, self._session)
            delivery = Delivery(endpoint, queue, sender, self._policy, self._metrics, wake)
            self.deliveries.append(delivery)
            by_filter.setdefault(endpoint.session_filter, []).append(delivery)
            log.info(
                "Webhook endpoint %s: %s receives %s.",
                endpoint.key,
                endpoint.shown,
                ", ".join(sorted(endpoint.events)),
            )
        if durable:
            log.info("Webhook messages are queued in Redis streams (GATEWAY_REDIS_URL).")
        else:
            log.warning(
                "Webhook messages are queued in memory (GATEWAY_REDIS_URL is unset): those "
                "waiting for delivery are lost when this process stops."
            )
        for delivery in self.deliveries:
            self._tasks.append(asyncio.create_task(delivery.run(), name="webhook-delivery"))
        for number, (session_filter, deliveries) in enumerate(by_filter.items()):
            pump = self._pump(f"{CALLER}/{number}", session_filter, deliveries)
            self._tasks.append(asyncio.create_task(pump, name="webhook-pump"))

    async def _pump(
        self, caller: str, session_filter: SessionFilter, deliveries: list[Delivery]
    ) -> None:
        since: int | None = None
        resuming = False
        while True:
            try:
                sub = self._hub.subscribe(
                    caller, session_filter, {}, since=since, resuming=resuming
                )
            except GatewayError as exc:
                log.error("Webhooks could not watch their sessions (%s); retrying.", exc.code)
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
                continue
            # Resuming later replays from here: events before it were never this pump's.
            floor = max(sub.watch.last_sequence, sub.watch.started_after)
            since = floor if since is None else since
            incomplete = False
            try:
                while True:
                    item = await sub.next()
                    if isinstance(item, LiveProblem):
                        self._told(item)
                        if item.code == "REPLAY_INCOMPLETE":
                            incomplete = True
                            log.error(
                                "Webhooks fell further behind the session events than the "
                                "replay buffer holds (GATEWAY_SUBSCRIPTION_REPLAY): events "
                                "in between are missing."
                            )
                        if item.final:
                            break
                        continue
                    if incomplete and item.sequence <= floor:
                        continue  # the current sessions a resumed subscriber is shown: not news
                    since = max(since, item.sequence)
                    if self._delayed:
                        self._delayed = False
                        log.warning(
                            "Redis answers again: webhook messages held in this process are queued."
                        )
                    queued = message(item, time.time())
                    for delivery in deliveries:
                        await delivery.put(queued)
            finally:
                sub.close()
            resuming = True

    def _told(self, problem: LiveProblem) -> None:
        """Say where the hub's replicated events are while Redis is away, and what was lost.

        With Redis, the hub holds the events of an outage in this process (its outbox, bounded
        by GATEWAY_SUBSCRIPTION_REPLAY) and hands them on in order once Redis answers: the
        webhook messages for them wait with them."""
        if problem.code == "EVENTS_DELAYED" and not self._delayed:
            self._delayed = True
            log.error(
                "Redis is unreachable: webhook messages wait in this process (up to %d session "
                "events per watch) until it answers again.",
                self._hub.config.replay,
            )
        elif problem.code == "EVENTS_LOST":
            log.error("Webhook messages are missing: %s", problem.message)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for delivery in self.deliveries:
            await delivery.queue.close()
        if self._session is not None:
            await self._session.close()
