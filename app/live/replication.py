"""Watches shared by replicas: one polls (the lease holder), every one delivers.

With GATEWAY_REDIS_URL each replica that has subscribers for a watch joins it: it loads the
watch's state and the tail of its event stream from Redis (app/live/bus.py) and reads the
stream from there on, delivering each event to its own subscribers with the sequence the stream
gave it. Only the replica holding the watch's lease (app/live/lease.py) polls; its changes go to
the stream, and reach its own subscribers the same way as everyone else's. A replica that takes
the lease over first reads the stream to its end, so it polls from exactly the state the
subscribers were told of: what the last holder published is not announced again, and what it
found but never published (it died first) is found again.

Redis unreachable: the holder keeps polling and keeps its changes in an outbox (bounded by
GATEWAY_SUBSCRIPTION_REPLAY) until Redis answers; every replica tells its subscribers once that
events are delayed, and a holder whose outbox overflowed publishes how many events were lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.core.records import Provider
from app.core.waiting import stop_if_cancelled, wait_set
from app.live import codec
from app.live.bus import POLLED, Bus, Entry, Joined, Outgoing, watch_id
from app.live.events import LiveProblem, SessionChange
from app.live.lease import Lease
from app.live.tracker import Tracker
from app.state.shared import ERRORS, RETRY_SECONDS, Shared

if TYPE_CHECKING:
    from app.live.hub import Hub, Subscription, Watch

log = logging.getLogger("session_gateway.live")

# The lease lives one interval and is renewed (or tried for) three times in it: a dead
# holder's lease is taken within an interval and a third of its last renewal.
RENEWALS = 3
MIN_LEASE_SECONDS = 1.0
BLOCK_SECONDS = 1.0  # a blocking stream read waits at most this long, then reads again

DELAYED = LiveProblem(
    "EVENTS_DELAYED",
    "Redis, through which this gateway's replicas share events, is unreachable: events are "
    "kept and follow when it answers again.",
)
TRIMMED = LiveProblem(
    "EVENTS_LOST",
    "Some events of this watch were trimmed from Redis before this replica read them; "
    "resubscribe with includeInitial for the sessions now.",
)
RESTARTED = LiveProblem(
    "EVENTS_LOST",
    "Redis, through which this gateway's replicas share events, lost them (it restarted "
    "empty): some events may be missing; resubscribe with includeInitial for the sessions now.",
)


@dataclass(eq=False)
class Replica:
    """One replica's part in one watch."""

    wid: str
    lease: Lease
    joined: bool = False
    joined_once: bool = False
    epoch: str | None = None  # of the stream `last` counts in
    polling: bool = False  # holds the lease and has read the stream to its end
    last: int = 0  # the newest stream sequence delivered here
    # (a change or a poll's problem, whether it is a poll's: only the lease holder's go in)
    outbox: list[tuple[SessionChange | LiveProblem, bool]] = field(default_factory=list)
    baselines: set[Provider] = field(default_factory=set)
    lost: int = 0  # events dropped from a full outbox, not yet published as lost
    delayed: bool = False  # subscribers were told events are delayed
    pending: list[tuple[Subscription, bool, int | None, bool]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one publish at a time


class Replication:
    """The replicated side of one hub."""

    def __init__(self, hub: Hub, shared: Shared, owner: str | None = None) -> None:
        self.hub, self.shared = hub, shared
        self.owner = owner or secrets.token_hex(8)
        config = hub.config
        # At least a second: a busy replica must not lose its lease to a short stall.
        self.lease_ttl = max(config.interval, MIN_LEASE_SECONDS)
        self.bus = Bus(
            shared, self.owner, config.replay, max(config.grace, 60.0) * 2, BLOCK_SECONDS
        )
        self._replicas: dict[Watch, Replica] = {}
        self._by_wid: dict[str, Watch] = {}
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._outage = False  # the reader saw Redis fail and has not checked its epoch since

    async def start(self) -> None:
        """Learn the replicas' epoch, so cursors from other replicas are known at once."""
        with contextlib.suppress(*ERRORS):
            self.hub.epoch = await self.bus.epoch()

    def replica(self, watch: Watch) -> Replica:
        found = self._replicas.get(watch)
        if found is None:
            wid = watch_id(watch.session_filter, watch.key[1])
            lease = Lease(self.shared, self.bus.key(wid, "lease"), self.owner, self.lease_ttl)
            found = self._replicas[watch] = Replica(wid, lease)
            self._by_wid[wid] = watch
        return found

    # -- subscribing

    def begin(
        self, sub: Subscription, include_initial: bool, since: int | None, resuming: bool
    ) -> bool:
        """Whether the hub may start `sub` now; if not it starts once the watch is joined."""
        replica = self.replica(sub.watch)
        if replica.joined:
            return True
        replica.pending.append((sub, include_initial, since, resuming))
        if replica.delayed:
            sub.offer(DELAYED)
        return False

    # -- the watch's loop on this replica

    async def run(self, watch: Watch) -> None:
        """Hold (or wait for) the watch's lease and poll while held; return once idle."""
        replica = self.replica(watch)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="live-bus-reader")
        renewer = asyncio.create_task(self._renew(watch, replica), name="live-lease")
        hub, config = self.hub, self.hub.config
        try:
            while True:
                if replica.polling and replica.joined:
                    began = hub.clock.monotonic()
                    before = set(watch.trackers)
                    await hub.poll(watch)
                    replica.baselines |= set(watch.trackers) - before
                    await self.flush(watch)
                    stop_if_cancelled()
                    wait = config.interval * hub._random.uniform(0.9, 1.1)
                    # Polls start an interval apart: a long sweep does not stretch the interval.
                    await hub.clock.sleep(max(wait - (hub.clock.monotonic() - began), 0.0))
                else:
                    replica.wake.clear()
                    await wait_set(replica.wake, config.interval)
                idle = watch.idle_since
                if idle is not None and hub.clock.monotonic() - idle >= config.grace:
                    return
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            self._forget(watch, replica)
            if replica.polling:
                replica.polling = False
                hub.metrics.leases.dec()
                with contextlib.suppress(*ERRORS, TimeoutError):
                    async with asyncio.timeout(1.0):
                        await replica.lease.release()

    async def _renew(self, watch: Watch, replica: Replica) -> None:
        """Join the watch, then renew or take its lease, RENEWALS times an interval."""
        tick = self.lease_ttl / RENEWALS
        while True:
            try:
                await self._renew_once(watch, replica)
            except Exception:  # a bug must not stop the watch for good on this replica
                stop_if_cancelled()
                log.exception("Renewing the lease of watch %s failed", replica.wid)
            stop_if_cancelled()
            await self.hub.clock.sleep(tick)

    async def _renew_once(self, watch: Watch, replica: Replica) -> None:
        if not replica.joined:
            await self._join(watch, replica)
        if replica.joined:
            held = await replica.lease.hold()
            if held and not replica.polling:
                # Poll from what subscribers were told: the stream to its end first.
                if await self._catch_up(watch, replica):
                    replica.polling = True
                    # Its first publish writes the whole state again: whatever Redis lost of
                    # it, later joiners start from what subscribers were told. What an
                    # earlier turn as holder left unpublished, this turn's polls find again.
                    replica.baselines = set(watch.trackers)
                    replica.outbox = [(c, fenced) for c, fenced in replica.outbox if not fenced]
                    self.hub.metrics.leases.inc()
                    self.hub.metrics.takeovers.inc()
                    log.info("This replica polls watch %s now.", replica.wid)
                    replica.wake.set()
            elif replica.polling and not held:
                self._lost_lease(watch, replica)
        if any(not fenced for _, fenced in replica.outbox):
            await self.flush(watch)  # revocations kept while Redis did not answer

    def _lost_lease(self, watch: Watch, replica: Replica) -> None:
        """Another replica polls now: what this one found but did not publish is its to find,
        and this one's snapshot is reloaded from what was published."""
        replica.lease.held = False
        if replica.polling:
            replica.polling = False
            self.hub.metrics.leases.dec()
        replica.outbox = [(c, fenced) for c, fenced in replica.outbox if not fenced]
        replica.baselines.clear()
        replica.joined = False
        self._note_outbox()

    async def _catch_up(self, watch: Watch, replica: Replica) -> bool:
        try:
            entries = await self.bus.read_now(replica.wid, replica.last)
        except ERRORS as exc:
            self.shared.failed("live", exc)
            return False
        self._receive(watch, replica, entries)
        return True

    async def _join(self, watch: Watch, replica: Replica) -> None:
        try:
            joined = await self.bus.join(replica.wid)
        except ERRORS as exc:
            self.shared.failed("live", exc)
            self._delay(watch, replica)
            return
        self.shared.succeeded()
        self._joined(watch, replica, joined)

    def _joined(self, watch: Watch, replica: Replica, joined: Joined) -> None:
        hub = self.hub
        if replica.joined_once and replica.epoch not in (None, joined.epoch):
            # Redis lost the stream and nothing here noticed yet (see `_reset`).
            replica.last = 0
            hub.tell_here(watch, RESTARTED)
        hub.epoch = replica.epoch = joined.epoch
        # The state subscribers were told of: each provider the holder has polled at least once.
        # A replica that takes the lease polls on from it (docs/live.md, "Replicas").
        trackers: dict[Provider, Tracker] = {}
        for name in joined.state:
            if name.startswith(POLLED + ":"):
                provider = Provider(name.removeprefix(POLLED + ":"))
                trackers.setdefault(provider, Tracker(provider, hub.config.max_sessions))
        for name, data in joined.state.items():
            if name.startswith("~"):
                continue
            try:
                record = codec.load_record(data)
            except codec.CodecError as exc:
                log.error(
                    "Watch %s has a state entry this gateway cannot read: %s", replica.wid, exc
                )
                continue
            tracker = trackers.get(record.provider)
            if tracker is not None:
                tracker.learn(record)
        if not replica.polling:  # the holder's own trackers are ahead of (or equal to) this
            # A provider Redis has no state of (it lost its data) keeps what was told here.
            for provider, kept in watch.trackers.items():
                trackers.setdefault(provider, kept)
            watch.trackers = trackers
        watch.started_after = joined.since
        changes = [c for c in (self._decode(replica, e) for e in joined.entries) if c is not None]
        changes = [c for c in changes if not watch.repeats(c)]
        fresh = [c for c in changes if c.sequence > replica.last] if replica.joined_once else []
        watch.replay.clear()
        # What is fresh is kept for replay as it is delivered below, once.
        watch.replay.extend(changes[: len(changes) - len(fresh)])
        full = len(joined.entries) >= self.bus.replay and joined.entries
        watch.evicted_through = joined.entries[0].sequence - 1 if full else 0
        if replica.joined_once and full and joined.entries[0].sequence > replica.last + 1:
            hub.tell_here(watch, TRIMMED)  # away so long that the stream moved past us
        if joined.entries:
            replica.last = max(replica.last, joined.entries[-1].sequence)
        watch.last_sequence = max(watch.last_sequence, replica.last)
        replica.joined = True
        replica.joined_once = True
        replica.delayed = False
        for change in fresh:
            hub.deliver(watch, change)
        if trackers and not watch.polled:
            hub.release_initial(watch)
        pending, replica.pending = replica.pending, []
        for sub, include_initial, since, resuming in pending:
            if not sub.closed:
                hub.begin(sub, include_initial, since, resuming, wake=True)
        self._changed.set()

    def _decode(self, replica: Replica, entry: Entry) -> SessionChange | None:
        if entry.change is None:
            return None
        try:
            return codec.load_change(entry.change, entry.sequence)
        except codec.CodecError as exc:
            log.error("Watch %s has an event this gateway cannot read: %s", replica.wid, exc)
            return None

    def _forget(self, watch: Watch, replica: Replica) -> None:
        self._replicas.pop(watch, None)
        if self._by_wid.get(replica.wid) is watch:
            del self._by_wid[replica.wid]
        self._changed.set()

    # -- publishing

    def outbox(self, watch: Watch, change: SessionChange | LiveProblem, fenced: bool) -> None:
        """Queue `change` for the stream: `fenced` for a poll's (only the lease holder's count)."""
        replica = self.replica(watch)
        replica.outbox.append((change, fenced))
        limit = self.hub.config.replay
        if len(replica.outbox) > limit:
            dropped = len(replica.outbox) - limit
            del replica.outbox[:dropped]
            replica.lost += dropped
            self.hub.metrics.lost.inc(dropped)
        self._note_outbox()

    async def flush(self, watch: Watch) -> None:
        """Publish what the watch's outbox holds; kept there while Redis does not answer.

        The lease holder publishes after every poll, changes or not: that keeps the watch's
        keys alive and its first polls' state in Redis."""
        replica = self.replica(watch)
        async with replica.lock:
            await self._flush(watch, replica)

    async def _flush(self, watch: Watch, replica: Replica) -> None:
        for fenced in (True, False):
            if fenced and not replica.polling:
                continue
            items = [c for c, f in replica.outbox if f is fenced]
            if not fenced and not items:
                continue
            outgoing = Outgoing()
            if fenced:
                if replica.lost:
                    outgoing.lost(replica.lost)
                for provider in replica.baselines:
                    tracker = watch.trackers.get(provider)
                    for record in tracker.records.values() if tracker else ():
                        outgoing.state(record.global_id, codec.dump_record(record))
                    outgoing.baseline(provider.value)
            for change in items:
                if isinstance(change, LiveProblem):
                    outgoing.problem(codec.dump_problem(change))
                    continue
                state = None if change.record is None else codec.dump_record(change.record)
                outgoing.change(codec.dump_change(change), change.global_id, state)
            if not self.shared.available():
                self._delay(watch, replica)
                return
            try:
                result = await self.bus.publish(
                    replica.wid,
                    outgoing,
                    fenced=fenced,
                    lease=replica.lease.key,
                    lease_ttl=self.lease_ttl,
                )
            except ERRORS as exc:
                self.shared.failed("live", exc)
                self._delay(watch, replica)
                return
            self.shared.succeeded()
            sent = {id(c) for c in items}
            replica.outbox = [(c, f) for c, f in replica.outbox if id(c) not in sent]
            self._note_outbox()
            if result is None:
                self._lost_lease(watch, replica)
                return
            if fenced:
                replica.lost = 0
                replica.baselines.clear()
            if replica.joined and result[0] != replica.epoch:
                self._reset(watch, replica)
            self.hub.epoch = result[0]

    def _reset(self, watch: Watch, replica: Replica) -> None:
        """Redis lost the watch's stream (it restarted empty): start over from the new one."""
        replica.last = 0
        replica.joined = False
        replica.epoch = None  # the subscribers are told here: not again when it is joined
        if replica.polling:
            replica.baselines = set(watch.trackers)  # the state again, for later joiners
        self.hub.tell_here(watch, RESTARTED)
        self._changed.set()

    def _delay(self, watch: Watch, replica: Replica) -> None:
        if not replica.delayed:
            replica.delayed = True
            self.hub.tell_here(watch, DELAYED)
            for sub, *_ in replica.pending:
                sub.offer(DELAYED)

    def _note_outbox(self) -> None:
        self.hub.metrics.outbox.set(sum(len(r.outbox) for r in self._replicas.values()))

    # -- reading

    async def _read(self) -> None:
        """Deliver every joined watch's new stream entries to this replica's subscribers."""
        while True:
            try:
                await self._read_once()
            except Exception:  # a bug must not stop delivery for good on this replica
                stop_if_cancelled()
                log.exception("Reading the shared event streams failed")
                await asyncio.sleep(RETRY_SECONDS)
            stop_if_cancelled()

    async def _read_once(self) -> None:
        after = {r.wid: r.last for r in self._replicas.values() if r.joined}
        if not after:
            self._changed.clear()
            await wait_set(self._changed, BLOCK_SECONDS)
            return
        if not self.shared.available():
            await asyncio.sleep(RETRY_SECONDS / 4)
            return
        try:
            if self._outage:
                # Back after an outage: a Redis that lost its data has a new epoch.
                epoch = await self.bus.epoch()
                self._outage = False
                for watch, replica in list(self._replicas.items()):
                    if replica.joined and replica.epoch != epoch:
                        self._reset(watch, replica)
                return
            found = await self.bus.read(after)
        except ERRORS as exc:
            self.shared.failed("live", exc)
            self._outage = True
            for watch, replica in list(self._replicas.items()):
                self._delay(watch, replica)
            await asyncio.sleep(RETRY_SECONDS / 4)
            return
        self.shared.succeeded()
        for wid, entry in found:
            reading = self._by_wid.get(wid)
            # One that is (re)joining gets what it missed from the join, not from here.
            if reading is not None and self._replicas[reading].joined:
                self._receive(reading, self._replicas[reading], [entry])
        for replica in self._replicas.values():
            if replica.joined:
                replica.delayed = False  # told again at the next outage

    def _receive(self, watch: Watch, replica: Replica, entries: list[Entry]) -> None:
        hub = self.hub
        for entry in entries:
            if entry.sequence <= replica.last:
                continue
            replica.last = entry.sequence
            if entry.lost:
                hub.tell_here(
                    watch,
                    LiveProblem(
                        "EVENTS_LOST",
                        f"{entry.lost} events of this watch were dropped while Redis was "
                        "unreachable; resubscribe with includeInitial for the sessions now.",
                    ),
                )
                continue
            if entry.problem is not None:
                try:
                    hub.tell_here(watch, codec.load_problem(entry.problem))
                except codec.CodecError as exc:
                    log.error(
                        "Watch %s has a problem this gateway cannot read: %s", replica.wid, exc
                    )
                continue
            if entry.baseline:
                if entry.origin != self.owner:
                    replica.joined = False  # another replica's first poll: load its state
                    replica.wake.set()
                continue
            change = self._decode(replica, entry)
            if change is None:
                continue
            if entry.origin != self.owner:
                tracker = watch.trackers.get(change.provider)
                if tracker is not None:  # else that provider's state comes with its first poll
                    tracker.follow(change)
            hub.deliver(watch, change)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.bus.close()
