"""Merged cursor pagination over several streams (GraphQL Cursor Connections semantics).

Forward (`first`/`after`): each stream is read from the cursor's position for that stream; the
runs are k-way merged in the connection order and the first `size` items kept. Backward
(`last`/`before`) reads each stream's region before the cursor from its end. A stream the
upstream filters exactly needs `size` records (one call); one with a residual filter is read in
growing chunks until `size + 1` records match or it ends.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from app.errors import UpstreamError
from app.listing.cursor import CursorState
from app.listing.filter import Predicate
from app.listing.streams import Slice, Stream
from app.upstream.records import SessionRecord

# First read of a stream with a residual filter; later reads double up to the stream's maximum.
MIN_FILTERED_CHUNK = 50
# A cursor position for a stream whose place is unknown (it failed on the page that made the
# cursor): the next page finds its place again by creation time (the guard), reading from an end.
UNKNOWN = -1


@dataclass(frozen=True, slots=True)
class PageEdge:
    """One record of the page and where it stands."""

    record: SessionRecord
    state: CursorState


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the merged list, in the connection's order."""

    edges: list[PageEdge]
    has_next: bool
    has_previous: bool
    totals: dict[int, int]  # stream index -> total the upstream reported during this page
    failures: dict[int, UpstreamError] = field(default_factory=dict)  # streams left out


@dataclass(frozen=True, slots=True)
class _Run:
    matched: list[tuple[int, SessionRecord]]  # (position, record) in reading order
    more: bool  # unread positions remain in the reading direction
    edge: int  # forward: first position read; backward: end of the region read
    anchor: int | None
    total: int | None


def _guard(cursor: CursorState, *, descending: bool, forward: bool) -> Predicate:
    """Drop records a page already showed that slid past the cursor's offsets.

    Only creation time and the cursor's own id are compared, not the full (time, id) key, so an
    upstream that breaks time ties in another order than ours never loses a record.
    """
    stamp, global_id = cursor.created_at, cursor.global_id
    if descending == forward:
        return lambda r: r.global_id != global_id and r.created_at <= stamp
    return lambda r: r.global_id != global_id and r.created_at >= stamp


def _both(first: Predicate | None, second: Predicate | None) -> Predicate | None:
    if first is None or second is None:
        return first or second
    return lambda r: first(r) and second(r)


def _keep(
    keep: Predicate | None, sl: Slice, matched: list[tuple[int, SessionRecord]], backward: bool
) -> None:
    indexes = range(len(sl.items) - 1, -1, -1) if backward else range(len(sl.items))
    for k in indexes:
        record = sl.items[k]
        if keep is None or keep(record):
            matched.append((sl.start + k, record))


async def _forward(
    stream: Stream, start: int, anchor: int | None, want: int, keep: Predicate | None
) -> _Run:
    exact = stream.residual is None
    chunk = want if exact else max(want, MIN_FILTERED_CHUNK)
    matched: list[tuple[int, SessionRecord]] = []
    position = start
    while True:
        sl = await stream.head(position, chunk, anchor)
        anchor = sl.anchor
        _keep(keep, sl, matched, backward=False)
        position = sl.start + len(sl.items)
        more = bool(sl.items) and position < sl.size
        if not more or len(matched) >= want:
            return _Run(matched, more, start, anchor, sl.total)
        chunk = want - len(matched) if exact else min(chunk * 2, stream.max_chunk)


