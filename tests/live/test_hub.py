"""The live hub with in-process fake providers and a clock advanced by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from app.auth.principal import Principal
from app.core import ids
from app.core.errors import UpstreamUnavailable
from app.core.records import (
    Provider,
    SessionRecord,
    SessionStatus,
    UserRecord,
)
from app.listing.filter import SessionFilter
from app.listing.streams import LocalStream, OffsetStream, Stream
from app.live.events import EndReason, EventKind, LiveProblem, SessionChange
from app.live.hub import Hub, LiveConfig, Subscription, TooManySubscriptions, TooManyWatches
from app.upstream.health import ProviderHealth
from app.upstream.provider import RequestScope, SessionProvider
from app.upstream.providers.hyperid.records import HyperIdExtras
from app.upstream.revocations import Revoked
from app.upstream.upstreams import Upstreams

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EXTRAS = HyperIdExtras(None, None, None, None, None, None, None, None)


def record(
    native_id: str,
    provider: Provider = Provider.KRATOS,
    *,
    user: str = "u1",
    status: SessionStatus = SessionStatus.ACTIVE,
    minute: int = 0,
) -> SessionRecord:
    return SessionRecord(
        provider=provider,
        native_id=native_id,
        global_id=ids.encode(ids.SESSION, provider, native_id),
        status=status,
        created_at=T0 + timedelta(minutes=minute),
        extras=EXTRAS,
        user=UserRecord(provider, user),
    )


class FakeClock:
    """Sleeps end only when the test advances time past them."""

    def __init__(self) -> None:
        self.time = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.time)

    def monotonic(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.time + seconds, future))
        await future

    async def advance(self, seconds: float) -> None:
        await settle()
        self.time += seconds
        due = [f for t, f in self._sleepers if t <= self.time]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self.time]
        for future in due:
            if not future.done():
                future.set_result(None)
        await settle()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class FakeProvider:
    """A provider answered from a list the test edits; `down` makes every listing fail."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.records: list[SessionRecord] = []
        self.down = False
        self.listings = 0

    def streams(
        self, session_filter: SessionFilter, *, descending: bool, scope: RequestScope
    ) -> list[Stream]:
        async def load() -> Sequence[SessionRecord]:
            self.listings += 1
            if self.down:
                raise UpstreamUnavailable("down for the test", provider=self.provider.value)
            return list(self.records)

        predicate = session_filter.residual(frozenset())
        return [LocalStream("fake", self.provider, load, predicate, descending=descending)]


