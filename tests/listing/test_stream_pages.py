"""Pages and cursors over one stream of each kind, worked out by hand (issue 11's mutation check).

Five PRIVX sessions, created at seconds 10, 20, 30, 40 and 50 after EPOCH (s0 to s4), and five
PREFACTOR ones five seconds after each (p0 to p4). Newest first, positions in a listing are
s4=0, s3=1, s2=2, s1=3, s0=4; oldest first, s0=0 ... s4=4. A cursor carries, for
its stream, the position just after its session (going forward) or its own position plus one
(going back: the split below which everything is at or before it), and the stream's anchor: an
oldest-first listing read newest first counts positions down from its size when the walk began.
"""

from __future__ import annotations

from datetime import timedelta

from app.core.errors import UpstreamUnavailable
from app.core.records import Provider, SessionRecord
from app.listing.cursor import CursorState
from app.listing.paginate import Page, count, paginate
from app.listing.streams import AscendingStream, LocalStream, OffsetStream, Slice, Stream
from tests.listing.test_paginate import Calls, ascending_page, offset_page, record

S = [record(Provider.PRIVX, f"0-{i:03d}", 10 * (i + 1)) for i in range(5)]
P = [record(Provider.PREFACTOR, f"1-{i:03d}", 10 * (i + 1) + 5) for i in range(5)]


def ids(page: Page) -> list[str]:
    return [e.record.native_id for e in page.edges]


async def one(
    stream: Stream,
    *,
    descending: bool,
    forward: bool,
    size: int,
    cursor: CursorState | None = None,
) -> Page:
    return await paginate(
        [stream],
        descending=descending,
        fingerprint="f",
        forward=forward,
        size=size,
        cursor=cursor,
    )


async def test_last_page_of_an_oldest_first_listing_read_newest_first() -> None:
    calls = Calls()
    stream = AscendingStream(
        "b", Provider.PREFACTOR, ascending_page(P, calls, 7), descending=True, max_chunk=7
    )
    page = await one(stream, descending=True, forward=False, size=2)
    assert ids(page) == ["1-001", "1-000"]
    assert (page.has_previous, page.has_next) == (True, False)
    assert page.totals == {0: 5}
    # s1 stands at position 3, s0 at 4; both cursors hold the listing's size as its anchor.
    assert [e.state.offsets for e in page.edges] == [(4,), (5,)]
    assert [e.state.anchors for e in page.edges] == [(5,), (5,)]


async def test_last_page_of_an_oldest_first_listing_read_oldest_first() -> None:
    calls = Calls()
    stream = AscendingStream(
        "b", Provider.PREFACTOR, ascending_page(P, calls, 7), descending=False, max_chunk=7
    )
    page = await one(stream, descending=False, forward=False, size=2)
    assert ids(page) == ["1-003", "1-004"]
    assert (page.has_previous, page.has_next) == (True, False)
    assert page.totals == {0: 5}
    assert [e.state.offsets for e in page.edges] == [(4,), (5,)]
    assert [e.state.anchors for e in page.edges] == [(None,), (None,)]
    assert calls.count == 1  # the read that learns the size holds the whole listing


async def test_last_page_of_a_listing_answered_in_full_and_of_an_offset_listing() -> None:
    calls = Calls()

    async def load() -> list[SessionRecord]:
        calls.count += 1
        return list(S)

    for stream in (
        LocalStream("c", Provider.PRIVX, load, None, descending=True),
        OffsetStream("a", Provider.PRIVX, offset_page(S, calls), descending=True),
    ):
        page = await one(stream, descending=True, forward=False, size=2)
        assert ids(page) == ["0-001", "0-000"]
        assert (page.has_previous, page.has_next) == (True, False)
        assert page.totals == {0: 5}
        assert [e.state.offsets for e in page.edges] == [(4,), (5,)]
    # A listing shorter than TAIL_PROBE: the read that learns its size is the whole of it.
    assert calls.count == 2


async def test_last_page_of_an_offset_listing_longer_than_one_read() -> None:
    for descending, expected in ((False, ["0-003", "0-004"]), (True, ["0-001", "0-000"])):
        calls = Calls()
        stream = OffsetStream(
            "a", Provider.PRIVX, offset_page(S, calls), descending=descending, max_chunk=3
        )
        page = await one(stream, descending=descending, forward=False, size=2)
        assert ids(page) == expected
        assert page.totals == {0: 5}
        assert [e.state.offsets for e in page.edges] == [(4,), (5,)]
        assert calls.count == 2  # the first three learn the size; then the last two


