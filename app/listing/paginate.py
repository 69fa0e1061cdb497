"""Merged cursor pagination over several streams (GraphQL Cursor Connections semantics).

The truth a cursor carries is a key: the (creation time, global id) of the edge it stands at.
"After the cursor" means every session whose key comes after that one in the connection's order,
whatever happened to the upstream listings meanwhile. Per-stream positions are only hints, and
each read checks them: a forward read starts one record before the hint and must find, at its
start, a record created strictly before the cursor's time (so no unseen session can be behind
it, whatever order the upstream gives sessions created in the same instant); if it does not,
sessions were deleted behind the hint and the read moves back until it does. Backward reads
check the record just past their end the same way. The records read are then kept by key.

So a session that exists for a whole walk is visited exactly once, and pages never go back in
creation time, however sessions are created and deleted between pages; one created or deleted
during the walk may or may not appear. A stream that fails on a page keeps its hint, keeps
`hasNextPage` true, and, when it answers again, reports the stretch it missed (WalkIncomplete).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from app.core.errors import UpstreamError, WalkIncomplete
from app.core.records import SessionRecord
from app.listing.cursor import WALK_START, CursorState
from app.listing.streams import Slice, Stream

# First read of a stream with a residual filter; later reads double up to the stream's maximum.
MIN_FILTERED_CHUNK = 50
# Ids of same-instant sessions a cursor remembers (beyond them, ties may repeat or be missed).
MAX_TIES = 200
# A cursor position for a stream whose place is unknown (it failed before it was ever read).
UNKNOWN = -1

Key = tuple[datetime, str]


class _Walk(NamedTuple):
    """What every edge's cursor of one page shares."""

    fingerprint: str
    anchors: tuple[int | None, ...]
    missed: tuple[datetime | None, ...]


class PageEdge(NamedTuple):
    """One record of the page and where it stands.

    Its cursor state is made when asked for: most queries select no cursor, or only the
    page's last (a tuple is a fifth of a frozen nine-field dataclass to make).
    """

    record: SessionRecord
    stream: int
    offsets: tuple[int, ...]
    ties: tuple[str, ...]
    ties_before: bool
    walk: _Walk

    @property
    def state(self) -> CursorState:
        record, walk = self.record, self.walk
        return CursorState(
            walk.fingerprint,
            record.created_at,
            record.global_id,
            self.stream,
            self.offsets,
            walk.anchors,
            walk.missed,
            self.ties,
            self.ties_before,
        )


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the merged list, in the connection's order."""

    edges: list[PageEdge]
    has_next: bool
    has_previous: bool
    totals: dict[int, int]  # stream index -> total the upstream reported during this page
    failures: dict[int, UpstreamError] = field(default_factory=dict)  # streams left out
    gaps: dict[int, WalkIncomplete] = field(default_factory=dict)  # streams back after a failure


@dataclass(frozen=True, slots=True)
class _Run:
    """A reader once reading is over: what the page's cursors and pageInfo need of it."""

    more: bool  # unread positions may remain in the reading direction
    edge: int  # forward: first position after the cursor; backward: end of what precedes it
    anchor: int | None
    total: int | None


class _Side:
    """Which records a read wants, relative to the cursor, in the connection's order.

    Sessions of the cursor's own instant are told apart by the ids the cursor remembers: those
    shown before it (`ties_before`) or after it; upstreams may order such ties as they like.
    """

    def __init__(self, cursor: CursorState | None, *, descending: bool, forward: bool) -> None:
        self.key: Key | None = (cursor.created_at, cursor.global_id) if cursor else None
        # In the connection's order, is "later" a larger key? Reading forward wants later ones.
        self._later_is_larger = not descending
        self.forward = forward
        # Records read arrive in key order reversed when reading against the keys' order.
        self.reverse_reads = descending == forward
        ties = set(cursor.ties) if cursor else set()
        if cursor is not None:
            ties.add(cursor.global_id)
        # The same-instant ids this read wants are those in `ties` (less the cursor's own), or
        # those not in it, depending on which side the cursor remembers and the direction.
        self._ties = ties
        self._want_listed = cursor is not None and cursor.ties_before != forward

    def wanted(self, record: SessionRecord) -> bool:
        """Not yet visited: after the cursor (forward), or before it (backward)."""
        key = self.key
        if key is None:
            return True
        if record.created_at == key[0]:
            if record.global_id == key[1]:
                return False
            return (record.global_id in self._ties) == self._want_listed
        later = (record.created_at > key[0]) == self._later_is_larger
        return later if self.forward else not later

    def clear_of_ties(self, record: SessionRecord) -> bool:
        """Created strictly on the visited side of the key's instant: nothing wanted lies beyond.

        Comparing times only makes this hold whatever order the upstream gives ties in.
        """
        if self.key is None:
            return True
        earlier = (record.created_at < self.key[0]) == self._later_is_larger
        if record.created_at == self.key[0]:
            return False
        return earlier if self.forward else not earlier


