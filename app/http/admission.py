"""Admission: a bound on GraphQL requests running at once, shared fairly between callers.

A caller alone may use every slot of the process (GATEWAY_MAX_IN_FLIGHT), once the process shows
it can take them: each caller starts with GATEWAY_MAX_IN_FLIGHT_PER_CALLER requests running, and
every request it finishes while the event loop's thread has CPU to spare raises that by one,
up to every slot; while that thread is busy on the CPU (the process is CPU-bound, where more
requests at once only add latency) a finished request halves it, down to that start. So a BFF
whose requests mostly wait on upstreams soon runs as many as the process has slots, and a client
flooding it with heavy pages keeps to its start and leaves the CPU to others and to /healthz:
requests already running cannot be taken back, so the grant has to be earned before it is given.

Past its grant or the slots, a request waits in a bounded queue (GATEWAY_ADMISSION_QUEUE) for a
bounded time (GATEWAY_ADMISSION_WAIT), well under the request deadline, which starts only once a
request runs. Shares bind while callers compete:

- a freed slot goes to the waiting caller with the fewest requests running, among those under
  their grant (first come first served between equals, and within a caller);
- when the queue is full, a newcomer within its share takes the place of the newest waiting
  request of the caller furthest over its share (that one gets 429); a newcomer over its own
  share, or at its grant with slots free, gets 429; with nobody over their share the process is
  saturated: 503 OVERLOADED;
- a request that waited its time out gets 429 if its caller is over its share or was held by
  its own grant, else 503.

A caller's share while k callers compete is GATEWAY_MAX_IN_FLIGHT / k, at most
GATEWAY_MAX_IN_FLIGHT_PER_CALLER, counting what it has running and waiting. Refusals carry
Retry-After. A waiting request whose client hangs up leaves the queue, unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.principal import Principal
from app.http.sse import is_event_stream
from app.observability.metrics import Metrics

RETRY_AFTER_SECONDS = 1
# The event loop is busy when its thread spent more than BUSY_SHARE of the last BUSY_WINDOW
# seconds on the CPU: its requests then wait for the CPU, not for upstreams. Its own thread's
# CPU time, not lateness: a machine busy with other processes slows the loop without making
# more requests at once any costlier, and that must not hold a caller back.
BUSY_SHARE = 0.85
BUSY_WINDOW = 0.5


class LoopLoad:
    """The share of wall time the calling thread (the event loop's) spent on the CPU, measured
    over windows of BUSY_WINDOW seconds as requests end."""

    def __init__(self) -> None:
        self._mark = (time.monotonic(), time.thread_time())
        self.share = 0.0

    def busy(self) -> bool:
        """Whether the last full window was busy; the window rolls over when one has passed."""
        now, cpu = time.monotonic(), time.thread_time()
        began, spent = self._mark
        if now - began >= BUSY_WINDOW:
            self.share = (cpu - spent) / (now - began)
            self._mark = (now, cpu)
        return self.share > BUSY_SHARE


class Shed(Exception):
    """A request admission control answers itself, 429 or 503 with Retry-After."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @property
    def reason(self) -> str:
        """The label of gateway_requests_shed_total: whose excess it was."""
        return "caller" if self.status == 429 else "process"


@dataclass(eq=False, slots=True)
class _Waiter:
    caller: _Caller
    order: int  # arrival order, across callers
    started: float
    # Set to None when a slot is handed over, or to Shed when evicted from the queue.
    outcome: asyncio.Future[Shed | None]


@dataclass(eq=False, slots=True)
class _Caller:
    name: str
    grant: int  # requests it may run at once now
    running: int = 0
    waiting: deque[_Waiter] = field(default_factory=deque)

    @property
    def holding(self) -> int:
        return self.running + len(self.waiting)


class Slots:
    """The process's slots, its queue and the rules above; no ASGI in here."""

    def __init__(
        self,
        slots: int,
        per_caller: int,
        queue: int,
        wait: float,
        metrics: Metrics | None = None,
        busy: Callable[[], bool] | None = None,
    ) -> None:
        self.slots = slots
        self.per_caller = per_caller
        self.start = min(per_caller, slots)  # a caller's grant before it has shown anything
        self._busy = busy if busy is not None else LoopLoad().busy
        self.queue = queue
        self.wait = wait
        self.metrics = metrics
        self.running = 0
        self.queued = 0
        self._callers: dict[str, _Caller] = {}  # callers with requests running or waiting
        self._waiting: dict[str, _Caller] = {}  # those with requests waiting
        self._arrivals = 0

    def try_enter(self, caller: str) -> bool:
        """Take a free slot at once, if there is one and the caller is under its grant with
        nothing of its own waiting."""
        if self.running >= self.slots:
            return False
        state = self._callers.get(caller)
        if state is not None and (state.running >= state.grant or state.waiting):
            return False
        self.running += 1
        self._caller(caller).running += 1
        return True

    async def enter(self, caller: str, gone: asyncio.Future[None] | None = None) -> bool:
        """Wait for a slot: True once it is this request's, False if `gone` ended first (the
        client hung up; the request left the queue). Raises Shed."""
        if self.try_enter(caller):
            return True
        waiter = self._enqueue(self._caller(caller))
        waits: list[asyncio.Future[Any]] = [waiter.outcome]
        if gone is not None:
            waits.append(gone)
        try:
            await asyncio.wait(waits, timeout=self.wait, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self._abandon(waiter)
            raise
        if waiter.outcome.done():
            refused = waiter.outcome.result()
            if refused is not None:
                self._observe(waiter, "evicted")
                raise refused
            if gone is not None and gone.done():
                self.leave(caller)  # admitted as the client left: nobody to answer
                self._observe(waiter, "disconnected")
                return False
            self._observe(waiter, "admitted")
            return True
        if gone is not None and gone.done():
            self._remove(waiter)
            self._observe(waiter, "disconnected")
            return False
        refused = self._timed_out(waiter.caller)
        self._remove(waiter)
        self._observe(waiter, "timeout")
        raise refused

    def leave(self, caller: str) -> None:
        """A running request ended: the caller's grant adapts, and free slots go to waiting
        requests."""
        state = self._callers[caller]
        if self._busy():
            state.grant = max(self.start, state.grant // 2)
        elif state.running >= state.grant or state.waiting:
            state.grant = min(self.slots, state.grant + 1)  # it was held by its grant
        state.running -= 1
        self.running -= 1
        self._dispatch()
        self._forget(state)

    def _dispatch(self) -> None:
        """Hand free slots to waiting requests whose callers are under their grants: the
        caller with the fewest running first; between equals, who came first."""
        while self.running < self.slots and self._waiting:
            eligible = [c for c in self._waiting.values() if c.running < c.grant]
            if not eligible:
                return
            chosen = min(eligible, key=lambda c: (c.running, c.waiting[0].order))
            waiter = self._pop(chosen, newest=False)
            chosen.running += 1
            self.running += 1
            waiter.outcome.set_result(None)

    def share(self) -> int | None:
        """Each caller's share while callers compete (None: one caller alone has it all)."""
        competing = len(self._callers)
        if competing < 2:
            return None
        return max(1, min(self.per_caller, self.slots // competing))

    def _caller(self, name: str) -> _Caller:
        found = self._callers.get(name)
        if found is None:
            found = self._callers[name] = _Caller(name, self.start)
        return found

    def _enqueue(self, caller: _Caller) -> _Waiter:
        if self.queued >= self.queue:
            share = self.share()
            if share is not None and caller.holding >= share:
                self._forget(caller)
                raise self._over_share(caller, share)
            if self.running < self.slots:  # slots are free: its own grant holds it back
                self._forget(caller)
                raise self._over_grant(caller)
            victim = self._furthest_over(share)
            if victim is None:
                self._forget(caller)
                raise Shed(
                    503,
                    "OVERLOADED",
                    f"The gateway is saturated: {self.running} requests running and "
                    f"{self.queued} waiting, its limits; retry after {RETRY_AFTER_SECONDS} s.",
                )
            message = (
                f"This request gave way in the queue to a caller with fewer requests: this "
                f"caller has {victim.holding} running or waiting, more than its share "
                f"({share}) while other callers wait; retry after {RETRY_AFTER_SECONDS} s."
            )
            self._pop(victim, newest=True).outcome.set_result(
                Shed(429, "TOO_MANY_REQUESTS", message)
            )
        self._arrivals += 1
        loop = asyncio.get_running_loop()
        waiter = _Waiter(caller, self._arrivals, loop.time(), loop.create_future())
        caller.waiting.append(waiter)
        self._waiting[caller.name] = caller
        self._count_queued(1)
        return waiter

    def _furthest_over(self, share: int | None) -> _Caller | None:
        """The waiting caller most over its share (between equals, the latest to queue)."""
        if share is None:
            return None
        over = [c for c in self._waiting.values() if c.holding > share]
        return max(over, key=lambda c: (c.holding, c.waiting[-1].order), default=None)

    def _pop(self, caller: _Caller, *, newest: bool) -> _Waiter:
        waiter = caller.waiting.pop() if newest else caller.waiting.popleft()
        if not caller.waiting:
            del self._waiting[caller.name]
        self._count_queued(-1)
        return waiter

    def _remove(self, waiter: _Waiter) -> None:
        caller = waiter.caller
        caller.waiting.remove(waiter)
        if not caller.waiting:
            del self._waiting[caller.name]
        self._count_queued(-1)
        self._forget(caller)

    def _abandon(self, waiter: _Waiter) -> None:
        """The waiting task was cancelled: leave the queue, or the slot it was just handed."""
        if not waiter.outcome.done():
            self._remove(waiter)
        elif waiter.outcome.result() is None:
            self.leave(waiter.caller.name)

    def _forget(self, caller: _Caller) -> None:
        if not caller.holding:
            self._callers.pop(caller.name, None)

    def _timed_out(self, caller: _Caller) -> Shed:
        share = self.share()
        if share is not None and caller.holding > share:
            return self._over_share(caller, share)
        if caller.running >= caller.grant and self.running < self.slots:
            return self._over_grant(caller)
        return Shed(
            503,
            "OVERLOADED",
            f"The gateway had no free slot within {self.wait:g} s ({self.running} requests "
            f"running, its limit); retry after {RETRY_AFTER_SECONDS} s.",
        )

    def _over_share(self, caller: _Caller, share: int) -> Shed:
        return Shed(
            429,
            "TOO_MANY_REQUESTS",
            f"This caller has {caller.holding} requests running or waiting, its share ({share}) "
            f"while other callers wait; retry after {RETRY_AFTER_SECONDS} s.",
        )

    def _over_grant(self, caller: _Caller) -> Shed:
        return Shed(
            429,
            "TOO_MANY_REQUESTS",
            f"This caller has {caller.running} requests running and {len(caller.waiting)} "
            f"waiting: as many as the gateway runs at once for one caller while its CPU is busy; "
            f"retry after {RETRY_AFTER_SECONDS} s.",
        )

    def _count_queued(self, change: int) -> None:
        self.queued += change
        if self.metrics is not None:
            self.metrics.admission_queue.inc(change)

    def _observe(self, waiter: _Waiter, outcome: str) -> None:
        if self.metrics is not None:
            waited = asyncio.get_running_loop().time() - waiter.started
            self.metrics.admission_wait.labels(outcome).observe(waited)


class _Listener:
    """Reads a waiting request's messages, to see its client hang up; replays them later."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._messages: asyncio.Queue[Message | Exception] = asyncio.Queue()
        self._last: Message | None = None
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._listen(), name="admission-listener")

    async def _listen(self) -> None:
        try:
            while True:
                message = await self._receive()
                self._messages.put_nowait(message)
                if message["type"] == "http.disconnect":
                    break
        except Exception as exc:  # e.g. the body limit's: raised again to the app
            self._messages.put_nowait(exc)
        self.gone.set_result(None)

    async def receive(self) -> Message:
        """The next message, as the server's `receive` would have given it."""
        if self._last is not None:
            return self._last  # a disconnect, again, as servers do
        item = await self._messages.get()
        if isinstance(item, Exception):
            raise item
        if item["type"] == "http.disconnect":
            self._last = item
        return item

    def failure(self) -> Exception | None:
        """What reading the request raised, if that is why it is gone."""
        while not self._messages.empty():
            item = self._messages.get_nowait()
            if isinstance(item, Exception):
                return item
        return None

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Admission:
    """ASGI middleware: admit an authenticated GraphQL request through `Slots`."""

    def __init__(
        self,
        app: ASGIApp,
        max_in_flight: int,
        per_caller: int,
        queue: int,
        wait: float,
        metrics: Metrics | None = None,
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.slots = Slots(max_in_flight, per_caller, queue, wait, metrics)
        self.metrics = metrics
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal | None = scope.get("state", {}).get("principal")
        if (
            scope["type"] != "http"
            or principal is None
            or scope["path"].rstrip("/") != self.path
            or is_event_stream(scope)  # lives for hours; bounded by the subscription caps
        ):
            # Only authenticated GraphQL requests do work worth bounding (not the IDE page).
            await self.app(scope, receive, send)
            return
        caller = principal.caller(scope.get("client"))
        if self.slots.try_enter(caller):
            await self._run(caller, scope, receive, send)
            return
        listener = _Listener(receive)
        try:
            try:
                admitted = await self.slots.enter(caller, listener.gone)
            except Shed as refused:
                await self._refuse(send, refused)
                return
            if not admitted:
                failure = listener.failure()
                if failure is not None:
                    raise failure
                return  # the client hung up while waiting: nobody to answer
            await self._run(caller, scope, listener.receive, send)
        finally:
            await listener.close()

    async def _run(self, caller: str, scope: Scope, receive: Receive, send: Send) -> None:
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.leave(caller)
            if self.metrics is not None:
                self.metrics.in_flight.dec()

    async def _refuse(self, send: Send, refused: Shed) -> None:
        if self.metrics is not None:
            self.metrics.shed.labels(refused.reason).inc()
        error = {"message": refused.message, "extensions": {"code": refused.code}}
        await send(
            {
                "type": "http.response.start",
                "status": refused.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps({"errors": [error]}).encode()})
