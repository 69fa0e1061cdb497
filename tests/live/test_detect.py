"""Change detection over a paged listing, with an in-process fake upstream and a fixed clock."""

from __future__ import annotations

import gc
import math
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app.core import ids
from app.core.records import Provider, SessionRecord, SessionStatus, UserRecord
from app.listing.streams import OffsetStream
from app.live.detect import detect
from app.live.events import EndReason, EventKind, SessionChange
from app.live.tracker import Tracker
from app.upstream.providers.hyperid.records import HyperIdExtras

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EXTRAS = HyperIdExtras(None, None, None, None, None, None, None, None)
PAGE = 10
SWEEP = 3


def record(n: int, **changes: object) -> SessionRecord:
    native = f"s{n:05d}"
    made = SessionRecord(
        provider=Provider.PRIVX,
        native_id=native,
        global_id=ids.encode(ids.SESSION, Provider.PRIVX, native),
        status=SessionStatus.ACTIVE,
        created_at=T0 + timedelta(seconds=n),
        extras=EXTRAS,
        user=UserRecord(Provider.PRIVX, f"u{n % 7}"),
        expires_at=T0 + timedelta(days=1),
    )
    return replace(made, **changes)  # type: ignore[arg-type]


class Upstream:
    """A listing paged by offset in either direction, counting its calls."""

    def __init__(self, count: int, *, updates: bool = False) -> None:
        self.records = [record(n) for n in range(count)]
        self.calls = 0
        self.updates = updates  # it also lists by update time, newest first

    async def page(self, offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
        self.calls += 1
        ordered = sorted(self.records, key=lambda r: r.sort_key, reverse=desc)
        return ordered[offset : offset + limit], len(ordered)

    async def by_update(
        self, offset: int, limit: int, desc: bool
    ) -> tuple[list[SessionRecord], int]:
        self.calls += 1
        ordered = sorted(self.records, key=lambda r: (r.updated_at or T0, r.global_id))
        ordered.reverse()
        return ordered[offset : offset + limit], len(ordered)

    def stream(self) -> OffsetStream:
        made = OffsetStream("fake", Provider.PRIVX, self.page, descending=True, max_chunk=PAGE)
        if self.updates:
            made.recent = OffsetStream(
                "fake:updated", Provider.PRIVX, self.by_update, descending=True
            )
        return made


async def poll(upstream: Upstream, tracker: Tracker, now: datetime = T0) -> list[SessionChange]:
    changes: list[SessionChange] = []
    await detect(tracker, [upstream.stream()], None, now, SWEEP, changes)
    return changes


def round_polls(count: int) -> int:
    """Polls of one sweep round over `count` sessions (pages overlap by one record)."""
    return math.ceil(count / (PAGE - 1) / SWEEP) + 1


def summary(changes: list[SessionChange]) -> list[tuple[str, str, str | None]]:
    return [
        (c.kind.value, ids.decode(c.global_id)[2], c.reason.value if c.reason else None)
        for c in changes
    ]


async def test_the_first_poll_is_the_starting_point_and_costs_a_bounded_number_of_calls() -> None:
    upstream, tracker = Upstream(500), Tracker(Provider.PRIVX, keep=50)
    for _ in range(round_polls(500)):
        upstream.calls = 0
        assert await poll(upstream, tracker) == []
        assert upstream.calls <= 1 + SWEEP
    assert len(tracker.entries) == 500
    assert tracker.rounds >= 1


async def test_new_sessions_are_created_at_the_next_poll_whatever_the_listing_size() -> None:
    upstream, tracker = Upstream(500), Tracker(Provider.PRIVX, keep=50)
    await poll(upstream, tracker)
    upstream.records += [record(1000), record(1001)]
    upstream.calls = 0
    changes = await poll(upstream, tracker)
    assert sorted(summary(changes)) == [("CREATED", "s01000", None), ("CREATED", "s01001", None)]
    assert upstream.calls <= 1 + SWEEP
    # More new ones than the head reads: the sweep finds the rest, each CREATED once.
    upstream.records += [record(2000 + n) for n in range(3 * PAGE)]
    found: list[SessionChange] = []
    for _ in range(round_polls(530)):
        found += await poll(upstream, tracker)
    assert sorted(summary(found)) == [("CREATED", f"s{2000 + n:05d}", None) for n in range(30)]


async def test_ends_anywhere_in_the_listing_are_found_within_one_round_with_their_reason() -> None:
    upstream, tracker = Upstream(500), Tracker(Provider.PRIVX, keep=50)
    for _ in range(round_polls(500)):
        await poll(upstream, tracker)
    by_id = {r.native_id: i for i, r in enumerate(upstream.records)}
    at = by_id["s00200"]
    upstream.records[at] = replace(upstream.records[at], status=SessionStatus.LOGGED_OUT)
    at = by_id["s00300"]
    upstream.records[at] = replace(upstream.records[at], status=SessionStatus.REVOKED)
    at = by_id["s00400"]
    upstream.records[at] = replace(upstream.records[at], last_seen_at=T0)
    upstream.records.pop(by_id["s00010"])  # deleted, deep in the listing
    found: list[SessionChange] = []
    for _ in range(round_polls(500)):
        found += await poll(upstream, tracker)
    assert sorted(summary(found)) == [
        ("ENDED", "s00010", "DISAPPEARED"),
        ("ENDED", "s00200", "LOGGED_OUT"),
        ("ENDED", "s00300", "REVOKED"),
        ("UPDATED", "s00400", None),
    ]


async def test_an_updated_since_order_finds_changes_at_the_next_poll() -> None:
    upstream, tracker = Upstream(500, updates=True), Tracker(Provider.PRIVX, keep=50)
    for _ in range(round_polls(500)):
        await poll(upstream, tracker)
    moved = T0 + timedelta(hours=1)
    upstream.records[7] = replace(upstream.records[7], updated_at=moved, last_seen_at=moved)
    upstream.records[9] = replace(
        upstream.records[9], updated_at=moved, status=SessionStatus.LOGGED_OUT
    )
    upstream.calls = 0
    changes = await poll(upstream, tracker)
    assert sorted(summary(changes)) == [
        ("ENDED", "s00009", "LOGGED_OUT"),
        ("UPDATED", "s00007", None),
    ]
    assert upstream.calls <= 2 + SWEEP
    assert await poll(upstream, tracker) == []


async def test_deletions_that_shift_positions_never_end_a_session_still_listed() -> None:
    upstream, tracker = Upstream(500), Tracker(Provider.PRIVX, keep=50)
    for _ in range(round_polls(500)):
        await poll(upstream, tracker)
    gone: list[str] = []
    found: list[SessionChange] = []
    for step in range(3 * round_polls(500)):
        # Between polls, delete sessions just ahead of where the sweep reads (and near the head).
        for victim in (upstream.records[-1 - step], upstream.records[400 - 3 * step]):
            gone.append(victim.native_id)
            upstream.records.remove(victim)
        found += await poll(upstream, tracker)
    for _ in range(round_polls(500)):
        found += await poll(upstream, tracker)
    assert sorted(summary(found)) == sorted(("ENDED", n, "DISAPPEARED") for n in gone)


async def test_expiry_is_computed_here_without_a_call() -> None:
    upstream, tracker = Upstream(20), Tracker(Provider.PRIVX, keep=50)
    upstream.records[5] = replace(upstream.records[5], expires_at=T0 + timedelta(seconds=30))
    await poll(upstream, tracker)
    assert tracker.expire(T0 + timedelta(seconds=29)) == []
    (ended,) = tracker.expire(T0 + timedelta(seconds=31))
    assert (ended.kind, ended.reason) == (EventKind.ENDED, EndReason.EXPIRED)
    assert ended.record is not None
    assert ended.record.status is SessionStatus.EXPIRED
    # The upstream still lists it as it was: no second event, and no CREATED again.
    assert await poll(upstream, tracker, T0 + timedelta(seconds=40)) == []


async def test_revocations_end_by_id_and_by_user() -> None:
    upstream, tracker = Upstream(30), Tracker(Provider.PRIVX, keep=50)
    await poll(upstream, tracker)
    changes = tracker.revoked(["s00003"], "u5", T0, SessionStatus.REVOKED)
    expected = {"s00003", *(f"s{n:05d}" for n in range(30) if n % 7 == 5)}
    assert {ids.decode(c.global_id)[2] for c in changes} == expected
    assert {c.reason for c in changes} == {EndReason.REVOKED}
    assert tracker.revoked(["s00003"], None, T0, SessionStatus.REVOKED) == []


async def test_includes_initial_keeps_only_the_newest_in_full() -> None:
    upstream, tracker = Upstream(100), Tracker(Provider.PRIVX, keep=20)
    for _ in range(round_polls(100)):
        await poll(upstream, tracker)
    kept, active = tracker.initial()
    assert active == 100
    assert sorted(r.native_id for r in kept)[-20:] == [f"s{n:05d}" for n in range(80, 100)]
    assert len(kept) <= 20 + 20 // 4


def test_a_watched_session_costs_well_under_a_kilobyte() -> None:
    """What docs/live.md states: entries, index and expiry heap, without full records."""
    count = 5000
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracker = Tracker(Provider.PRIVX, keep=1)
    state = tracker.stream("fake")
    for start in range(0, count, 1000):  # pages, parsed and dropped as a poll does
        page = [record(n) for n in range(start, start + 1000)]
        tracker.observe(state, page, T0, (math.inf, math.inf), None)
    del page
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(tracker.entries) == count
    assert used / count < 600, used / count


async def test_a_tracker_built_from_what_was_published_goes_on_without_repeating() -> None:
    """A replica that takes a watch over polls from the published state: what is newer is
    CREATED, nothing published is announced again, and what ended meanwhile is ENDED once."""
    upstream, holder = Upstream(300), Tracker(Provider.PRIVX, keep=50)
    for _ in range(round_polls(300)):
        await poll(upstream, holder)
    upstream.records.append(record(500))
    published = await poll(upstream, holder)
    assert summary(published) == [("CREATED", "s00500", None)]
    # The published state: the records kept in full, then the events' records.
    successor = Tracker(Provider.PRIVX, keep=50)
    for kept in holder.records.values():
        successor.learn(kept)
    for change in published:
        successor.follow(change)
    # Meanwhile (nobody polls): one session begins, a published one ends, one is deleted.
    upstream.records.append(record(600))
    ended = next(i for i, r in enumerate(upstream.records) if r.native_id == "s00299")
    upstream.records[ended] = replace(upstream.records[ended], status=SessionStatus.LOGGED_OUT)
    upstream.records = [r for r in upstream.records if r.native_id != "s00298"]
    found: list[SessionChange] = []
    for _ in range(round_polls(300) + 1):
        found += await poll(upstream, successor)
    assert sorted(summary(found)) == [
        ("CREATED", "s00600", None),
        ("ENDED", "s00298", "DISAPPEARED"),
        ("ENDED", "s00299", "LOGGED_OUT"),
    ]