# Records of overlap a read takes on the visited side of its hint; the first of them must be
# created strictly before the cursor's instant. The stream the cursor's own session came from
# takes two: its hint is just past that session.
OVERLAP = 1


class _Reader:
    """One stream's reads for one page: a first read that checks the hint, then more on demand.

    `matched` holds the wanted records read so far, in key order in the reading direction; the
    page asks for more only when it would take all of them and the stream has more.
    """

    def __init__(
        self, stream: Stream, hint: int | None, anchor: int | None, side: _Side, want: int
    ) -> None:
        self.stream = stream
        self.hint = hint
        self.anchor = anchor
        self.side = side
        self.exact = stream.residual is None
        self.chunk = min(want if self.exact else max(want, MIN_FILTERED_CHUNK), stream.max_chunk)
        self.want = want
        self.matched: list[tuple[int, SessionRecord]] = []
        self.more = True  # unread positions may remain in the reading direction
        self.edge: int | None = None  # see _Run.edge
        self.total: int | None = None
        self._next = 0  # forward: next position to read; backward: lowest position read

    def _take(self, sl: Slice) -> None:
        self.anchor = sl.anchor if sl.anchor is not None else self.anchor
        self.total = sl.total
        keep, side = self.stream.residual, self.side
        items = sl.items if side.forward else sl.items[::-1]
        for k, record in enumerate(items):
            position = sl.start + k if side.forward else sl.start + len(sl.items) - 1 - k
            if side.wanted(record):
                if self.edge is None:
                    self.edge = position if side.forward else position + 1
                if keep is None or keep(record):
                    self.matched.append((position, record))
        # In key order: upstreams may order sessions created in the same instant otherwise.
        self.matched.sort(key=lambda item: item[1].sort_key, reverse=side.reverse_reads)

    async def first(self, overlap: int) -> None:
        """The first read, from the hint, after checking it still holds."""
        if self.side.forward:
            await self._first_forward(overlap)
        else:
            await self._first_backward()

    async def _first_forward(self, overlap: int) -> None:
        stream, side, hint = self.stream, self.side, self.hint
        start = 0 if hint is None or side.key is None else max(hint - overlap, 0)
        step = self.chunk
        while True:
            count = min(self.chunk + (hint or 0) - start, stream.max_chunk) if hint else self.chunk
            sl = await stream.head(start, count, self.anchor)
            self.anchor = sl.anchor if sl.anchor is not None else self.anchor
            if start <= sl.first or (sl.items and side.clear_of_ties(sl.items[0])):
                break
            # Sessions behind the hint were deleted (or share the cursor's instant): step back.
            start, step = max(start - step, 0), min(step * 2, stream.max_chunk)
        self._after_forward(sl, start)

    def _after_forward(self, sl: Slice, asked: int) -> None:
        self._take(sl)
        position = sl.start + len(sl.items)
        # A read may come back empty yet further on, past an anchored stream's holes.
        self.more = position < sl.size and (bool(sl.items) or position > asked)
        self._next = position
        if not self.more and self.edge is None:
            self.edge = position

    async def _first_backward(self) -> None:
        stream, side, hint, chunk = self.stream, self.side, self.hint, self.chunk
        if hint is None or side.key is None:
            sl = await stream.tail(chunk)
        else:
            low = max(hint - chunk, 0)
            sl = await stream.head(low, min(hint - low + OVERLAP, stream.max_chunk), self.anchor)
            self.anchor = sl.anchor if sl.anchor is not None else self.anchor
            if not sl.items and low > sl.first:
                # The listing shrank below the hint: its end is where to look.
                sl = await stream.tail(chunk)
            low, items, step = sl.start, list(sl.items), chunk
            # The last record read must be created strictly after the cursor's instant, or be
            # the listing's last: then nothing before the cursor lies beyond what was read.
            while low + len(items) < sl.size and not (
                items and low + len(items) >= hint + OVERLAP and side.clear_of_ties(items[-1])
            ):
                # Sessions were created ahead of the hint (or share its instant): read on.
                extra = await stream.head(low + len(items), step, self.anchor)
                if not extra.items:
                    break
                # Positions, not list lengths: an anchored read may skip holes.
                items = items[: max(extra.start - low, 0)] + list(extra.items)
                step = min(step * 2, stream.max_chunk)
            sl = Slice(low, items, sl.size, sl.total, self.anchor, sl.first)
        self._after_backward(sl)

    def _after_backward(self, sl: Slice) -> None:
        self._take(sl)
        self._next = sl.start
        self.more = bool(sl.items) and sl.start > sl.first
        if not self.more and self.edge is None:
            self.edge = sl.start

    async def read_more(self) -> None:
        """One more read in the reading direction."""
        stream = self.stream
        if self.exact and self.matched:
            self.chunk = min(max(self.want - len(self.matched), 1), stream.max_chunk)
        else:  # nothing wanted yet, or a filter that matches sparsely: read on, faster
            self.chunk = min(max(self.chunk * 2, self.want), stream.max_chunk)
        if self.side.forward:
            sl = await stream.head(self._next, self.chunk, self.anchor)
            self._after_forward(sl, self._next)
        else:
            low = max(self._next - self.chunk, 0)
            sl = await stream.head(low, self._next - low, self.anchor)
            self._after_backward(sl)

    def run(self) -> _Run:
        edge = self.edge if self.edge is not None else self._next
        return _Run(self.more, edge, self.anchor, self.total)