async def test_counting_a_filtered_listing_reads_it_once_through() -> None:
    calls = Calls()

    def odd(r: SessionRecord) -> bool:
        return int(r.native_id[-1]) % 2 == 1

    stream = OffsetStream(
        "a", Provider.PRIVX, offset_page(S, calls), descending=True, residual=odd, max_chunk=3
    )
    assert await count(stream, None) == 2  # s1 and s3
    assert calls.count == 2  # positions 0-2, then 3-4, which end the listing


async def test_back_from_a_cursor_that_does_not_know_a_streams_place() -> None:
    # PRIVX fails on the first page, so its cursors hold no position for it; it answers again
    # for the page back. Newest first: p4, s4, p3, s3, p2, ...
    calls = Calls()
    healthy = offset_page(S, calls)
    up = False

    async def privx(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
        if not up:
            raise UpstreamUnavailable("PRIVX answered HTTP 503.", provider="PRIVX")
        return await healthy(offset, limit, desc)

    streams: list[Stream] = [
        OffsetStream("a", Provider.PRIVX, privx, descending=True),
        OffsetStream("b", Provider.PREFACTOR, offset_page(P, calls), descending=True),
    ]
    first = await paginate(
        streams, descending=True, fingerprint="f", forward=True, size=2, cursor=None
    )
    assert ids(first) == ["1-004", "1-003"]
    assert first.edges[-1].state.offsets == (-1, 2)
    up = True
    back = await paginate(
        streams,
        descending=True,
        fingerprint="f",
        forward=False,
        size=2,
        cursor=first.edges[-1].state,
    )
    assert ids(back) == ["1-004", "0-004"]
    assert (back.has_previous, back.has_next) == (False, True)
    assert back.totals == {0: 5, 1: 5}
    assert not back.failures


async def test_back_from_the_first_pages_last_cursor_costs_one_read() -> None:
    # Ten sessions at seconds 10 to 100 (t0 to t9), newest first: t9=0, t8=1, ...
    ten = [record(Provider.PRIVX, f"0-{i:03d}", 10 * (i + 1)) for i in range(10)]
    calls = Calls()
    stream = OffsetStream("a", Provider.PRIVX, offset_page(ten, calls), descending=True)
    first = await one(stream, descending=True, forward=True, size=2)
    assert ids(first) == ["0-009", "0-008"]
    assert first.edges[-1].state.offsets == (2,)
    calls.count = 0
    back = await one(stream, descending=True, forward=False, size=2, cursor=first.edges[-1].state)
    assert ids(back) == ["0-009"]
    assert (back.has_previous, back.has_next) == (False, True)
    assert back.totals == {0: 10}
    # Positions 0 to 2: t9, the cursor's t8, and t7, created before it, which closes the read.
    assert calls.count == 1


class Listing:
    """An upstream listing whose sessions can be deleted between pages; it counts its calls.

    `page` pages either way (an offset listing), `oldest_first` ignores the direction asked, as
    Prefactor's does. `lie` adds to the total it answers: a count that includes sessions the
    query no longer lists (deleted between the two).
    """

    def __init__(self, records: list[SessionRecord], *, lie: int = 0) -> None:
        self.records = sorted(records, key=lambda r: r.sort_key)
        self.lie = lie
        self.calls = 0

    def delete(self, *native_ids: str) -> None:
        self.records = [r for r in self.records if r.native_id not in native_ids]

    def create(self, *records: SessionRecord) -> None:
        self.records = sorted([*self.records, *records], key=lambda r: r.sort_key)

    async def page(self, offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
        self.calls += 1
        assert self.calls < 20, "the page keeps reading"
        view = self.records[::-1] if desc else self.records
        return view[offset : offset + limit], len(view) + self.lie

    async def oldest_first(
        self, offset: int, limit: int, desc: bool
    ) -> tuple[list[SessionRecord], int]:
        return await self.page(offset, limit, False)


# Ten PRIVX sessions at seconds 10 to 100 (t0 to t9); newest first, t9=0, t8=1, ... t0=9.
T = [record(Provider.PRIVX, f"0-{i:03d}", 10 * (i + 1)) for i in range(10)]


async def test_a_page_that_ends_the_listing_exactly_has_no_next_page() -> None:
    calls = Calls()
    stream = OffsetStream("a", Provider.PRIVX, offset_page(S, calls), descending=True)
    page = await one(stream, descending=True, forward=True, size=5)
    assert ids(page) == ["0-004", "0-003", "0-002", "0-001", "0-000"]
    assert (page.has_previous, page.has_next) == (False, False)
    assert calls.count == 1


async def test_a_stream_failing_on_a_later_read_is_left_out_with_its_error() -> None:
    # PRIVX is filtered to s1 and s3 and reads two at a time; its second read fails. Newest
    # first the page would be p4, p3, s3, p2: without PRIVX, it is p4, p3, p2, p1.
    privx = Listing(S)
    failing = False

    async def page(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
        if failing:
            raise UpstreamUnavailable("PRIVX answered HTTP 503.", provider="PRIVX")
        return await privx.page(offset, limit, desc)

    def odd(r: SessionRecord) -> bool:
        return int(r.native_id[-1]) % 2 == 1

    class FailsAfterOneRead(OffsetStream):
        async def head(self, start: int, count: int, anchor: int | None) -> Slice:
            nonlocal failing
            sl = await super().head(start, count, anchor)
            failing = True
            return sl

    calls = Calls()
    streams: list[Stream] = [
        FailsAfterOneRead("a", Provider.PRIVX, page, descending=True, residual=odd, max_chunk=2),
        OffsetStream("b", Provider.PREFACTOR, offset_page(P, calls), descending=True),
    ]
    result = await paginate(
        streams, descending=True, fingerprint="f", forward=True, size=4, cursor=None
    )
    assert ids(result) == ["1-004", "1-003", "1-002", "1-001"]
    assert result.has_next
    assert list(result.failures) == [0]
    error = result.failures[0]
    assert isinstance(error, UpstreamUnavailable)
    assert (str(error), error.provider) == ("PRIVX answered HTTP 503.", "PRIVX")


async def test_a_page_after_deletions_left_holes_where_the_cursor_pointed() -> None:
    # Oldest first only, read newest first: positions count down from the walk's anchor, 10.
    # After t9, t7, t6 and t5 are deleted, the six left (t0-t4 and t8) hold positions 4 to 9
    # (t8=4, t4=5, ... t0=9), and 0 to 3 are holes. The cursor at t8 says position 2.
    listing = Listing(T)
    stream = AscendingStream(
        "b", Provider.PREFACTOR, listing.oldest_first, descending=True, max_chunk=7
    )
    first = await one(stream, descending=True, forward=True, size=2)
    assert ids(first) == ["0-009", "0-008"]
    assert first.edges[-1].state.offsets == (2,)
    assert first.edges[-1].state.anchors == (10,)
    listing.delete("0-009", "0-007", "0-006", "0-005")
    listing.calls = 0
    page = await one(stream, descending=True, forward=True, size=2, cursor=first.edges[-1].state)
    assert ids(page) == ["0-004", "0-003"]
    assert (page.has_previous, page.has_next) == (True, True)
    assert page.totals == {0: 6}
    assert [e.state.offsets for e in page.edges] == [(6,), (7,)]
    # Positions 0-3 are all holes (one read); then 4-7, past them.
    assert listing.calls == 2


async def test_paging_back_to_the_first_record_left_has_no_previous_page() -> None:
    # As above, the cursor taken before the deletions at t3 (position 6); back from it, t8 and t4
    # stand at positions 4 and 5, and 4 is now the first position that holds a record.
    listing = Listing(T)
    stream = AscendingStream(
        "b", Provider.PREFACTOR, listing.oldest_first, descending=True, max_chunk=7
    )
    first = await one(stream, descending=True, forward=True, size=7)
    assert first.edges[-1].record.native_id == "0-003"
    listing.delete("0-009", "0-007", "0-006", "0-005")
    listing.calls = 0
    back = await one(stream, descending=True, forward=False, size=2, cursor=first.edges[-1].state)
    assert ids(back) == ["0-008", "0-004"]
    assert (back.has_previous, back.has_next) == (False, True)
    assert listing.calls == 2  # positions 5-7, then 4
    # Back from t4 (position 5), the first read, positions 4-6, reaches the first record.
    listing.calls = 0
    back = await one(stream, descending=True, forward=False, size=2, cursor=first.edges[5].state)
    assert ids(back) == ["0-008"]
    assert (back.has_previous, back.has_next) == (False, True)
    assert listing.calls == 1


async def test_a_total_above_what_an_upstream_lists_still_ends_the_walk() -> None:
    # The total says six; five are listed. Newest first: s4=0 ... s0=4.
    listing = Listing(S, lie=1)
    stream = OffsetStream("a", Provider.PRIVX, listing.page, descending=True)
    pages = [await one(stream, descending=True, forward=True, size=2)]
    while pages[-1].has_next:
        cursor = pages[-1].edges[-1].state
        pages.append(await one(stream, descending=True, forward=True, size=2, cursor=cursor))
    assert [ids(p) for p in pages] == [["0-004", "0-003"], ["0-002", "0-001"], ["0-000"]]
    # Back from s0, the read past it comes back empty: the page is still the two before it.
    back = await one(
        stream, descending=True, forward=False, size=2, cursor=pages[-1].edges[0].state
    )
    assert ids(back) == ["0-002", "0-001"]
    assert (back.has_previous, back.has_next) == (True, True)


async def test_a_page_back_after_the_listing_shrank_below_the_cursors_place() -> None:
    # Newest first, read two at a time; the cursor at t2 says position 8. Seven sessions are
    # then deleted: t9, t8 and t2 are left, at positions 0 to 2.
    listing = Listing(T)
    stream = OffsetStream("a", Provider.PRIVX, listing.page, descending=True, max_chunk=2)
    first = await one(stream, descending=True, forward=True, size=8)
    assert first.edges[-1].record.native_id == "0-002"
    assert first.edges[-1].state.offsets == (8,)
    listing.delete("0-007", "0-006", "0-005", "0-004", "0-003", "0-001", "0-000")
    back = await one(stream, descending=True, forward=False, size=2, cursor=first.edges[-1].state)
    assert ids(back) == ["0-009", "0-008"]
    assert (back.has_previous, back.has_next) == (False, True)
    assert back.totals == {0: 3}


async def test_oldest_first_page_back_after_shrinking_below_the_cursor() -> None:
    # Oldest first: t0=0 ... t9=9; the cursor at t7 says position 8. Seven sessions are then
    # deleted: t0, t1 and t7 are left, at positions 0 to 2.
    listing = Listing(T)
    stream = AscendingStream(
        "b", Provider.PREFACTOR, listing.oldest_first, descending=False, max_chunk=7
    )
    first = await one(stream, descending=False, forward=True, size=8)
    assert first.edges[-1].record.native_id == "0-007"
    assert first.edges[-1].state.offsets == (8,)
    listing.delete("0-002", "0-003", "0-004", "0-005", "0-006", "0-008", "0-009")
    back = await one(stream, descending=False, forward=False, size=2, cursor=first.edges[-1].state)
    assert ids(back) == ["0-000", "0-001"]
    assert (back.has_previous, back.has_next) == (False, True)
    assert back.totals == {0: 3}


async def test_a_last_page_longer_than_an_oldest_first_listing() -> None:
    calls = Calls()
    stream = AscendingStream(
        "b", Provider.PREFACTOR, ascending_page(P, calls, 7), descending=False, max_chunk=7
    )
    page = await one(stream, descending=False, forward=False, size=10)
    assert ids(page) == ["1-000", "1-001", "1-002", "1-003", "1-004"]
    assert (page.has_previous, page.has_next) == (False, False)
    assert [e.state.offsets for e in page.edges] == [(1,), (2,), (3,), (4,), (5,)]
    assert calls.count == 1


async def test_a_recovered_stream_names_its_provider_in_what_it_missed() -> None:
    # hyper.id's listing (answered in full) fails on the first page and answers on the second.
    calls = Calls()
    up = False

    async def load() -> list[SessionRecord]:
        if not up:
            raise UpstreamUnavailable("HYPERID answered HTTP 503.", provider="HYPERID")
        return []

    streams: list[Stream] = [
        OffsetStream("a", Provider.PRIVX, offset_page(S, calls), descending=True),
        LocalStream("c", Provider.HYPERID, load, None, descending=True),
    ]
    first = await paginate(
        streams, descending=True, fingerprint="f", forward=True, size=2, cursor=None
    )
    assert list(first.failures) == [1]
    up = True
    second = await paginate(
        streams,
        descending=True,
        fingerprint="f",
        forward=True,
        size=2,
        cursor=first.edges[-1].state,
    )
    assert ids(second) == ["0-002", "0-001"]
    gap = second.gaps[1]
    assert gap.provider == "HYPERID"
    assert str(gap) == (
        "HYPERID failed on earlier pages of this walk: its sessions from the start of the walk "
        "to 2024-05-01T00:00:40+00:00 were not listed. Start again from the first page to see "
        "them."
    )
    assert gap.details == {"missedSince": None, "missedUntil": "2024-05-01T00:00:40+00:00"}


# Calls: each test below counts the upstream calls a page costs when its hints hold.


async def test_reversed_oldest_first_listing_first_page_costs_one_call() -> None:
    calls = Calls()
    stream = AscendingStream(
        "b", Provider.PREFACTOR, ascending_page(P, calls, 7), descending=True, max_chunk=7
    )
    page = await one(stream, descending=True, forward=True, size=2)
    assert ids(page) == ["1-004", "1-003"]
    assert calls.count == 1  # the read that learns the size holds the whole listing


async def test_oldest_first_long_listing_page_back_costs_one_call() -> None:
    # Read seven at a time; the first page learns the size (0-2) and reads the newest two (8-9).
    calls = Calls()
    stream = AscendingStream(
        "b", Provider.PREFACTOR, ascending_page(T, calls, 7), descending=True, max_chunk=7
    )
    first = await one(stream, descending=True, forward=True, size=2)
    assert ids(first) == ["0-009", "0-008"]
    calls.count = 0
    back = await one(stream, descending=True, forward=False, size=2, cursor=first.edges[-1].state)
    assert ids(back) == ["0-009"]
    assert calls.count == 1  # t9, t8 and t7, with the size the cursor carries


async def test_counting_a_filtered_oldest_first_listing_read_newest_first() -> None:
    # Two at a time: learning the size reads t0-t1, then t3-t4 (positions 0-1), t1-t2, t0.
    calls = Calls()

    def odd(r: SessionRecord) -> bool:
        return int(r.native_id[-1]) % 2 == 1

    stream = AscendingStream(
        "b",
        Provider.PREFACTOR,
        ascending_page(S, calls, 2),
        descending=True,
        residual=odd,
        max_chunk=2,
    )
    assert await count(stream, None) == 2
    assert calls.count == 4


async def test_a_filtered_streams_first_read_is_large_enough_for_a_page() -> None:
    # Forty sessions, half of them kept: one read of MIN_FILTERED_CHUNK (50) holds them all.
    forty = [record(Provider.PRIVX, f"0-{i:03d}", i + 1) for i in range(40)]
    calls = Calls()

    def odd(r: SessionRecord) -> bool:
        return int(r.native_id[-1]) % 2 == 1

    stream = OffsetStream(
        "a", Provider.PRIVX, offset_page(forty, calls), descending=True, residual=odd
    )
    page = await one(stream, descending=True, forward=True, size=5)
    assert ids(page) == ["0-039", "0-037", "0-035", "0-033", "0-031"]
    assert calls.count == 1


async def test_a_stream_left_off_a_page_is_one_read_next() -> None:
    # PRIVX: t0 to t9 (seconds 10 to 100); PREFACTOR: q0 and q1 at 1 and 2, q2 to q4 at 95 to
    # 97. Newest first: t9, q4, q3, q2, t8, t7, t6, ... t0, q1, q0.
    q = [record(Provider.PREFACTOR, f"1-{i:03d}", s) for i, s in enumerate((1, 2, 95, 96, 97))]
    calls = Calls()
    streams: list[Stream] = [
        OffsetStream("a", Provider.PRIVX, offset_page(T, calls), descending=True),
        OffsetStream("b", Provider.PREFACTOR, offset_page(q, calls), descending=True),
    ]

    async def after(page: Page | None, size: int) -> Page:
        cursor = page.edges[-1].state if page else None
        return await paginate(
            streams, descending=True, fingerprint="f", forward=True, size=size, cursor=cursor
        )

    first = await after(None, 4)
    assert ids(first) == ["0-009", "1-004", "1-003", "1-002"]
    second = await after(first, 2)
    assert ids(second) == ["0-008", "0-007"]
    # PREFACTOR is not on the second page: its next record, q1, is at position 3.
    assert second.edges[-1].state.offsets == (3, 3)
    calls.count = 0
    third = await after(second, 2)
    assert ids(third) == ["0-006", "0-005"]
    assert calls.count == 2  # one read each: PREFACTOR's starts at q2, created before t7


async def test_a_page_back_with_an_all_later_stream_costs_one_read_each() -> None:
    # PRIVX newer than every PREFACTOR session, read three at a time: the first page is PRIVX's,
    # and PREFACTOR's place in its cursors is 0, before all of it.
    calls = Calls()
    streams: list[Stream] = [
        OffsetStream("a", Provider.PRIVX, offset_page(T[5:], calls), descending=True),
        OffsetStream(
            "b",
            Provider.PREFACTOR,
            offset_page([record(Provider.PREFACTOR, f"1-{i:03d}", i + 1) for i in range(5)], calls),
            descending=True,
            max_chunk=3,
        ),
    ]
    first = await paginate(
        streams, descending=True, fingerprint="f", forward=True, size=2, cursor=None
    )
    assert ids(first) == ["0-009", "0-008"]
    assert first.edges[-1].state.offsets == (2, 0)
    calls.count = 0
    back = await paginate(
        streams,
        descending=True,
        fingerprint="f",
        forward=False,
        size=2,
        cursor=first.edges[-1].state,
    )
    assert ids(back) == ["0-009"]
    assert (back.has_previous, back.has_next) == (False, True)
    assert calls.count == 2


async def test_a_page_back_from_the_last_record_reads_no_further() -> None:
    calls = Calls()
    stream = OffsetStream("a", Provider.PRIVX, offset_page(S, calls), descending=True)
    first = await one(stream, descending=True, forward=True, size=5)
    assert first.edges[-1].state.offsets == (5,)
    calls.count = 0
    back = await one(stream, descending=True, forward=False, size=2, cursor=first.edges[-1].state)
    assert ids(back) == ["0-002", "0-001"]
    assert calls.count == 2  # positions 3-4, which end the listing; then 2


async def test_a_page_back_once_every_session_is_gone_costs_one_read() -> None:
    listing = Listing(S)
    stream = OffsetStream("a", Provider.PRIVX, listing.page, descending=True)
    first = await one(stream, descending=True, forward=True, size=2)
    listing.delete(*(r.native_id for r in S))
    listing.calls = 0
    back = await one(stream, descending=True, forward=False, size=2, cursor=first.edges[-1].state)
    assert ids(back) == []
    assert (back.has_previous, back.has_next) == (False, True)
    assert back.totals == {0: 0}
    assert listing.calls == 1


async def test_a_stream_left_off_a_page_back_is_one_read_next() -> None:
    # As above, walking back from the end: q1, q0; then t1, t0, where PREFACTOR's place is 3
    # (its next record back, q2, is at position 2); then t3, t2.
    q = [record(Provider.PREFACTOR, f"1-{i:03d}", s) for i, s in enumerate((1, 2, 95, 96, 97))]
    calls = Calls()
    streams: list[Stream] = [
        OffsetStream("a", Provider.PRIVX, offset_page(T, calls), descending=True),
        OffsetStream("b", Provider.PREFACTOR, offset_page(q, calls), descending=True),
    ]

    async def before(page: Page | None) -> Page:
        cursor = page.edges[0].state if page else None
        return await paginate(
            streams, descending=True, fingerprint="f", forward=False, size=2, cursor=cursor
        )

    last = await before(None)
    assert ids(last) == ["1-001", "1-000"]
    second = await before(last)
    assert ids(second) == ["0-001", "0-000"]
    assert second.edges[0].state.offsets == (9, 3)
    calls.count = 0
    third = await before(second)
    assert ids(third) == ["0-003", "0-002"]
    # PRIVX: t2-t0, then t3; PREFACTOR: q3-q1, and q1, created after t1, closes the read.
    assert calls.count == 3
    pages = [third]
    while pages[-1].has_previous:
        pages.append(await before(pages[-1]))
    assert [ids(p) for p in pages[1:]] == [
        ["0-005", "0-004"],
        ["0-007", "0-006"],
        ["1-002", "0-008"],
        ["1-004", "1-003"],
        ["0-009"],
    ]
    # Back from q2, PRIVX's place is t8's, 1: t9-t8 closes its read; PREFACTOR reads q3-q1, then q4.
    calls.count = 0
    assert ids(await before(pages[-3])) == ["1-004", "1-003"]
    assert calls.count == 3
    # Back from q4, PRIVX's place is 1, just past t9: one read each (t9-t8, and q4-q3).
    calls.count = 0
    assert ids(await before(pages[-2])) == ["0-009"]
    assert calls.count == 2


async def test_a_stream_failing_after_answering_reports_what_it_missed() -> None:
    # PREFACTOR (oldest first only, two at a time) answers the first page, fails on the second
    # and answers again on the third. Newest first: p4, s4, p3, s3, p2, s2, p1, s1, p0, s0.
    calls = Calls()
    prefactor = ascending_page(P, calls, 2)
    up = True

    async def page(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
        if not up:
            raise UpstreamUnavailable("PREFACTOR answered HTTP 503.", provider="PREFACTOR")
        return await prefactor(offset, limit, desc)

    streams: list[Stream] = [
        OffsetStream("a", Provider.PRIVX, offset_page(S, calls), descending=True),
        AscendingStream("b", Provider.PREFACTOR, page, descending=True, max_chunk=2),
    ]

    async def turn(cursor: CursorState | None, *, forward: bool = True) -> Page:
        return await paginate(
            streams, descending=True, fingerprint="f", forward=forward, size=2, cursor=cursor
        )

    first = await turn(None)
    assert ids(first) == ["1-004", "0-004"]
    up = False
    second = await turn(first.edges[-1].state)
    assert ids(second) == ["0-003", "0-002"]
    assert list(second.failures) == [1]
    # Left out since s4, the first page's end, at 50 s.
    assert [e.state.missed for e in second.edges] == [
        (None, P[4].created_at - timedelta(seconds=5))
    ] * 2
    up = True
    calls.count = 0
    third = await turn(second.edges[-1].state)
    assert ids(third) == ["1-001", "0-001"]
    # PREFACTOR starts from its place on the first page (position 1, of 5, its size then):
    # p4-p3, p2-p1, then p0, which might come before s1; PRIVX: s3-s0.
    assert calls.count == 4
    missed = {
        "missedSince": "2024-05-01T00:00:50+00:00",
        "missedUntil": "2024-05-01T00:00:30+00:00",
    }
    assert third.gaps[1].details == missed
    assert str(third.gaps[1]) == (
        "PREFACTOR failed on earlier pages of this walk: its sessions from "
        "2024-05-01T00:00:50+00:00 to 2024-05-01T00:00:30+00:00 were not listed. Start again "
        "from the first page to see them."
    )
    # Going back from the second page's end, the page says so too.
    back = await turn(second.edges[-1].state, forward=False)
    assert ids(back) == ["0-003", "1-002"]
    assert back.gaps[1].details == missed


async def test_a_page_of_a_failing_stream_alone_says_more_may_come_either_way() -> None:
    async def page(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
        raise UpstreamUnavailable("PRIVX answered HTTP 503.", provider="PRIVX")

    stream = OffsetStream("a", Provider.PRIVX, page, descending=True)
    for forward in (True, False):
        result = await one(stream, descending=True, forward=forward, size=2)
        assert ids(result) == []
        assert (result.has_next if forward else result.has_previous) is True
        assert list(result.failures) == [0]


async def test_a_step_back_past_deleted_sessions_doubles_its_reach() -> None:
    # Newest first, u23=0 ... u0=23; the cursor at u4 says position 19 (hint 20). Eight newer
    # sessions are then deleted: u4 now stands at 11. Its own stream's read starts two before
    # the hint, at 18, and finds older sessions there: it steps back by 2, 4, then 8 (to 16,
    # 12, 4), until the first record read is newer than u4.
    u = [record(Provider.PRIVX, f"0-{i:03d}", i + 1) for i in range(24)]
    listing = Listing(u)
    stream = OffsetStream("a", Provider.PRIVX, listing.page, descending=True)
    first = await one(stream, descending=True, forward=True, size=20)
    assert first.edges[-1].record.native_id == "0-004"
    assert first.edges[-1].state.offsets == (20,)
    listing.delete(*(f"0-{i:03d}" for i in range(16, 24)))
    listing.calls = 0
    page = await one(stream, descending=True, forward=True, size=2, cursor=first.edges[-1].state)
    assert ids(page) == ["0-003", "0-002"]
    assert listing.calls == 4


async def test_a_step_back_in_an_oldest_first_listing_keeps_its_anchor() -> None:
    # Oldest first only, read newest first, three at a time; 1-007 and 1-008 were created in the
    # same second. From the cursor at 1-007 (position 2), the read starts at 1-008 (position 1),
    # of the cursor's instant, so it steps back to 0 with the size the cursor carries: three
    # calls in all (positions 1-3, 0-2, then 3-5), none of them to learn the size again.
    tied = [
        record(Provider.PREFACTOR, f"1-{i:03d}", 10 * (i + 1) - (i == 8) * 10) for i in range(10)
    ]
    calls = Calls()
    stream = AscendingStream(
        "b", Provider.PREFACTOR, ascending_page(tied, calls, 3), descending=True, max_chunk=3
    )
    first = await one(stream, descending=True, forward=True, size=3)
    assert ids(first) == ["1-009", "1-008", "1-007"]
    calls.count = 0
    page = await one(stream, descending=True, forward=True, size=2, cursor=first.edges[-1].state)
    assert ids(page) == ["1-006", "1-005"]
    assert calls.count == 3


async def test_a_sparse_filter_reads_on_in_doubling_chunks() -> None:
    # 180 sessions, only the oldest kept: reads of 50, 100 and 200 (capped by what is left).
    many = [record(Provider.PRIVX, f"0-{i:03d}", i + 1) for i in range(180)]
    calls = Calls()

    def oldest(r: SessionRecord) -> bool:
        return r.native_id == "0-000"

    stream = OffsetStream(
        "a", Provider.PRIVX, offset_page(many, calls), descending=True, residual=oldest
    )
    page = await one(stream, descending=True, forward=True, size=1)
    assert ids(page) == ["0-000"]
    assert calls.count == 3


async def test_a_large_page_of_a_filtered_listing_reads_one_more_than_the_page() -> None:
    # Sixty-one sessions, all kept: a page of 60 reads 61 at once, and knows one more follows.
    many = [record(Provider.PRIVX, f"0-{i:03d}", i + 1) for i in range(61)]
    calls = Calls()
    stream = OffsetStream(
        "a", Provider.PRIVX, offset_page(many, calls), descending=True, residual=lambda r: True
    )
    page = await one(stream, descending=True, forward=True, size=60)
    assert len(page.edges) == 60
    assert page.has_next
    assert calls.count == 1


async def test_a_page_back_past_new_sessions_reads_on_in_doubling_steps() -> None:
    # Newest first, v29=0 ... v0=29; the cursor at v28 says position 1 (hint 2). Four newer
    # sessions are then created: v28 now stands at 5. The first read back (positions 1-2) ends
    # before it, so the read goes on by 1, 2, then 4 positions (3, 4-5, 6-9), until the last
    # record read is older than v28.
    v = [record(Provider.PRIVX, f"0-{i:03d}", i + 1) for i in range(30)]
    listing = Listing(v)
    stream = OffsetStream("a", Provider.PRIVX, listing.page, descending=True)
    first = await one(stream, descending=True, forward=True, size=2)
    assert first.edges[-1].state.offsets == (2,)
    listing.create(*(record(Provider.PRIVX, f"0-{i:03d}", i + 1) for i in range(100, 104)))
    listing.calls = 0
    back = await one(stream, descending=True, forward=False, size=1, cursor=first.edges[-1].state)
    assert ids(back) == ["0-029"]
    assert listing.calls == 4


async def test_a_read_over_holes_answers_the_records_past_them_in_one_call() -> None:
    # Oldest first only, read newest first from the walk's anchor, 10. After t9 to t6 are
    # deleted, t5 to t0 hold positions 4 to 9, and 0 to 3 are holes. Positions 2 to 5, asked
    # for, hold t5 and t4: the one read of native positions 4 to 7 has them already.
    listing = Listing(T)
    stream = AscendingStream("b", Provider.PREFACTOR, listing.oldest_first, descending=True)
    listing.delete("0-009", "0-008", "0-007", "0-006")

    sl = await stream.head(2, 4, 10)

    assert [r.native_id for r in sl.items] == ["0-005", "0-004"]
    assert (sl.start, sl.first, sl.anchor, sl.total) == (4, 4, 10, 6)
    assert listing.calls == 1
