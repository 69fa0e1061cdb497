"""The hub: one poller per distinct watch, fanning its events out to bounded subscriber queues.

A watch is an effective filter (the caller's scope already applied, so callers who may see the
same sessions share it) plus the forwarded upstream credentials it polls with. Its poller
starts with the first subscriber and stops a grace period after the last, so a client that
reconnects with its last cursor finds the replay buffer still there.

Pollers are a budget, per caller and per process, and idle ones in their grace period count:
otherwise subscribing and completing with ever new filters starts poll loops without bound. A
watch counts against its owner, the caller who started it (or, once that caller no longer
subscribes to it, a caller who does). A new watch past the caller's budget first stops the
caller's own longest-idle watch, past the process's budget anyone's, so a screen that changes
its filter never meets the cap; when every counted watch has subscribers, it is refused.

With Redis (GATEWAY_REDIS_URL) replicas share each watch (app/live/replication.py): `_run`
polls only while this replica holds the watch's lease, and `_publish` sends a change to the
shared stream, from which every replica's `deliver` hands it to its own subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import random
import secrets
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from app.core.errors import BadUserInput, GatewayError, UpstreamError
from app.core.records import Provider, SessionRecord, SessionStatus
from app.core.waiting import stop_if_cancelled
from app.listing.filter import SessionFilter
from app.live.clock import Clock, SystemClock
from app.live.events import EventKind, LiveProblem, SessionChange
from app.live.lag import upstream_time
from app.live.live_metrics import LiveMetrics
from app.live.poll import Polled, poll_provider
from app.live.replication import Replication
from app.live.tracker import Tracker
from app.state.shared import Shared
from app.upstream.credentials import CALLER_HEADERS
from app.upstream.revocations import Revoked
from app.upstream.upstreams import Upstreams

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger("session_gateway.live")

JITTER = 0.1  # each wait is the interval +-10%, so watches started together drift apart


class TooManySubscriptions(GatewayError):
    """The caller, or the process, holds as many open subscriptions as allowed."""

    code = "TOO_MANY_SUBSCRIPTIONS"


class TooManyWatches(GatewayError):
    """A new watch would take the caller, or the process, past its budget of pollers."""

    code = "TOO_MANY_WATCHES"


@dataclass(frozen=True, slots=True)
class LiveConfig:
    interval: float = 5.0
    grace: float = 30.0
    queue: int = 100
    replay: int = 1000
    max_sessions: int = 1000  # sessions per provider kept in full (what includeInitial sends)
    sweep_pages: int = 5  # pages per provider per poll that re-read the rest of a listing
    # Providers whose sweep reads another number of pages per poll (small pages, big listings).
    sweep_pages_by_provider: Mapping[Provider, int] = field(default_factory=dict)
    max_subscriptions: int = 1000
    max_per_caller: int = 20
    max_watches: int = 1000
    max_watches_per_caller: int = 20
    request_timeout: float = 5.0
    call_budget: int | None = 100

    @classmethod
    def of(cls, settings: Settings) -> LiveConfig:
        return cls(
            interval=settings.poll_interval,
            grace=settings.poll_grace,
            queue=settings.subscription_queue,
            replay=settings.subscription_replay,
            max_sessions=settings.poll_max_sessions,
            sweep_pages=settings.poll_sweep_pages,
            sweep_pages_by_provider=dict(settings.poll_sweep_pages_by_provider),
            max_subscriptions=settings.max_subscriptions,
            max_per_caller=settings.max_subscriptions_per_caller,
            max_watches=settings.max_watches,
            max_watches_per_caller=settings.max_watches_per_caller,
            request_timeout=settings.request_timeout,
            call_budget=settings.max_upstream_calls,
        )

    def sweep_pages_of(self, provider: Provider) -> int:
        """The pages `provider`'s sweep reads per poll."""
        return self.sweep_pages_by_provider.get(provider, self.sweep_pages)


Item = SessionChange | LiveProblem
_WAKE = LiveProblem("WAKE", "the backlog has items")  # never leaves Subscription.next


