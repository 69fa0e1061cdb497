"""Event lag: from when an upstream says a change happened to when a watch publishes it."""

from __future__ import annotations

from datetime import datetime

from app.live.events import EndReason, EventKind, SessionChange


def upstream_time(change: SessionChange) -> datetime | None:
    """When the change happened upstream, where the session's record says so.

    A session's creation time for CREATED, its expiry for EXPIRED, its update time (where
    the upstream has one) for UPDATED; None for other ends, which no record dates.
    """
    record = change.record
    if record is None:
        return None
    if change.kind is EventKind.CREATED:
        return record.created_at
    if change.reason is EndReason.EXPIRED:
        return record.expires_at
    return record.updated_at if change.kind is EventKind.UPDATED else None
