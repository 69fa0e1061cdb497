"""`subscription { sessionEvents }`: session changes pushed from the shared live pollers."""

from __future__ import annotations

import asyncio
import enum
import weakref
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from app.core.errors import BadUserInput, GatewayError
from app.live.caller import LiveCaller
from app.live.events import LiveProblem, SessionChange
from app.live.hub import Subscription as Subscription_
from resolvers.types.context import Info
from resolvers.types.enums import Provider
from resolvers.types.filters import SessionFilterInput, to_filter
from resolvers.types.sessions import Session
from resolvers.types.whereabouts import located


@strawberry.enum(description="What happened to a session.")
class SessionEventKind(enum.Enum):
    CREATED = strawberry.enum_value("CREATED", description="A session the watch had not seen.")
    UPDATED = strawberry.enum_value(
        "UPDATED", description="Its status, expiry, last-seen time or factors changed."
    )
    ENDED = strawberry.enum_value(
        "ENDED",
        description="It stopped being ACTIVE, was revoked here, or is no longer listed "
        "(`reason` says which).",
    )


@strawberry.enum(description="Why a session ENDED.")
class SessionEndReason(enum.Enum):
    REVOKED = strawberry.enum_value(
        "REVOKED", description="Revoked through this gateway, or the upstream reports it revoked."
    )
    LOGGED_OUT = strawberry.enum_value("LOGGED_OUT", description="Its user logged out.")
    EXPIRED = strawberry.enum_value(
        "EXPIRED", description="Its expiry passed (computed from `expiresAt`)."
    )
    DISAPPEARED = strawberry.enum_value(
        "DISAPPEARED",
        description="The upstream no longer lists it (deleted), or it no longer matches the "
        "filter.",
    )


@strawberry.type(description="A change to one session, seen by the gateway's shared poller.")
class SessionEvent:
    kind: SessionEventKind
    session_id: strawberry.ID = strawberry.field(description="The session's global id.")
    provider: Provider
    at: datetime = strawberry.field(
        description="When the gateway saw the change (for initial events: creation time)."
    )
    session: Session | None = strawberry.field(
        description="The session now; for ENDED its last known state, or null once it is gone."
    )
    cursor: str = strawberry.field(
        description="Pass as `since` (or SSE Last-Event-ID) to resume after this event."
    )
    reason: SessionEndReason | None = strawberry.field(
        default=None, description="Why it ended, for ENDED; null for the other kinds."
    )


class LiveError(GatewayError):
    """A coded problem of a live stream, sent as an error of one event."""

    def __init__(self, code: str, message: str, provider: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.provider = provider

    @property
    def extensions(self) -> dict[str, object]:
        found: dict[str, object] = {"code": self.code}
        if self.provider is not None:
            found["provider"] = self.provider
        return found


def _event(change: SessionChange, cursor: str) -> SessionEvent:
    return SessionEvent(
        kind=SessionEventKind(change.kind.value),
        session_id=strawberry.ID(change.global_id),
        provider=change.provider,
        at=change.at,
        session=Session.from_record(change.record) if change.record else None,
        cursor=cursor,
        reason=SessionEndReason(change.reason.value) if change.reason else None,
    )


def _error(problem: LiveProblem) -> LiveError:
    return LiveError(problem.code, problem.message, problem.provider and problem.provider.value)


async def session_events(
    info: Info,
    filter: SessionFilterInput | None = None,
    include_initial: bool = False,
    since: str | None = None,
) -> AsyncGenerator[SessionEvent]:
    """Events of the caller's watch; bad arguments and caps are refused before it starts."""
    caller = info.context.live
    if caller is None:
        raise BadUserInput(
            "sessionEvents is served over WebSocket (graphql-transport-ws) or SSE "
            "(Accept: text/event-stream) at /graphql."
        )
    session_filter = caller.principal.restrict(to_filter(filter))
    if session_filter.signals is not None:
        raise BadUserInput(
            "`filter.signals` is for queries; on sessionEvents select `session { signals }` "
            "and act on the events whose session has them."
        )
    session_filter = located(session_filter, info.context.upstreams.locator)
    argument = "since"
    if since is None and caller.last_event_id is not None:
        since, argument = caller.last_event_id, "Last-Event-ID"
    sequence = caller.hub.parse_cursor(since, argument) if since is not None else None
    sub = caller.hub.subscribe(
        caller.cap_key,
        session_filter,
        caller.forwarded,
        include_initial=include_initial,
        since=sequence,
        resuming=since is not None,
    )
    stream = _stream(caller, sub)
    # A stream dropped before its first read never runs its `finally`: leave the watch then.
    weakref.finalize(stream, sub.close)
    return stream


async def _stream(caller: LiveCaller, sub: Subscription_) -> AsyncGenerator[SessionEvent]:
    """Problems arrive as an error of one event (its data null); a final one ends the stream."""
    try:
        while True:
            try:
                async with asyncio.timeout(caller.seconds_to_check()):
                    item = await sub.next()
            except TimeoutError:
                reason = await caller.check()
                if reason is not None:
                    yield _error(LiveProblem("UNAUTHENTICATED", reason, final=True))  # type: ignore[misc]
                    return
                continue
            if isinstance(item, LiveProblem):
                yield _error(item)  # type: ignore[misc]
                if item.final:
                    return
                continue
            caller.last_cursor = caller.hub.cursor(item.sequence)
            yield _event(item, caller.last_cursor)
    finally:
        sub.close()


@strawberry.type
class Subscription:
    session_events: AsyncGenerator[SessionEvent] = strawberry.subscription(
        resolver=session_events,
        description="Session changes matching `filter` (and the caller's scope), pushed as the "
        "gateway's shared poller sees them. `includeInitial` first sends the matching active "
        "sessions as CREATED; `since` resumes after an event's cursor.",
    )