class Subscription:
    """One subscriber's bounded queue; iterate it for events until a final problem or close."""

    def __init__(self, hub: Hub, watch: Watch, caller: str, size: int) -> None:
        self._hub, self.watch, self.caller = hub, watch, caller
        self._queue: asyncio.Queue[Item] = asyncio.Queue(size)
        # Replayed and initial events, read before the queue: bounded by the replay buffer and
        # the poll bound, not by the queue, which measures how far behind live events one is.
        self.backlog: deque[Item] = deque()
        self.closed = False

    def offer(self, item: Item) -> None:
        """Queue `item` without waiting; a full queue drops the subscriber (told why)."""
        if self.closed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(
                LiveProblem(
                    "SLOW_CONSUMER",
                    "The subscription fell too far behind its events and was dropped; "
                    "resubscribe with the last cursor you received.",
                    final=True,
                )
            )
            self._hub.metrics.dropped.inc()
            self.close()

    async def next(self) -> Item:
        while True:
            if self.backlog:
                return self.backlog.popleft()
            item = await self._queue.get()
            if item is not _WAKE:
                return item

    def ready(self) -> list[Item]:
        """What can be read now without waiting."""
        items = list(self.backlog)
        self.backlog.clear()
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _WAKE:
                items.append(item)
        return items

    def close(self) -> None:
        """Leave the watch (idempotent); queued items can still be read."""
        if not self.closed:
            self.closed = True
            self._hub.leave(self)


@dataclass(eq=False)
class Watch:
    """One poll loop's state: what it knows per provider, subscribers, replay buffer."""

    key: tuple[SessionFilter, str]
    session_filter: SessionFilter
    headers: Mapping[str, str]
    started_after: int  # the hub's sequence when this watch began
    replay: deque[SessionChange]
    owner: str  # whose budget of watches this one counts against
    subscribers: set[Subscription] = field(default_factory=set)
    callers: dict[str, int] = field(default_factory=dict)  # subscribers per caller
    trackers: dict[Provider, Tracker] = field(default_factory=dict)
    failing: set[Provider] = field(default_factory=set)
    evicted_through: int = 0  # the newest sequence no longer in `replay`
    last_sequence: int = 0
    polled: bool = False
    waiting_initial: set[Subscription] = field(default_factory=set)
    idle_since: float | None = None
    task: asyncio.Task[None] | None = None
    # Sessions whose ENDED went out lately, by the event's sequence: a revocation through a
    # replica that does not poll and the holder's poll that finds the session gone may both
    # publish one before either learns of the other.
    ended: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def repeats(self, change: SessionChange) -> bool:
        """Whether `change` is a second ENDED of a session (the same event delivered again,
        by its sequence, is not); an ENDED that is not is noted, any other event forgets it."""
        if change.kind is not EventKind.ENDED:
            self.ended.pop(change.global_id, None)
            return False
        first = self.ended.setdefault(change.global_id, change.sequence)
        if len(self.ended) > (self.replay.maxlen or 1):
            self.ended.popitem(last=False)
        return first != change.sequence

    def initial(self) -> list[Item]:
        """The active sessions known now, as CREATED, oldest first; where more are watched
        than are kept in full, the newest kept ones, after an INITIAL_TRUNCATED problem."""
        records: list[SessionRecord] = []
        problems: list[Item] = []
        for provider, tracker in self.trackers.items():
            kept, active = tracker.initial()
            records += kept
            if active > len(kept):
                problems.append(
                    LiveProblem(
                        "INITIAL_TRUNCATED",
                        f"{active} sessions of {provider.value} match; only the newest "
                        f"{len(kept)} follow as CREATED (list the others with the sessions "
                        "query). Later events cover all of them.",
                        provider,
                    )
                )
        records.sort(key=lambda r: r.sort_key)
        return [
            *problems,
            *(
                SessionChange(
                    EventKind.CREATED, r.provider, r.global_id, r.created_at, r, self.last_sequence
                )
                for r in records
            ),
        ]


