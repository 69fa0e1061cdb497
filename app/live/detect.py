"""One poll of one provider for a watch: what changed, at a cost that does not grow with it.

Every listing is read newest first (docs/upstreams.md says how each upstream does that):

- the head: the newest page, and one more while a page holds nothing the watch has seen, so
  sessions created since the last poll arrive as CREATED within one interval;
- the sweep: `sweep_pages` further pages per poll, going on where the last poll stopped and
  starting again from the head when it reaches the end, so a session that ended or changed
  anywhere in the listing is found within one round (listing size / page size / sweep_pages
  intervals); sessions the sweep meets that the watch has not seen are CREATED too (when
  more were created than the head reads);
- expiry: computed here from each session's `expiresAt`, without a call.

The first poll of a watch is its starting point: what it reads is not news, and neither is what
the sweep first meets that was created before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.listing.filter import Predicate
from app.listing.streams import Page, Stream, Token
from app.live.events import SessionChange
from app.live.tracker import StreamState, Tracker

# Head pages per listing per poll when every session on them is new (the sweep finds the rest).
HEAD_PAGES = 2
# Sessions read per poll from the newest end of a listing ordered by update time.
RECENT = 100


@dataclass(slots=True)
class _Head:
    """Where the head read of one listing ended this poll: the sweep's start for a new round."""

    next: Token | None
    last: str | None
    floor: float


async def detect(
    tracker: Tracker,
    streams: Sequence[Stream],
    predicate: Predicate | None,
    now: datetime,
    sweep_pages: int,
    changes: list[SessionChange],
    flush: Callable[[], None] = lambda: None,
) -> None:
    """Add the changes of one poll of one provider's `streams` (made newest first) to
    `changes` as they are found, so that a failing call loses none already counted; `flush`
    is called between the head reads and the sweep."""
    changes += tracker.expire(now)
    heads: list[tuple[Stream, StreamState, _Head]] = []
    for stream in streams:
        state = tracker.stream(stream.key)
        heads.append((stream, state, await _head(tracker, stream, state, predicate, now, changes)))
        if stream.recent is not None:
            await _recent(tracker, stream.recent, state, predicate, now, changes)
    flush()
    if not heads:
        return
    pages = 0
    # Round robin over the listings, each at most one round per poll.
    for _ in range(len(heads)):
        stream, state, head = heads[tracker.sweeping % len(heads)]
        if state.sweep is None:  # a new round starts where this poll's head read ended
            state.sweep, state.last, state.floor = head.next, head.last, head.floor
        while state.sweep is not None and pages < sweep_pages:
            page = await stream.page(state.sweep, stream.max_chunk)
            pages += 1
            after = (state.last, state.floor)
            changes += _judge(tracker, state, page, predicate, now, after=after)
            state.sweep, (state.last, state.floor) = page.next, _end(page)
        if state.sweep is not None:
            return  # out of pages: this listing's round goes on next poll
        tracker.sweeping += 1
        if tracker.sweeping % len(heads) == 0:
            tracker.rounds += 1
            changes += tracker.unplaced(now)


async def _head(
    tracker: Tracker,
    stream: Stream,
    state: StreamState,
    predicate: Predicate | None,
    now: datetime,
    changes: list[SessionChange],
) -> _Head:
    high = state.high
    first = state.baseline is None  # the starting point: the sweep reads the rest
    page = await stream.page(None, stream.max_chunk)
    changes += _judge(tracker, state, page, predicate, now, after=None)
    for _ in range(HEAD_PAGES - 1):
        if first or page.next is None or not page.items:
            break
        if page.items[-1].created_at.timestamp() <= high:
            break
        after = _end(page)
        page = await stream.page(page.next, stream.max_chunk)
        changes += _judge(tracker, state, page, predicate, now, after=after)
    return _Head(page.next, *_end(page))


async def _recent(
    tracker: Tracker,
    recent: Stream,
    state: StreamState,
    predicate: Predicate | None,
    now: datetime,
    changes: list[SessionChange],
) -> None:
    """The sessions updated since the last poll, from a listing ordered by update time (they
    change in place: nothing there says what disappeared)."""
    page = await recent.page(None, RECENT)
    times = [r.updated_at.timestamp() for r in page.items if r.updated_at is not None]
    since = state.updated
    state.updated = max([*times, since or -math.inf])
    if since is None:
        return  # the starting point
    fresh = [r for r in page.items if r.updated_at is not None and r.updated_at.timestamp() > since]
    changes += tracker.observe(state, fresh, now, (0.0, 0.0), predicate)


def _end(page: Page) -> tuple[str | None, float]:
    """The last session of a page and its creation instant."""
    if not page.items:
        return None, -math.inf
    last = page.items[-1]
    return last.native_id, last.created_at.timestamp()


def _judge(
    tracker: Tracker,
    state: StreamState,
    page: Page,
    predicate: Predicate | None,
    now: datetime,
    *,
    after: tuple[str | None, float] | None,
) -> list[SessionChange]:
    """Observe one page, judging the span of the listing it is known to cover; `after` is the
    last session of the page before and its instant (None: this page is the listing's start)."""
    items = page.items
    if not items:
        # An empty first page: the listing is empty. An empty later one proves nothing.
        span = (-math.inf, math.inf) if after is None else (0.0, 0.0)
        return tracker.observe(state, items, now, span, predicate)
    if after is None:
        high = math.inf
    elif page.joined or items[0].native_id == after[0]:
        high = after[1]  # nothing lies between the page before and this one
    else:
        high = items[0].created_at.timestamp()  # deletions meanwhile may have made it skip some
    low = -math.inf if page.next is None else items[-1].created_at.timestamp()
    return tracker.observe(state, items, now, (low, high), predicate)
