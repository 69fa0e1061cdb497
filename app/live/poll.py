"""One poll of a watch at one provider: every matching session, read through the same
streams (call layers, breakers, retries) as a `sessions` query, up to a bound."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.records import Provider, SessionRecord
from app.listing.filter import SessionFilter
from app.upstream.provider import RequestScope
from app.upstream.upstreams import Upstreams


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