class Hub:
    """Every watch of one app; subscribe() to one, revocations go to all."""

    def __init__(
        self,
        upstreams: Upstreams,
        config: LiveConfig | None = None,
        metrics: LiveMetrics | None = None,
        clock: Clock | None = None,
        shared: Shared | None = None,
    ) -> None:
        self.upstreams = upstreams
        self.config = config or LiveConfig()
        self.metrics = metrics or LiveMetrics()
        self.clock = clock or SystemClock()
        # Its own generator: the global one belongs to whoever else runs in the process.
        self._random = random.Random()
        self.epoch = secrets.token_hex(4)  # cursors of another process (or restart) are stale
        self._sequence = 0
        self._watches: dict[tuple[SessionFilter, str], Watch] = {}
        self._per_caller: dict[str, int] = {}
        self._open = 0
        self._owned: dict[str, int] = {}  # watches per owner
        self._idle: dict[Watch, None] = {}  # watches without subscribers, longest idle first
        self._stopping: set[asyncio.Task[None]] = set()  # pollers of watches made room for
        upstreams.revocations.listen(self.on_revoked)
        # With Redis, replicas share each watch: one polls, every one delivers its events.
        self.replication = (
            Replication(self, shared) if shared is not None and shared.configured else None
        )

    async def start(self) -> None:
        """What needs a round trip before the first subscription (the replicas' epoch)."""
        if self.replication is not None:
            await self.replication.start()

    # -- cursors

    def cursor(self, sequence: int) -> str:
        return f"{self.epoch}.{sequence}"

    def parse_cursor(self, value: str, argument: str) -> int | None:
        """The sequence of a cursor of this process; None when it is another process's."""
        epoch, _, number = value.strip().partition(".")
        if not epoch or not number.isdigit() or len(number) > 18:
            raise BadUserInput(f"`{argument}` is not a cursor of sessionEvents.")
        return int(number) if epoch == self.epoch else None

    # -- subscribing

    def subscribe(
        self,
        caller: str,
        session_filter: SessionFilter,
        forwarded: Mapping[str, str] | None = None,
        *,
        include_initial: bool = False,
        since: int | None = None,
        resuming: bool = False,
    ) -> Subscription:
        """Join (or start) the watch of `session_filter` with the caller's forwarded headers.

        `resuming` with `since` None means a cursor this process cannot honour: the subscriber
        is told (REPLAY_INCOMPLETE) and gets the current sessions instead.
        """
        config = self.config
        if self._open >= config.max_subscriptions:
            raise TooManySubscriptions(
                f"This gateway holds its maximum of {config.max_subscriptions} open "
                "subscriptions; try again later."
            )
        if self._per_caller.get(caller, 0) >= config.max_per_caller:
            raise TooManySubscriptions(
                f"You hold the maximum of {config.max_per_caller} open subscriptions; "
                "close one first."
            )
        headers = MappingProxyType(dict(forwarded or {}))
        key = (session_filter, _digest(headers))
        watch = self._watches.get(key)
        if watch is None:
            self._make_room(caller)
            replay: deque[SessionChange] = deque(maxlen=config.replay)
            watch = Watch(key, session_filter, headers, self._sequence, replay, caller)
            self._watches[key] = watch
            self._owned[caller] = self._owned.get(caller, 0) + 1
            watch.task = asyncio.create_task(self._run(watch), name="live-poller")
            self.metrics.pollers.inc()
        elif watch.owner != caller and watch.owner not in watch.callers:
            self._hand_over(watch, caller)  # its owner left it: it is kept for this caller now
        sub = Subscription(self, watch, caller, config.queue)
        watch.subscribers.add(sub)
        watch.callers[caller] = watch.callers.get(caller, 0) + 1
        watch.idle_since = None
        self._idle.pop(watch, None)
        self._open += 1
        self._per_caller[caller] = self._per_caller.get(caller, 0) + 1
        self.metrics.subscriptions.inc()
        if self.replication is None or self.replication.begin(
            sub, include_initial, since, resuming
        ):
            self.begin(sub, include_initial, since, resuming)
        return sub

    def begin(
        self,
        sub: Subscription,
        include_initial: bool,
        since: int | None,
        resuming: bool,
        *,
        wake: bool = False,
    ) -> None:
        """Give a new subscriber its replayed or initial events, and its watch's problems."""
        watch = sub.watch
        # All of the below happens without awaiting: no event can slip between replay and live.
        if resuming:
            if since is None or since < watch.started_after or since < watch.evicted_through:
                sub.backlog.append(
                    LiveProblem(
                        "REPLAY_INCOMPLETE",
                        "Events after that cursor are no longer kept; the sessions matching now "
                        "follow as CREATED.",
                    )
                )
                include_initial = True
            else:
                sub.backlog.extend(c for c in watch.replay if c.sequence > since)
        if include_initial:
            if watch.polled:
                sub.backlog.extend(watch.initial())
            else:
                watch.waiting_initial.add(sub)
        for provider in watch.failing:
            sub.offer(_failing(provider, None))
        if wake and sub.backlog:
            sub.offer(_WAKE)  # started after subscribing: its reader may wait on the queue

    def leave(self, sub: Subscription) -> None:
        watch = sub.watch
        if sub not in watch.subscribers:
            return
        watch.subscribers.discard(sub)
        watch.waiting_initial.discard(sub)
        if held := watch.callers[sub.caller] - 1:
            watch.callers[sub.caller] = held
        else:
            del watch.callers[sub.caller]
        self._open -= 1
        left = self._per_caller[sub.caller] - 1
        if left:
            self._per_caller[sub.caller] = left
        else:
            del self._per_caller[sub.caller]
        self.metrics.subscriptions.dec()
        if not watch.subscribers:
            watch.idle_since = self.clock.monotonic()
            self._idle[watch] = None
        elif watch.owner not in watch.callers:
            self._hand_over(watch, next(iter(watch.callers)))

    @property
    def watches(self) -> int:
        return len(self._watches)

    def watches_of(self, caller: str) -> int:
        """The watches counting against `caller`'s budget (idle ones included)."""
        return self._owned.get(caller, 0)

    # -- the budget of watches

    def _make_room(self, caller: str) -> None:
        """Make a place for a new watch of `caller`, stopping idle ones if it must; refuse
        (stopping nothing) when the watches counted against a full budget have subscribers."""
        config = self.config
        # Watches handed over to a caller may have taken it past its budget: all count.
        mine = max(self._owned.get(caller, 0) - config.max_watches_per_caller + 1, 0)
        anyone = max(len(self._watches) - mine - config.max_watches + 1, 0)
        if not mine and not anyone:
            return
        own = [w for w in self._idle if w.owner == caller]  # longest idle first
        if mine > len(own):
            raise TooManyWatches(
                f"You already have the maximum of {config.max_watches_per_caller} watches "
                "(distinct filters polled for you), each with an open subscription; close one "
                "first, or subscribe with a filter you already watch."
            )
        # Past the process's budget the caller's own idle watches go first, then anyone's.
        others = own[mine:] + [w for w in self._idle if w.owner != caller]
        if anyone > len(others):
            raise TooManyWatches(
                f"This gateway polls its maximum of {config.max_watches} watches (distinct "
                "filters) for open subscriptions; try again later, or subscribe with a filter "
                "already watched."
            )
        for watch in own[:mine] + others[:anyone]:
            self._stop(watch)

    def _hand_over(self, watch: Watch, caller: str) -> None:
        self._disown(watch)
        watch.owner = caller
        self._owned[caller] = self._owned.get(caller, 0) + 1

    def _disown(self, watch: Watch) -> None:
        if left := self._owned[watch.owner] - 1:
            self._owned[watch.owner] = left
        else:
            del self._owned[watch.owner]

    def _stop(self, watch: Watch) -> None:
        """Stop an idle watch's poller now: it leaves every count at once."""
        self._retire(watch)
        if watch.task is not None:
            watch.task.cancel()
            self._stopping.add(watch.task)
            watch.task.add_done_callback(self._stopping.discard)

    def _retire(self, watch: Watch) -> None:
        """Take `watch` out of the hub (once: its poller's end and _stop may both ask)."""
        if self._watches.get(watch.key) is not watch:
            return
        del self._watches[watch.key]
        self._idle.pop(watch, None)
        self._disown(watch)
        self.metrics.pollers.dec()

    # -- polling

    async def _run(self, watch: Watch) -> None:
        try:
            if self.replication is not None:
                await self.replication.run(watch)
                return
            while True:
                began = self.clock.monotonic()
                await self.poll(watch)
                stop_if_cancelled()
                wait = self.config.interval * self._random.uniform(1 - JITTER, 1 + JITTER)
                # Polls start an interval apart: a long sweep does not stretch the interval.
                await self.clock.sleep(max(wait - (self.clock.monotonic() - began), 0.0))
                idle = watch.idle_since
                if idle is not None and self.clock.monotonic() - idle >= self.config.grace:
                    return
        finally:
            self._retire(watch)

    async def poll(self, watch: Watch) -> None:
        """One poll of every provider the watch covers; each provider's poll has a request's
        deadline and call budget of its own."""
        CALLER_HEADERS.set(watch.headers)
        providers = watch.session_filter.in_scope(self.upstreams.enabled)
        now = self.clock.now()
        config = self.config
        polls = []
        for provider in providers:
            tracker = watch.trackers.get(provider)
            if tracker is None:
                tracker = watch.trackers[provider] = Tracker(provider, config.max_sessions)
            polls.append(
                poll_provider(
                    self.upstreams,
                    provider,
                    tracker,
                    watch.session_filter,
                    now,
                    sweep_pages=config.sweep_pages_of(provider),
                    call_budget=config.call_budget,
                    request_timeout=config.request_timeout,
                    early=functools.partial(self._early, watch, provider),
                )
            )
        results = await asyncio.gather(*polls)
        for provider, result in zip(providers, results, strict=True):
            self._apply(watch, provider, result)
        if not watch.polled:
            self.release_initial(watch)

    def release_initial(self, watch: Watch) -> None:
        """The watch knows its sessions: subscribers waiting for them get them."""
        watch.polled = True
        initial = watch.initial()
        for sub in watch.waiting_initial:
            sub.backlog.extend(initial)
            sub.offer(_WAKE)  # a reader waiting on the queue looks at the backlog again
        watch.waiting_initial.clear()

    def _apply(self, watch: Watch, provider: Provider, polled: Polled) -> None:
        self.metrics.poll_calls.labels(provider.value).observe(polled.calls)
        if polled.rounds:
            self.metrics.sweeps.labels(provider.value).inc(polled.rounds)
        self._early(watch, provider, polled.changes)
        error = polled.error
        if error is None:
            watch.failing.discard(provider)
            return
        if not isinstance(error, UpstreamError):
            log.error("A live poll of %s failed", provider.value, exc_info=error)
        if provider not in watch.failing:  # one problem per outage, not one per poll
            watch.failing.add(provider)
            self._tell(watch, _failing(provider, error))

    def _early(self, watch: Watch, provider: Provider, changes: list[SessionChange]) -> None:
        """Publish what a poll of `provider` found so far (the head's finds go out before the
        sweep runs); the lag metric times each from the upstream's own time of the change."""
        for change in changes:
            upstream = upstream_time(change)
            if upstream is not None:
                seconds = max((self.clock.now() - upstream).total_seconds(), 0.0)
                self.metrics.lag.labels(provider.value, change.kind.value).observe(seconds)
            self._publish(watch, change)

    def _publish(self, watch: Watch, change: SessionChange, *, polled: bool = True) -> None:
        if self.replication is not None:
            # Sequenced by the shared stream, delivered here as on every replica by `deliver`.
            self.replication.outbox(watch, change, fenced=polled)
            return
        self._sequence += 1
        self.deliver(watch, replace(change, sequence=self._sequence))

    def deliver(self, watch: Watch, change: SessionChange) -> None:
        """Keep `change` (sequenced) for replay and offer it to the watch's subscribers."""
        if watch.repeats(change):
            return
        if len(watch.replay) == watch.replay.maxlen:
            watch.evicted_through = watch.replay[0].sequence
        watch.replay.append(change)
        watch.last_sequence = change.sequence
        self.metrics.events.labels(change.kind.value).inc()
        for sub in list(watch.subscribers):
            sub.offer(change)

    def _tell(self, watch: Watch, problem: LiveProblem) -> None:
        if self.replication is not None:
            # A poll's problem (a failing provider, ...) is news for every replica's subscribers.
            self.replication.outbox(watch, problem, fenced=True)
            return
        self.tell_here(watch, problem)

    def tell_here(self, watch: Watch, problem: LiveProblem) -> None:
        """Tell this process's subscribers of `watch` about `problem`."""
        self.metrics.problems.labels(problem.code).inc()
        for sub in list(watch.subscribers):
            sub.offer(problem)

    # -- revocations

    async def on_revoked(self, revoked: Revoked) -> None:
        """Sessions ended through this gateway are ENDED in every watch that holds them, now."""
        now = self.clock.now()
        for watch in list(self._watches.values()):
            tracker = watch.trackers.get(revoked.provider)
            if tracker is None:
                continue
            ended = tracker.revoked(
                revoked.session_ids, revoked.user_id, now, SessionStatus.REVOKED
            )
            for change in ended:
                self._publish(watch, change, polled=False)
            if ended and self.replication is not None:
                await self.replication.flush(watch)

    async def close(self) -> None:
        """Stop every poller (app shutdown)."""
        tasks = [w.task for w in self._watches.values() if w.task is not None]
        tasks += self._stopping
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.replication is not None:
            await self.replication.close()


def _digest(headers: Mapping[str, str]) -> str:
    """Watches with different forwarded credentials never share a poll (nor their results)."""
    text = "\n".join(f"{k}:{v}" for k, v in sorted(headers.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16] if headers else ""


def _failing(provider: Provider, error: BaseException | None) -> LiveProblem:
    if isinstance(error, UpstreamError):
        return LiveProblem(error.code, str(error), provider)
    return LiveProblem(
        "UPSTREAM_UNAVAILABLE",
        f"{provider.value} could not be polled; its sessions keep their last known state "
        "until it answers again.",
        provider,
    )
