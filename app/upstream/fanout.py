"""Which streams answer a filter: each enabled provider's listings, in a stable order."""

from __future__ import annotations

import hashlib

from app.listing.filter import SessionFilter
from app.listing.streams import Stream
from app.upstream.provider import RequestScope
from app.upstream.upstreams import Upstreams


def plan_streams(
    upstreams: Upstreams, session_filter: SessionFilter, *, descending: bool, scope: RequestScope
) -> list[Stream]:
    """The streams to merge for `session_filter`, in a stable order (cursors index them)."""
    streams: list[Stream] = []
    for provider in session_filter.in_scope(upstreams.enabled):
        streams += upstreams.providers[provider].streams(
            session_filter, descending=descending, scope=scope
        )
    return streams


def fingerprint(session_filter: SessionFilter, descending: bool, streams: list[Stream]) -> str:
    """Binds a cursor to its filter, order and stream set."""
    keys = "|".join(s.key for s in streams)
    text = f"{session_filter.fingerprint()}|{'desc' if descending else 'asc'}|{keys}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