async def _or_failure(
    read: Awaitable[None], index: int, failures: dict[int, UpstreamError]
) -> None:
    """A failing upstream leaves its stream out of the page instead of failing the page."""
    try:
        await read
    except UpstreamError as exc:
        failures[index] = exc


def _merged(
    readers: Sequence[_Reader], skip: Mapping[int, object], descending: bool, forward: bool
) -> Iterator[tuple[int, SessionRecord, int]]:
    return heapq.merge(
        *(
            [(pos, rec, i) for pos, rec in reader.matched] if i not in skip else []
            for i, reader in enumerate(readers)
        ),
        key=lambda item: item[1].sort_key,
        reverse=descending == forward,
    )


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
    side = _Side(cursor, descending=descending, forward=forward)
    failures: dict[int, UpstreamError] = {}
    readers: list[_Reader] = []
    firsts: list[Awaitable[None]] = []
    for i, stream in enumerate(streams):
        hint = cursor.offsets[i] if cursor else None
        anchor = cursor.anchors[i] if cursor else None
        if hint is not None and hint < 0:
            hint = anchor = None  # place unknown: read from the start (forward) or the end
        want = size if stream.residual is None else size + 1
        reader = _Reader(stream, hint, anchor, side, want)
        readers.append(reader)
        overlap = OVERLAP + (cursor is not None and i == cursor.stream)
        firsts.append(_or_failure(reader.first(overlap), i, failures))
    await asyncio.gather(*firsts)
    while True:
        # A stream whose every wanted record so far would be on the page, and that may have
        # more, could hold one that belongs before the page's end: read on there (rarely).
        # (Not when its own last record ends the full page: what it has not read comes later.)
        # The page as it stands, and whether anything is beyond it (`overflow`).
        merged = list(itertools.islice(_merged(readers, failures, descending, forward), size + 1))
        taken = [0] * len(readers)
        for _, _, index in merged[:size]:
            taken[index] += 1
        full = len(merged) >= size
        last = merged[size - 1][2] if full and size else -1
        needy = [
            i
            for i, reader in enumerate(readers)
            if i not in failures
            and reader.more
            and taken[i] == len(reader.matched)
            and not (full and last == i)
        ]
        if not needy:
            break
        await asyncio.gather(*(_or_failure(readers[i].read_more(), i, failures) for i in needy))
    runs = []
    for i, reader in enumerate(readers):
        if i in failures:
            # A failed stream keeps its hint and may hold more: the walk is not over for it.
            kept = UNKNOWN if reader.hint is None else reader.hint
            runs.append(_Run(True, kept, reader.anchor, None))
        else:
            runs.append(reader.run())
    gaps = _gaps(streams, cursor, failures)
    missed = tuple(_missed(cursor, i) if i in failures else None for i in range(len(streams)))
    anchors = tuple(run.anchor for run in runs)
    bounds = [run.edge for run in runs]
    walk = _Walk(fingerprint, anchors, missed)
    edges: list[PageEdge] = []
    overflow = len(merged) > size
    ties = _TieTracker(cursor, forward)
    for position, record, index in merged[:size]:
        if forward:
            bounds[index] = max(bounds[index], position + 1)
            offsets = tuple(bounds)
        else:
            # Other streams: the position of their next-later record is a valid split too.
            offsets = (*bounds[:index], position + 1, *bounds[index + 1 :])
            bounds[index] = min(bounds[index], position)
        edges.append(PageEdge(record, index, offsets, *ties.add(record), walk))
    beyond = overflow or any(run.more for run in runs)
    totals = {i: run.total for i, run in enumerate(runs) if run.total is not None}
    if forward:
        return Page(edges, beyond, cursor is not None, totals, failures, gaps)
    edges.reverse()
    return Page(edges, cursor is not None, beyond, totals, failures, gaps)


