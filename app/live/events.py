"""Session events and the coded problems told to subscribers."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from app.core.records import Provider, SessionRecord


class EventKind(enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    ENDED = "ENDED"


class EndReason(enum.Enum):
    """Why an ENDED session ended."""

    REVOKED = "REVOKED"  # through this gateway, or the upstream reports it revoked
    LOGGED_OUT = "LOGGED_OUT"
    EXPIRED = "EXPIRED"  # its expiry passed (computed here) or the upstream says so
    DISAPPEARED = "DISAPPEARED"  # no longer listed (deleted), or no longer matching the filter


@dataclass(frozen=True, slots=True)
class SessionChange:
    """One change seen in a watch; `record` is None for an ENDED session that is gone."""

    kind: EventKind
    provider: Provider
    global_id: str
    at: datetime
    record: SessionRecord | None
    sequence: int = 0  # set by the watch when published; 0 for initial snapshots
    reason: EndReason | None = None  # for ENDED only


@dataclass(frozen=True, slots=True)
class LiveProblem:
    """A coded problem told to subscribers; `final` ends the subscription."""

    code: str
    message: str
    provider: Provider | None = None
    final: bool = False
