"""Streams: one upstream listing in the connection's order, addressed by position.

A stream is one provider call shape with its pushed-down filter (e.g. "sessions of user X").
Positions are 0-based offsets in the connection's order. `anchor` is a per-stream value that
cursors carry so that positions stay stable where an upstream can only list in the other
direction (some list oldest first only; the default order is newest first).
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from app.core.records import Provider, SessionRecord
from app.listing.filter import Predicate

# A `last` page without `before` first reads this many records to learn the stream's size.
TAIL_PROBE = 100

# page(offset, limit, descending) -> (records in that order, total matching)
PageFetch = Callable[[int, int, bool], Awaitable[tuple[list[SessionRecord], int]]]
# Where a stream's next page begins: a position and its anchor, or an upstream's keyset token.
Token = tuple[int, int | None] | str


@dataclass(frozen=True, slots=True)
class Slice:
    """Records at positions start, start+1, ... and what the stream said about its size."""

    start: int
    items: Sequence[SessionRecord]
    size: int  # number of positions in this stream's position space
    total: int  # how many records the upstream says match now (for totalCount)
    anchor: int | None = None
    first: int = 0  # the first position that holds a record (anchored positions may have holes)


@dataclass(frozen=True, slots=True)
class Page:
    """Records read from a token in the stream's order; `next` is None once the end is read.

    `joined` is True when nothing can lie between the previous page and this one (a keyset
    walk); offset pages instead overlap by one record, which the reader checks.
    """

    items: Sequence[SessionRecord]
    next: Token | None
    joined: bool = False


class Stream(abc.ABC):
    """One listing of one provider; `residual` is the filter the gateway still applies."""

    def __init__(
        self,
        key: str,
        provider: Provider,
        *,
        descending: bool,
        residual: Predicate | None = None,
        max_chunk: int = 1000,
    ) -> None:
        self.key = key
        self.provider = provider
        self.descending = descending
        self.residual = residual
        self.max_chunk = max_chunk
        # The same listing most recently updated first, where the upstream orders by update
        # time: change detection reads its newest end each poll ("updated since").
        self.recent: Stream | None = None

    @abc.abstractmethod
    async def head(self, start: int, count: int, anchor: int | None) -> Slice:
        """Records at positions [start, start + count)."""

    @abc.abstractmethod
    async def tail(self, count: int) -> Slice:
        """The last `count` records."""

    async def page(self, token: Token | None, count: int) -> Page:
        """For change detection: up to `count` records from `token` (None: the start), one call.

        Pages after the first start on the last record of the page before, so that a walk can
        tell whether sessions deleted meanwhile shifted positions and made it skip some.
        """
        start, anchor = token if isinstance(token, tuple) else (0, None)
        piece = await self.head(start, count, anchor)
        end = piece.start + len(piece.items)
        if not piece.items or end >= piece.size:
            return Page(piece.items, None)
        return Page(piece.items, (max(end - 1, start + 1), piece.anchor))


class PagedStream(Stream, abc.ABC):
    """A stream read through an upstream's offset/limit listing call."""

    def __init__(
        self,
        key: str,
        provider: Provider,
        page: PageFetch,
        *,
        descending: bool,
        residual: Predicate | None = None,
        max_chunk: int = 1000,
    ) -> None:
        super().__init__(
            key, provider, descending=descending, residual=residual, max_chunk=max_chunk
        )
        self._page = page


class OffsetStream(PagedStream):
    """An upstream that pages by offset/limit in either direction."""

    async def head(self, start: int, count: int, anchor: int | None) -> Slice:
        items, total = await self._page(start, min(count, self.max_chunk), self.descending)
        return Slice(start, items, total, total)

    async def tail(self, count: int) -> Slice:
        # Read in the stream's own direction, never the reverse: an upstream need not break
        # creation-time ties in opposite orders for ASC and DESC. The first read learns the
        # size and is often the whole listing.
        count = min(count, self.max_chunk)
        items, total = await self._page(
            0, min(max(count, TAIL_PROBE), self.max_chunk), self.descending
        )
        start = max(total - count, 0)
        if total > len(items):
            items, _ = await self._page(start, count, self.descending)
            return Slice(start, items, total, total)
        return Slice(start, items[start:], total, total)


class AscendingStream(PagedStream):
    """An upstream that lists oldest first only; newest-first is derived.

    Newest-first positions count down from the anchor, the stream's size when the walk began,
    so sessions created during a walk do not shift the positions cursors hold.
    """

    async def _native(self, offset: int, count: int) -> tuple[list[SessionRecord], int]:
        if count <= 0:
            _, total = await self._page(0, 1, False)
            return [], total
        return await self._page(offset, count, False)

    async def _size(self) -> tuple[list[SessionRecord], int]:
        """The size, with the oldest page that came with asking (often all of it)."""
        return await self._page(0, self.max_chunk, False)

    async def head(self, start: int, count: int, anchor: int | None) -> Slice:
        count = min(count, self.max_chunk)
        if not self.descending:
            items, total = await self._native(start, count)
            return Slice(start, items, total, total)
        known: list[SessionRecord] | None = None
        total = anchor or 0
        if anchor is None:
            known, total = await self._size()
            anchor = total
        low, high = max(anchor - start - count, 0), max(anchor - start, 0)
        if known is not None and high <= len(known):
            items = known[low:high]
        else:
            items, total = await self._native(low, high - low)
            items = items[: high - low]
        items = items[::-1]
        # Deletions shrink the pool below the anchor: the newest positions are then holes.
        first = max(anchor - total, 0)
        # What was read starts past the holes, at `first`: the positions up to `first` hold none.
        return Slice(max(start, first), items, anchor, total, anchor, first)

    async def tail(self, count: int) -> Slice:
        count = min(count, self.max_chunk)
        if self.descending:
            items, total = await self._native(0, count)
            return Slice(max(total - len(items), 0), items[::-1], total, total, total)
        known, total = await self._size()
        if total <= len(known):
            items = known[max(total - count, 0) :]
        else:
            items, total = await self._native(max(total - count, 0), count)
        return Slice(max(total - len(items), 0), items, total, total)


class LocalStream(Stream):
    """An upstream answered in full, then filtered and ordered here (one listing, id lookups)."""

    def __init__(
        self,
        key: str,
        provider: Provider,
        load: Callable[[], Awaitable[Sequence[SessionRecord]]],
        predicate: Predicate | None,
        *,
        descending: bool,
    ) -> None:
        super().__init__(key, provider, descending=descending)
        self._load = load
        self._predicate = predicate
        self._cache: list[SessionRecord] | None = None

    async def _records(self) -> list[SessionRecord]:
        if self._cache is None:
            predicate = self._predicate
            loaded = [r for r in await self._load() if predicate is None or predicate(r)]
            loaded.sort(key=lambda r: r.sort_key, reverse=self.descending)
            self._cache = loaded
        return self._cache

    async def head(self, start: int, count: int, anchor: int | None) -> Slice:
        records = await self._records()
        return Slice(start, records[start : start + count], len(records), len(records))

    async def tail(self, count: int) -> Slice:
        records = await self._records()
        start = max(len(records) - count, 0)
        return Slice(start, records[start:], len(records), len(records))
