"""One poll of a watch at one provider, through the same streams (call layers, breakers,
retries) as a `sessions` query, counting the upstream calls it makes; and a bounded read of
every matching session (what a sign-out ends)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.core.records import Provider, SessionRecord
from app.listing.filter import SessionFilter
from app.live.detect import detect
from app.live.events import SessionChange
from app.live.tracker import Tracker
from app.upstream import accounting, request_deadline
from app.upstream.provider import RequestScope
from app.upstream.upstreams import Upstreams


@dataclass(frozen=True, slots=True)
class Polled:
    """What one poll of one provider found, the upstream calls it took, and the error that
    cut it short (the changes found before it stand: the watch already counts them)."""

    changes: list[SessionChange]
    calls: int
    rounds: int  # sweeps of every listing this poll completed
    error: Exception | None = None


async def poll_provider(
    upstreams: Upstreams,
    provider: Provider,
    tracker: Tracker,
    session_filter: SessionFilter,
    now: datetime,
    *,
    sweep_pages: int,
    call_budget: int | None,
    request_timeout: float,
    early: Callable[[list[SessionChange]], None],
) -> Polled:
    """Detect the changes at `provider` since the last poll (run as a task of its own: its
    calls are counted, and budgeted, apart from the other providers').

    What the head read found goes to `early` before the sweep starts, so that new sessions do
    not wait for it. A listing that fails ends the poll: what was read before stands, and
    nothing unread counts as ended.
    """
    accounting.start(call_budget)
    request_deadline.start(request_timeout)
    scope = RequestScope()
    streams = upstreams.providers[provider].streams(session_filter, descending=True, scope=scope)
    # A scoped watch sees only its users' sessions, whatever an upstream returned.
    predicate = session_filter.residual(frozenset())
    changes: list[SessionChange] = []
    rounds = tracker.rounds

    def flush() -> None:
        early(list(changes))
        changes.clear()

    try:
        await detect(tracker, streams, predicate, now, sweep_pages, changes, flush)
    except Exception as error:  # the hub reports it; the changes found before it still count
        return Polled(changes, accounting.calls(), tracker.rounds - rounds, error)
    return Polled(changes, accounting.calls(), tracker.rounds - rounds)


@dataclass(frozen=True, slots=True)
class Listing:
    """A provider's matching sessions; `complete` is False when the bound cut the read short."""

    records: list[SessionRecord]
    complete: bool


async def read_provider(
    upstreams: Upstreams, provider: Provider, session_filter: SessionFilter, limit: int
) -> Listing:
    """Up to `limit` sessions of `provider` matching `session_filter`, oldest first.

    Raises the provider's UpstreamError when any of its listings fails: a partial read must not
    look like sessions that ended.
    """
    scope = RequestScope()
    streams = upstreams.providers[provider].streams(session_filter, descending=False, scope=scope)
    found: dict[str, SessionRecord] = {}
    complete = True
    for stream in streams:
        start, anchor, size = 0, None, None
        while size is None or start < size:
            if len(found) >= limit:
                complete = False
                break
            piece = await stream.head(start, min(stream.max_chunk, limit), anchor)
            anchor, size = piece.anchor, piece.size
            keep = stream.residual
            found.update((r.global_id, r) for r in piece.items if keep is None or keep(r))
            if not piece.items:
                break
            start = piece.start + len(piece.items)
    # A scoped watch sees only its users' sessions, whatever an upstream returned.
    records = [r for r in found.values() if session_filter.matches(r)]
    return Listing(records[:limit], complete)
