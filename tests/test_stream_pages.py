"""Pages and cursors over one stream of each kind, worked out by hand (issue 11's mutation check).

Five PRIVX sessions, created at seconds 10, 20, 30, 40 and 50 after EPOCH (s0 to s4), and five
PREFACTOR ones five seconds after each (p0 to p4). Newest first, positions in a listing are
s4=0, s3=1, s2=2, s1=3, s0=4; oldest first, s0=0 ... s4=4. A cursor carries, for
its stream, the position just after its session (going forward) or its own position plus one
(going back: the split below which everything is at or before it), and the stream's anchor: an
oldest-first listing read newest first counts positions down from its size when the walk began.
"""

from __future__ import annotations

from app.errors import UpstreamUnavailable
from app.listing.cursor import CursorState
from app.listing.paginate import Page, count, paginate
from app.listing.streams import AscendingStream, LocalStream, OffsetStream, Stream
from app.upstream.records import Provider, SessionRecord
from tests.test_paginate import Calls, ascending_page, offset_page, record

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