async def _backward(
    stream: Stream, end: int | None, anchor: int | None, want: int, keep: Predicate | None
) -> _Run:
    exact = stream.residual is None
    chunk = min(want if exact else max(want, MIN_FILTERED_CHUNK), stream.max_chunk)
    matched: list[tuple[int, SessionRecord]] = []
    if end is not None and end <= 0:
        return _Run(matched, False, 0, anchor, None)
    if end is None:
        sl = await stream.tail(chunk)
        end = sl.size
    else:
        low = max(end - chunk, 0)
        sl = await stream.head(low, end - low, anchor)
    while True:
        anchor = sl.anchor if sl.anchor is not None else anchor
        _keep(keep, sl, matched, backward=True)
        lowest = sl.start
        more = bool(sl.items) and lowest > 0
        if not more or len(matched) >= want:
            return _Run(matched, more, end, anchor, sl.total)
        if not exact:
            chunk = min(chunk * 2, stream.max_chunk)
        low = max(lowest - chunk, 0)
        sl = await stream.head(low, lowest - low, anchor)


async def _or_failure(
    run: Awaitable[_Run], fallback: _Run, index: int, failures: dict[int, UpstreamError]
) -> _Run:
    """A failing upstream leaves its stream out of the page instead of failing the page."""
    try:
        return await run
    except UpstreamError as exc:
        failures[index] = exc
        return fallback


async def paginate(
    streams: Sequence[Stream],
    *,
    descending: bool,
    fingerprint: str,
    forward: bool,
    size: int,
    cursor: CursorState | None,
) -> Page:
    """One page of `size` records after (forward) or before (backward) `cursor`."""
    guard = _guard(cursor, descending=descending, forward=forward) if cursor else None
    wants = [size if s.residual is None else size + 1 for s in streams]
    keeps = [_both(s.residual, guard) for s in streams]
    failures: dict[int, UpstreamError] = {}
    pending: list[Awaitable[_Run]] = []
    for i, stream in enumerate(streams):
        offset = cursor.offsets[i] if cursor else None
        anchor = cursor.anchors[i] if cursor else None
        if offset is not None and offset < 0:
            offset = anchor = None  # place unknown: read from the start (forward) or the end
        if forward:
            start = offset or 0
            run = _forward(stream, start, anchor, wants[i], keeps[i])
            fallback = _Run([], False, start, anchor, None)
        else:
            end = None if offset is None else offset - (cursor is not None and i == cursor.stream)
            run = _backward(stream, end, anchor, wants[i], keeps[i])
            fallback = _Run([], False, UNKNOWN if end is None else end, anchor, None)
        pending.append(_or_failure(run, fallback, i, failures))
    runs = list(await asyncio.gather(*pending))
    anchors = tuple(run.anchor for run in runs)
    bounds = [run.edge for run in runs]
    merged = heapq.merge(
        *([(pos, rec, i) for pos, rec in run.matched] for i, run in enumerate(runs)),
        key=lambda item: item[1].sort_key,
        reverse=descending == forward,
    )
    edges: list[PageEdge] = []
    overflow = False
    for position, record, index in merged:
        if len(edges) == size:
            overflow = True
            break
        if forward:
            bounds[index] = position + 1
            offsets = tuple(bounds)
        else:
            # Other streams: the position of their next-later record is a valid split too.
            offsets = (*bounds[:index], position + 1, *bounds[index + 1 :])
            bounds[index] = position
        state = CursorState(
            fingerprint, record.created_at, record.global_id, index, offsets, anchors
        )
        edges.append(PageEdge(record, state))
    beyond = overflow or any(run.more for run in runs)
    totals = {i: run.total for i, run in enumerate(runs) if run.total is not None}
    if forward:
        return Page(edges, beyond, cursor is not None, totals, failures)
    edges.reverse()
    return Page(edges, cursor is not None, beyond, totals, failures)


async def count(stream: Stream, known_total: int | None) -> int:
    """How many records of `stream` match its residual filter (a full read if it has one)."""
    residual = stream.residual
    if residual is None:
        if known_total is not None:
            return known_total
        return (await stream.head(0, 1, None)).total
    matching, position, anchor = 0, 0, None
    while True:
        sl = await stream.head(position, stream.max_chunk, anchor)
        anchor = sl.anchor
        matching += sum(1 for record in sl.items if residual(record))
        position = sl.start + len(sl.items)
        if not sl.items or position >= sl.size:
            return matching