class PagedProvider:
    """A provider listing `count` sessions by offset, `PAGE` a page, counting the pages read."""

    PAGE = 10

    def __init__(self, provider: Provider, count: int) -> None:
        self.provider = provider
        self.records = [record(f"s{n:04d}", provider, minute=n) for n in range(count)]
        self.pages = 0

    def streams(
        self, session_filter: SessionFilter, *, descending: bool, scope: RequestScope
    ) -> list[Stream]:
        async def page(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
            self.pages += 1
            ordered = sorted(self.records, key=lambda r: r.sort_key, reverse=desc)
            return ordered[offset : offset + limit], len(ordered)

        return [OffsetStream("paged", self.provider, page, descending=True, max_chunk=self.PAGE)]


def make_hub(*fakes: FakeProvider | PagedProvider, **config: Any) -> tuple[Hub, FakeClock]:
    providers = cast("dict[Provider, SessionProvider]", {f.provider: f for f in fakes})
    upstreams = Upstreams(providers, {p: ProviderHealth() for p in Provider})
    clock = FakeClock()
    settings = {"interval": 5.0, "grace": 10.0, **config}
    return Hub(upstreams, LiveConfig(**settings), clock=clock), clock


def drain(sub: Subscription) -> list[SessionChange | LiveProblem]:
    return sub.ready()


def kinds(items: list[SessionChange | LiveProblem]) -> list[str]:
    return [i.kind.value if isinstance(i, SessionChange) else i.code for i in items]


async def test_subscribers_of_one_watch_share_one_poll() -> None:
    fake = FakeProvider(Provider.KRATOS)
    fake.records = [record("a")]
    hub, clock = make_hub(fake)
    subs = [hub.subscribe(f"caller{i}", SessionFilter()) for i in range(5)]
    await settle()
    assert hub.watches == 1
    assert fake.listings == 1
    fake.records.append(record("b", minute=1))
    await clock.advance(6)
    assert fake.listings == 2
    for sub in subs:
        items = drain(sub)
        assert kinds(items) == ["CREATED"]
        assert isinstance(items[0], SessionChange)
        assert items[0].record == fake.records[1]
    await hub.close()


async def test_scoped_callers_get_their_own_watch_and_only_their_sessions() -> None:
    fake = FakeProvider(Provider.KRATOS)
    hub, clock = make_hub(fake)
    alice = Principal("alice", users=frozenset({(Provider.KRATOS, "alice")}))
    bob = Principal("bob", users=frozenset({(Provider.KRATOS, "bob")}))
    sub_a = hub.subscribe("alice", alice.restrict(SessionFilter()))
    sub_b = hub.subscribe("bob", bob.restrict(SessionFilter()))
    await settle()
    assert hub.watches == 2
    fake.records = [record("x", user="alice"), record("y", user="bob")]
    await clock.advance(6)
    (a,) = drain(sub_a)
    (b,) = drain(sub_b)
    assert isinstance(a, SessionChange)
    assert a.record
    assert a.record.native_id == "x"
    assert isinstance(b, SessionChange)
    assert b.record
    assert b.record.native_id == "y"
    await hub.close()


async def test_failing_provider_gives_one_problem_and_no_false_ended() -> None:
    kratos, hyper = FakeProvider(Provider.KRATOS), FakeProvider(Provider.HYPERID)
    kratos.records = [record("a")]
    hyper.records = [record("h", Provider.HYPERID)]
    hub, clock = make_hub(kratos, hyper)
    sub = hub.subscribe("c", SessionFilter())
    await settle()
    kratos.down = True
    hyper.records.append(record("h2", Provider.HYPERID, minute=1))
    for _ in range(3):
        await clock.advance(6)
    items = drain(sub)
    assert sorted(kinds(items)) == ["CREATED", "UPSTREAM_UNAVAILABLE"]
    (problem,) = [i for i in items if isinstance(i, LiveProblem)]
    assert problem.code == "UPSTREAM_UNAVAILABLE"
    assert problem.provider is Provider.KRATOS
    assert not problem.final
    kratos.down = False
    await clock.advance(6)
    assert drain(sub) == []  # back with the same sessions: nothing happened to them
    kratos.records = []
    await clock.advance(6)
    await clock.advance(6)
    assert kinds(drain(sub)) == ["ENDED"]
    await hub.close()


async def test_slow_consumer_is_dropped_without_blocking_others() -> None:
    fake = FakeProvider(Provider.KRATOS)
    hub, clock = make_hub(fake, queue=3)
    slow = hub.subscribe("slow", SessionFilter())
    fast = hub.subscribe("fast", SessionFilter())
    await settle()
    seen: list[SessionChange | LiveProblem] = []
    for i in range(3):
        fake.records.extend(record(f"s{i}-{j}", minute=i) for j in range(2))
        await clock.advance(6)
        seen += drain(fast)
    assert kinds(seen) == ["CREATED"] * 6
    (last,) = drain(slow)
    assert isinstance(last, LiveProblem)
    assert last.code == "SLOW_CONSUMER"
    assert last.final
    assert slow.closed
    assert hub.metrics.dropped._value.get() == 1
    await hub.close()


async def test_caps_per_caller_and_per_process() -> None:
    hub, _ = make_hub(FakeProvider(Provider.KRATOS), max_per_caller=2, max_subscriptions=3)
    first = hub.subscribe("a", SessionFilter())
    hub.subscribe("a", SessionFilter())
    with pytest.raises(TooManySubscriptions, match="maximum of 2"):
        hub.subscribe("a", SessionFilter())
    hub.subscribe("b", SessionFilter())
    with pytest.raises(TooManySubscriptions, match="maximum of 3"):
        hub.subscribe("c", SessionFilter())
    first.close()
    hub.subscribe("c", SessionFilter())  # a closed subscription frees its place
    await hub.close()


async def test_resume_replays_what_came_after_the_cursor_only() -> None:
    fake = FakeProvider(Provider.KRATOS)
    hub, clock = make_hub(fake)
    sub = hub.subscribe("c", SessionFilter())
    await settle()
    fake.records = [record("a")]
    await clock.advance(6)
    fake.records.append(record("b", minute=1))
    await clock.advance(6)
    first, second = drain(sub)
    assert isinstance(first, SessionChange)
    assert isinstance(second, SessionChange)
    sub.close()
    since = hub.parse_cursor(hub.cursor(first.sequence), "since")
    again = hub.subscribe("c", SessionFilter(), since=since, resuming=True)
    assert drain(again) == [second]
    stale = hub.parse_cursor("ffffffff.1", "since")
    assert stale is None
    other = hub.subscribe("c", SessionFilter(), since=stale, resuming=True)
    assert kinds(drain(other)) == ["REPLAY_INCOMPLETE", "CREATED", "CREATED"]
    await hub.close()


async def test_include_initial_waits_for_the_first_poll() -> None:
    fake = FakeProvider(Provider.KRATOS)
    fake.records = [record("a"), record("z", status=SessionStatus.EXPIRED)]
    hub, _ = make_hub(fake)
    sub = hub.subscribe("c", SessionFilter(), include_initial=True)
    assert drain(sub) == []
    await settle()
    (initial,) = drain(sub)
    assert isinstance(initial, SessionChange)
    assert initial.kind is EventKind.CREATED
    assert initial.global_id == fake.records[0].global_id
    await hub.close()


async def test_revocation_publishes_ended_at_once() -> None:
    fake = FakeProvider(Provider.KRATOS)
    fake.records = [record("a"), record("b"), record("c", user="u2")]
    hub, _ = make_hub(fake)
    sub = hub.subscribe("c", SessionFilter())
    await settle()
    await hub.upstreams.revocations.publish(Revoked(Provider.KRATOS, ("a",)))
    await hub.upstreams.revocations.publish(Revoked(Provider.KRATOS, (), user_id="u2"))
    items = drain(sub)
    assert kinds(items) == ["ENDED", "ENDED"]
    ended = [i.record for i in items if isinstance(i, SessionChange)]
    assert [(r.native_id, r.status) for r in ended if r] == [
        ("a", SessionStatus.REVOKED),
        ("c", SessionStatus.REVOKED),
    ]
    assert {i.reason for i in items if isinstance(i, SessionChange)} == {EndReason.REVOKED}
    await hub.close()


async def test_a_provider_given_its_own_sweep_pages_reads_that_many_per_poll() -> None:
    privx, kratos = PagedProvider(Provider.PRIVX, 500), PagedProvider(Provider.KRATOS, 500)
    sweeps = {Provider.KRATOS: 6}
    hub, clock = make_hub(privx, kratos, sweep_pages=2, sweep_pages_by_provider=sweeps)
    hub.subscribe("c", SessionFilter())
    await settle()
    for _ in range(3):  # each poll: the head page, then that provider's sweep pages
        assert (privx.pages, kratos.pages) == (1 + 2, 1 + 6)
        privx.pages = kratos.pages = 0
        await clock.advance(6)
    await hub.close()


async def test_a_second_ended_of_a_session_is_not_delivered_until_it_is_news_again() -> None:
    fake = FakeProvider(Provider.KRATOS)
    fake.records = [record("a")]
    hub, _ = make_hub(fake)
    sub = hub.subscribe("c", SessionFilter())
    await settle()
    a = fake.records[0]

    def event(kind: EventKind, sequence: int) -> SessionChange:
        return SessionChange(kind, Provider.KRATOS, a.global_id, T0, a, sequence)

    # A revocation's ENDED and a poll's, both in the shared stream: subscribers get the first.
    for sequence in (1, 2):
        hub.deliver(sub.watch, event(EventKind.ENDED, sequence))
    assert [i.sequence for i in drain(sub) if isinstance(i, SessionChange)] == [1]
    for sequence, kind in [(3, EventKind.CREATED), (4, EventKind.ENDED)]:
        hub.deliver(sub.watch, event(kind, sequence))
    assert kinds(drain(sub)) == ["CREATED", "ENDED"]
    await hub.close()


async def test_include_initial_says_when_more_match_than_it_sends() -> None:
    fake = FakeProvider(Provider.KRATOS)
    fake.records = [record("a"), record("b", minute=1), record("c", minute=2)]
    hub, _ = make_hub(fake, max_sessions=2)
    hub.subscribe("first", SessionFilter())
    await settle()
    sub = hub.subscribe("c", SessionFilter(), include_initial=True)
    items = drain(sub)
    assert kinds(items) == ["INITIAL_TRUNCATED", "CREATED", "CREATED"]
    assert isinstance(items[0], LiveProblem)
    assert items[0].provider is Provider.KRATOS
    assert "3 sessions of KRATOS match" in items[0].message
    assert [i.record.native_id for i in items[1:] if isinstance(i, SessionChange) and i.record] == [
        "b",
        "c",
    ]
    await hub.close()


async def test_poller_stops_a_grace_period_after_the_last_subscriber() -> None:
    fake = FakeProvider(Provider.KRATOS)
    hub, clock = make_hub(fake, grace=10.0)
    sub = hub.subscribe("c", SessionFilter())
    await settle()
    sub.close()
    await clock.advance(6)
    assert hub.watches == 1  # still within the grace period
    await clock.advance(6)
    await clock.advance(6)
    assert hub.watches == 0
    assert hub.metrics.pollers._value.get() == 0
    polls = fake.listings
    await clock.advance(6)
    assert fake.listings == polls


def agent(n: int) -> SessionFilter:
    """A distinct filter, as a screen changing its search makes."""
    return SessionFilter(user_agent=f"agent-{n}")


async def test_idle_watches_count_and_a_callers_own_make_room_for_its_new_ones() -> None:
    fake = FakeProvider(Provider.KRATOS)
    hub, clock = make_hub(fake, grace=30.0, max_watches_per_caller=3)
    for n in range(10):  # subscribe and complete with a new filter each time
        hub.subscribe("a", agent(n)).close()
        await settle()
        assert hub.watches == hub.watches_of("a") == min(n + 1, 3)
    assert fake.listings == 10  # each new watch read once on starting
    assert hub.metrics.pollers._value.get() == 3
    await clock.advance(6)
    assert fake.listings == 13  # only the last three still poll
    # Rejoining a watch in its grace period starts nothing and keeps its replay buffer.
    again = hub.subscribe("a", agent(9))
    assert hub.watches == 3
    again.close()
    await clock.advance(30)
    await clock.advance(6)
    assert hub.watches == hub.watches_of("a") == 0  # the grace period over, the budget is free
    await hub.close()


async def test_a_caller_with_every_watch_in_use_is_refused_starting_nothing() -> None:
    fake = FakeProvider(Provider.KRATOS)
    hub, _ = make_hub(fake, max_watches_per_caller=2, max_watches=3)
    held = [hub.subscribe("a", agent(n)) for n in range(2)]
    hub.subscribe("b", agent(100)).close()  # another caller's idle watch
    await settle()
    listings = fake.listings
    with pytest.raises(TooManyWatches, match="maximum of 2 watches") as refused:
        hub.subscribe("a", agent(2))
    assert refused.value.code == "TOO_MANY_WATCHES"
    await settle()
    assert (hub.watches, hub.watches_of("a"), fake.listings) == (3, 2, listings)
    assert hub.watches_of("b") == 1  # a refusal stops nobody's idle watch
    assert hub.metrics.subscriptions._value.get() == 2
    hub.subscribe("a", agent(0)).close()  # a filter it already watches: no new poller
    held[0].close()
    hub.subscribe("a", agent(2))  # its own idle watch made room
    assert (hub.watches, hub.watches_of("a")) == (3, 2)
    await hub.close()


async def test_past_the_process_budget_anyones_idle_watch_makes_room() -> None:
    hub, _ = make_hub(FakeProvider(Provider.KRATOS), max_watches=2)
    hub.subscribe("a", agent(0))
    hub.subscribe("b", agent(1)).close()
    hub.subscribe("c", agent(2))  # b's idle watch stops for it
    assert (hub.watches, hub.watches_of("b"), hub.watches_of("c")) == (2, 0, 1)
    with pytest.raises(TooManyWatches, match="maximum of 2 watches"):
        hub.subscribe("d", agent(3))
    assert hub.watches == 2
    await hub.close()


async def test_a_shared_watch_counts_against_a_caller_still_subscribed_to_it() -> None:
    hub, _ = make_hub(FakeProvider(Provider.KRATOS), max_watches_per_caller=1)
    first = hub.subscribe("a", agent(0))
    second = hub.subscribe("b", agent(0))
    assert (hub.watches_of("a"), hub.watches_of("b")) == (1, 0)
    first.close()  # b keeps it alive: it counts against b now, and a may watch elsewhere
    assert (hub.watches_of("a"), hub.watches_of("b")) == (0, 1)
    hub.subscribe("a", agent(1))
    second.close()
    assert hub.watches_of("b") == 1  # idle, in its grace period, still b's
    hub.subscribe("c", agent(0)).close()  # c takes the idle watch up
    assert (hub.watches_of("b"), hub.watches_of("c")) == (0, 1)
    assert hub.watches == 2
    await hub.close()
