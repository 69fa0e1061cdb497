"""Delivering one endpoint's queue: in order per session, several sessions at once, retried
with exponential backoff and jitter (or the receiver's Retry-After) for a bounded time.

A message waits only for the earlier messages of its own session: a session whose messages
fail holds back that session, not the others. Each attempt is bounded by the HTTP timeout, and
the deliverer runs apart from the pollers, so a slow or dead receiver costs nothing but its own
queue. A 410 disables the endpoint: what it holds and everything queued for it after is
dead-lettered. With Redis the 410 is recorded there for the endpoint's URL and secret, so
replicas and later processes keep it disabled until either changes; without, a restart enables
it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from dataclasses import dataclass

from app.core.waiting import stop_if_cancelled, wait_set
from app.webhooks.config import Endpoint
from app.webhooks.message import Message
from app.webhooks.metrics import WebhookMetrics
from app.webhooks.queue import Entry, Put, Queue
from app.webhooks.sender import Outcome, Sender

log = logging.getLogger("session_gateway.webhooks")

# Deliveries in flight per endpoint (to different sessions), and messages held in the process
# per endpoint while they wait their turn or their retry; the rest wait in the queue.
IN_FLIGHT = 8
HOLD = 1000
# How often a replica that does not deliver an endpoint checks whether it should, and how
# often the deliverer looks for messages other replicas queued.
POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first: float = 5.0  # seconds before the first retry; each next one doubles
    most: float = 3600.0  # the longest single wait
    total: float = 86_400.0  # a message is dead-lettered once retried this long

    def delay(self, failures: int, rng: random.Random) -> float:
        """The wait after `failures` failed attempts: half fixed, half random (jitter)."""
        base = min(self.most, self.first * 2.0 ** min(failures - 1, 60))
        return base / 2 + rng.uniform(0, base / 2)


@dataclass(slots=True)
class Held:
    entry: Entry
    failures: int = 0
    due: float = 0.0  # monotonic time of the next attempt


class Delivery:
    """The deliverer of one endpoint; `put` queues, `run` delivers until cancelled."""

    def __init__(
        self,
        endpoint: Endpoint,
        queue: Queue,
        sender: Sender,
        policy: RetryPolicy,
        metrics: WebhookMetrics,
        wake: asyncio.Event,
    ) -> None:
        self.endpoint = endpoint
        self.queue = queue
        self._sender = sender
        self._policy = policy
        self._metrics = metrics
        self._label = endpoint.key
        self._wake = wake
        self._rng = random.Random()
        self.disabled = False
        self._full = False  # the queue refused a message and has not taken one since
        self._sessions: dict[str, deque[Held]] = {}
        self._held = 0
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._term = 0

    # -- queueing

    async def put(self, message: Message) -> None:
        """Queue `message` if the endpoint wants it; a full queue refuses it, counted and logged."""
        if message.type not in self.endpoint.events:
            return
        if self.disabled:
            self._dead(message, "disabled")
            return
        added = await self.queue.put(message)
        if added == Put.FULL:
            self._metrics.queue_full.labels(self._label).inc()
            self._dead(message, "full")
            if not self._full:
                self._full = True
                log.error(
                    "Webhook endpoint %s (%s): its queue is full; new messages are "
                    "dead-lettered until it drains.",
                    self._label,
                    self.endpoint.shown,
                )
        elif added == Put.ADDED:
            self._full = False

    # -- delivering

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._step()
                except Exception:
                    stop_if_cancelled()
                    # A bug must not stop deliveries for good: what is held is retried.
                    log.exception("Webhook endpoint %s: delivery failed", self._label)
                    await self._sleep(POLL_SECONDS)
                stop_if_cancelled()
        finally:
            for task in self._busy.values():
                task.cancel()
            for task in list(self._busy.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _step(self) -> None:
        term = await self.queue.lead()
        if term != self._term:
            self._forget()  # another replica may have delivered these since
            self._term = term
            # A replica, or the process before this one, may have met a 410 meanwhile.
            if term and not self.disabled and await self.queue.disabled():
                self.disabled = True
                log.error(
                    "Webhook endpoint %s (%s) answered 410 Gone before (recorded in Redis): it "
                    "stays disabled until its URL or secret changes in GATEWAY_WEBHOOKS; its "
                    "messages are dead-lettered.",
                    self._label,
                    self.endpoint.shown,
                )
        if not term:
            await self._sleep(POLL_SECONDS)
            return
        if self._held < HOLD:
            for entry in await self.queue.take(HOLD - self._held):
                self._sessions.setdefault(entry.message.session, deque()).append(Held(entry))
                self._held += 1
        self._metrics.queue_depth.labels(self._label).set(await self.queue.depth())
        if self.disabled:
            await self._drop_held()
        for session in [s for s, waiting in self._sessions.items() if not waiting]:
            del self._sessions[session]
        now = time.monotonic()
        next_due = now + POLL_SECONDS
        for session, waiting in self._sessions.items():
            if session in self._busy:
                continue
            head = waiting[0]
            if head.due > now:
                next_due = min(next_due, head.due)
            elif len(self._busy) < IN_FLIGHT:
                self._busy[session] = asyncio.create_task(self._attempt(session, head))
            # else: due, but every slot is taken; an attempt that ends wakes the loop
        await self._sleep(next_due - now)

    async def _sleep(self, seconds: float) -> None:
        await wait_set(self._wake, seconds)
        self._wake.clear()

    def _forget(self) -> None:
        for task in self._busy.values():
            task.cancel()
        self._busy.clear()
        self._sessions.clear()
        self._held = 0

    async def _attempt(self, session: str, held: Held) -> None:
        message = held.entry.message
        try:
            answer = await self._sender.send(message)
            self._metrics.deliveries.labels(self._label, answer.outcome.value).inc()
            if answer.outcome is Outcome.DELIVERED:
                await self._finish(session, held)
                return
            if answer.outcome is Outcome.GONE:
                await self._disable()
                return
            held.failures += 1
            wait = answer.retry_after
            if wait is None:
                wait = self._policy.delay(held.failures, self._rng)
            if time.time() + wait > message.queued + self._policy.total:
                self._dead(message, "expired", answer.detail, held.failures)
                await self._finish(session, held)
                return
            self._metrics.retries.labels(self._label).inc()
            if held.failures == 1:
                log.warning(
                    "Webhook endpoint %s (%s): %s failed (%s); retrying in %.3g s, then with "
                    "backoff.",
                    self._label,
                    self.endpoint.shown,
                    message.id,
                    answer.detail,
                    wait,
                )
            held.due = time.monotonic() + wait
        finally:
            # Only its own slot: after a lease change the session may have a new attempt.
            if self._busy.get(session) is asyncio.current_task():
                del self._busy[session]
            self._wake.set()

    async def _finish(self, session: str, held: Held) -> None:
        await self.queue.done(held.entry)
        waiting = self._sessions.get(session)
        if waiting and waiting[0] is held:
            waiting.popleft()
            self._held -= 1

    async def _drop_held(self) -> None:
        """Dead-letter what a disabled endpoint holds (its queue entries go too)."""
        for session, waiting in self._sessions.items():
            if session in self._busy:
                continue
            while waiting:
                held = waiting.popleft()
                self._held -= 1
                self._dead(held.entry.message, "disabled")
                await self.queue.done(held.entry)

    async def _disable(self) -> None:
        if self.disabled:
            return
        self.disabled = True
        until = "its URL or secret changes" if self.queue.durable else "the gateway restarts"
        log.error(
            "Webhook endpoint %s (%s) answered 410 Gone: it is disabled until %s; its queued "
            "messages and later ones are dead-lettered.",
            self._label,
            self.endpoint.shown,
            until,
        )
        await self.queue.disable()

    def _dead(self, message: Message, reason: str, detail: str = "", attempts: int = 0) -> None:
        self._metrics.dead_letters.labels(self._label, reason).inc()
        log.error(
            "Webhook endpoint %s (%s): dead-lettered %s (%s, %s) after %d attempts%s.",
            self._label,
            self.endpoint.shown,
            message.id,
            message.type,
            reason,
            attempts,
            f", last answer {detail}" if detail else "",
        )