class _TieTracker:
    """For each edge of a page: the ids of its instant on one side of it, and which side.

    Walking on the side the cursor remembers (a forward page after a forward page), the ids
    shown so far are what lies behind each edge. Walking back against it, the cursor's list is
    what is still ahead, and each edge shown takes itself off it, keeping the cursor's side.
    """

    def __init__(self, cursor: CursorState | None, forward: bool) -> None:
        self._forward = forward
        self._instant = cursor.created_at if cursor else None
        self._along = cursor is None or cursor.ties_before == forward
        self._side = forward if self._along else not forward
        self._ids: list[str] = []  # along: shown behind, oldest first; against: still ahead
        if cursor is not None:
            if self._along:
                self._ids = [*reversed(cursor.ties), cursor.global_id]
            else:
                self._ids = list(cursor.ties)

    def add(self, record: SessionRecord) -> tuple[tuple[str, ...], bool]:
        """`record`'s (ties, ties_before), as its cursor carries them."""
        if record.created_at != self._instant:
            self._instant, self._ids = record.created_at, []
            self._along, self._side = True, self._forward
        if self._along:
            self._ids.append(record.global_id)
            if len(self._ids) == 1:
                return (), self._side  # alone in its instant, as nearly every session is
            # Its own id travels as the cursor's; the rest, the most recent first.
            return tuple(dict.fromkeys(self._ids[-2::-1]))[:MAX_TIES], self._side
        if record.global_id in self._ids:
            self._ids.remove(record.global_id)
        return tuple(self._ids)[:MAX_TIES], self._side


def _missed(cursor: CursorState | None, index: int) -> datetime:
    """Since when a stream that failed on this page has been left out of the walk."""
    if cursor is None:
        return WALK_START
    return cursor.missed[index] or cursor.created_at


def _gaps(
    streams: Sequence[Stream], cursor: CursorState | None, failures: dict[int, UpstreamError]
) -> dict[int, WalkIncomplete]:
    """Streams that failed on earlier pages of the walk and answer now: what they missed."""
    if cursor is None:
        return {}
    gaps = {}
    for i, since in enumerate(cursor.missed):
        if since is not None and i not in failures and since != cursor.created_at:
            until = cursor.created_at.isoformat()
            start = "the start of the walk" if since == WALK_START else since.isoformat()
            gaps[i] = WalkIncomplete(
                f"{streams[i].provider.value} failed on earlier pages of this walk: its "
                f"sessions from {start} to {until} were not listed. Start again from the first "
                "page to see them.",
                provider=streams[i].provider.value,
                details={
                    "missedSince": None if since == WALK_START else since.isoformat(),
                    "missedUntil": until,
                },
            )
    return gaps


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
