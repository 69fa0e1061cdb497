"""Merged pagination over in-process fake streams: every walk visits each record once, in order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core import ids
from app.core.errors import UpstreamUnavailable
from app.core.records import Provider, SessionRecord, SessionStatus
from app.listing.cursor import WALK_START, CursorState
from app.listing.paginate import Page, count, paginate
from app.listing.streams import AscendingStream, LocalStream, OffsetStream, PageFetch, Stream
from app.upstream.providers.privx.records import PrivxExtras

EPOCH = datetime(2024, 5, 1, tzinfo=UTC)
EXTRAS = PrivxExtras("login", None, None, None, None, False)


def record(provider: Provider, native_id: str, second: int) -> SessionRecord:
    return SessionRecord(
        provider=provider,
        native_id=native_id,
        global_id=ids.encode(ids.SESSION, provider, native_id),
        status=SessionStatus.ACTIVE,
        created_at=EPOCH + timedelta(seconds=second),
        extras=EXTRAS,
    )


class Calls:
    def __init__(self) -> None:
        self.count = 0


def offset_page(records: Sequence[SessionRecord], calls: Calls) -> PageFetch:
    ordered = sorted(records, key=lambda r: r.sort_key)

    async def page(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
        calls.count += 1
        view = ordered[::-1] if desc else ordered
        return list(view[offset : offset + limit]), len(view)

    return page


def ascending_page(records: Sequence[SessionRecord], calls: Calls, max_size: int) -> PageFetch:
    ordered = sorted(records, key=lambda r: r.sort_key)

    async def page(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
        calls.count += 1
        assert limit <= max_size
        return list(ordered[offset : offset + limit]), len(ordered)

    return page


def build(
    data: list[list[SessionRecord]], descending: bool, keep_mod: int | None, calls: Calls
) -> list[Stream]:
    def residual(r: SessionRecord) -> bool:
        return keep_mod is None or int(r.native_id.split("-")[1]) % keep_mod != 0

    pred = residual if keep_mod is not None else None
    a, b, c = data

    async def load() -> list[SessionRecord]:
        calls.count += 1
        return c

    return [
        OffsetStream(
            "a", Provider.PRIVX, offset_page(a, calls), descending=descending, residual=pred
        ),
        AscendingStream(
            "b",
            Provider.PREFACTOR,
            ascending_page(b, calls, 7),
            descending=descending,
            residual=pred,
            max_chunk=7,
        ),
        LocalStream("c", Provider.HYPERID, load, pred, descending=descending),
    ]


def dataset(sizes: tuple[int, int, int], spread: int) -> list[list[SessionRecord]]:
    providers = (Provider.PRIVX, Provider.PREFACTOR, Provider.HYPERID)
    out = []
    for n, (size, provider) in enumerate(zip(sizes, providers, strict=True)):
        out.append(
            [record(provider, f"{n}-{i:03d}", (i * 7919 + n * 31) % spread) for i in range(size)]
        )
    return out


async def walk(streams: list[Stream], descending: bool, size: int, forward: bool) -> list[Page]:
    pages: list[Page] = []
    cursor: CursorState | None = None
    while True:
        page = await paginate(
            streams,
            descending=descending,
            fingerprint="f",
            forward=forward,
            size=size,
            cursor=cursor,
        )
        pages.append(page)
        more = page.has_next if forward else page.has_previous
        if not page.edges or not more:
            return pages
        cursor = page.edges[-1 if forward else 0].state
        assert len(pages) < 500


@settings(max_examples=120, deadline=None)
@given(
    sizes=st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 12)),
    spread=st.integers(1, 60),
    size=st.integers(1, 12),
    descending=st.booleans(),
    keep_mod=st.one_of(st.none(), st.integers(2, 4)),
)
async def test_walks_visit_every_record_once_in_order(
    sizes: tuple[int, int, int], spread: int, size: int, descending: bool, keep_mod: int | None
) -> None:
    data = dataset(sizes, spread)
    calls = Calls()
    streams = build(data, descending, keep_mod, calls)
    expected = sorted(
        (r for s in data for r in s if streams[0].residual is None or streams[0].residual(r)),
        key=lambda r: r.sort_key,
        reverse=descending,
    )
    forward = await walk(streams, descending, size, forward=True)
    seen = [e.record for p in forward for e in p.edges]
    assert [r.global_id for r in seen] == [r.global_id for r in expected]
    assert all(len(p.edges) == size for p in forward[:-1])

    backward = await walk(streams, descending, size, forward=False)
    seen_back = [e.record for p in reversed(backward) for e in p.edges]
    assert [r.global_id for r in seen_back] == [r.global_id for r in expected]

    totals = [await count(s, None) for s in streams]
    assert sum(totals) == len(expected)


async def test_backward_from_a_forward_cursor_returns_the_records_before_it() -> None:
    data = dataset((20, 15, 6), 25)
    calls = Calls()
    streams = build(data, True, None, calls)
    first = await paginate(
        streams, descending=True, fingerprint="f", forward=True, size=10, cursor=None
    )
    second = await paginate(
        streams,
        descending=True,
        fingerprint="f",
        forward=True,
        size=10,
        cursor=first.edges[-1].state,
    )
    back = await paginate(
        streams,
        descending=True,
        fingerprint="f",
        forward=False,
        size=10,
        cursor=second.edges[0].state,
    )
    assert [e.record.global_id for e in back.edges] == [e.record.global_id for e in first.edges]
    assert back.has_previous is False
    assert back.has_next is True


async def test_exact_streams_cost_one_call_each_per_page() -> None:
    data = dataset((40, 40, 10), 500)
    calls = Calls()
    streams = build(data, False, None, calls)
    first = await paginate(
        streams, descending=False, fingerprint="f", forward=True, size=5, cursor=None
    )
    assert calls.count == 3
    calls.count = 0
    streams = build(data, False, None, calls)  # streams live for one request
    await paginate(
        streams,
        descending=False,
        fingerprint="f",
        forward=True,
        size=5,
        cursor=first.edges[-1].state,
    )
    assert calls.count == 3


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 8), n=st.integers(0, 25), spread=st.integers(1, 6))
async def test_upstream_tie_order_that_does_not_reverse_still_visits_each_once(
    size: int, n: int, spread: int
) -> None:
    # e.g. SQL "ORDER BY created DESC, id ASC": ties keep id order in both directions.
    records = [record(Provider.PRIVX, f"0-{i:03d}", i % spread) for i in range(n)]

    async def page(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
        ordered = sorted(records, key=lambda r: (-r.created_at.timestamp(), r.native_id))
        view = ordered if desc else ordered[::-1]
        return view[offset : offset + limit], len(view)

    streams: list[Stream] = [OffsetStream("a", Provider.PRIVX, page, descending=True)]
    for forward in (True, False):
        pages = await walk(streams, True, size, forward)
        seen = [e.record.global_id for p in pages for e in p.edges]
        assert sorted(seen) == sorted(r.global_id for r in records)


async def test_a_failing_stream_keeps_the_walk_open_and_reports_what_it_missed() -> None:
    data = dataset((10, 10, 4), 40)
    calls = Calls()
    healthy = build(data, True, None, calls)

    async def broken(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
        raise UpstreamUnavailable("PRIVX answered HTTP 503.", provider="PRIVX")

    streams = [OffsetStream("a", Provider.PRIVX, broken, descending=True), *healthy[1:]]
    first = await paginate(
        streams, descending=True, fingerprint="f", forward=True, size=5, cursor=None
    )
    second = await paginate(
        streams,
        descending=True,
        fingerprint="f",
        forward=True,
        size=5,
        cursor=first.edges[-1].state,
    )
    recovered = await paginate(
        healthy,
        descending=True,
        fingerprint="f",
        forward=True,
        size=5,
        cursor=second.edges[-1].state,
    )

    assert set(first.failures) == set(second.failures) == {0}
    assert all(e.record.provider is not Provider.PRIVX for e in first.edges + second.edges)
    assert first.has_next  # PRIVX may still hold sessions
    assert second.has_next
    assert all(e.state.missed[0] == WALK_START for e in first.edges + second.edges)
    # Back, PRIVX says what it missed: everything before the second page's end.
    gap = recovered.gaps[0]
    assert gap.code == "WALK_INCOMPLETE"
    assert gap.details == {
        "missedSince": None,
        "missedUntil": second.edges[-1].record.created_at.isoformat(),
    }
    # and the walk goes on in order from where it stood, PRIVX included.
    everything = sorted((r for s in data for r in s), key=lambda r: r.sort_key, reverse=True)
    after = everything[everything.index(second.edges[-1].record) + 1 :]
    assert [e.record for e in recovered.edges] == after[:5]
    assert all(e.state.missed == (None, None, None) for e in recovered.edges)
