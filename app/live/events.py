"""Session events, and the snapshot diff that finds them between two polls of a provider."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from app.core.records import Provider, SessionRecord, SessionStatus


class EventKind(enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    ENDED = "ENDED"


@dataclass(frozen=True, slots=True)
class SessionChange:
    """One change seen in a watch; `record` is None for an ENDED session that is gone."""

    kind: EventKind
    provider: Provider
    global_id: str
    at: datetime
    record: SessionRecord | None
    sequence: int = 0  # set by the watch when published; 0 for initial snapshots


@dataclass(frozen=True, slots=True)
class LiveProblem:
    """A coded problem told to subscribers; `final` ends the subscription."""

    code: str
    message: str
    provider: Provider | None = None
    final: bool = False


def _material(record: SessionRecord) -> tuple[object, ...]:
    """What makes an UPDATED event; counters, metadata and the like are volatile noise."""
    return (record.status, record.expires_at, record.last_seen_at, record.factors)


# A session absent from this many consecutive successful polls is ENDED.
MISSING_POLLS = 2


@dataclass(slots=True)
class ProviderSnapshot:
    """What one provider last showed a watch, and how long each known session has been absent."""

    records: dict[str, SessionRecord] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)

    def apply(
        self, current: Iterable[SessionRecord], now: datetime, *, complete: bool = True
    ) -> list[SessionChange]:
        """Changes from the last poll to `current`; sessions absent from an incomplete
        (truncated) listing are not counted as missing."""
        changes: list[SessionChange] = []
        seen: dict[str, SessionRecord] = {r.global_id: r for r in current}
        for global_id, record in seen.items():
            before = self.records.get(global_id)
            self.missing.pop(global_id, None)
            kind = _transition(before, record)
            if kind is not None:
                changes.append(SessionChange(kind, record.provider, global_id, now, record))
            self.records[global_id] = record
        if complete:
            for global_id, before in list(self.records.items()):
                if global_id in seen:
                    continue
                count = self.missing.get(global_id, 0) + 1
                if count < MISSING_POLLS:
                    self.missing[global_id] = count
                    continue
                del self.records[global_id]
                self.missing.pop(global_id, None)
                if before.status is SessionStatus.ACTIVE:
                    changes.append(
                        SessionChange(EventKind.ENDED, before.provider, global_id, now, None)
                    )
        return changes

    def mark_ended(self, record: SessionRecord, status: SessionStatus) -> SessionRecord:
        """Record that `record` ended here (a revoke through the gateway); the new state."""
        ended = replace(record, status=status)
        self.records[record.global_id] = ended
        return ended


def _transition(before: SessionRecord | None, after: SessionRecord) -> EventKind | None:
    active = after.status is SessionStatus.ACTIVE
    if before is None or before.status is not SessionStatus.ACTIVE:
        # New, or back from an ended state: only an active session is announced.
        return EventKind.CREATED if active else None
    if not active:
        return EventKind.ENDED
    return EventKind.UPDATED if _material(before) != _material(after) else None
