"""Mutations that end sessions; expected outcomes are result types, not errors."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.auth.principal import REVOKE_ALL, REVOKE_OWN
from app.core import ids
from app.core.echo import echo
from app.core.errors import Forbidden
from app.core.records import RevokeOutcome, SessionRecord, UserRecord
from app.upstream.provider import ENDED
from app.upstream.revoke import ended_as, revoke_session, revoke_user_sessions
from resolvers.types.context import Info
from resolvers.types.revoke_device import resolve_revoke_device
from resolvers.types.sessions import Session
from resolvers.types.sign_out import (
    BulkRevokeResult,
    SignOutResult,
    resolve_revoke_person_sessions,
    resolve_revoke_sessions,
    resolve_sign_out_other_sessions,
)


@strawberry.type(description="The session was ended.")
class SessionRevoked:
    id: strawberry.ID
    # The session as read before revoking, where the provider deletes ended sessions.
    before: strawberry.Private[SessionRecord | None] = None

    @strawberry.field(
        description="The session, now ended (REVOKED or LOGGED_OUT): as its provider shows it "
        "now, or as read before revoking where the provider deletes ended sessions. Null only "
        "for a caller that may not see it."
    )
    async def session(self, info: Info) -> Session | None:
        loaders = info.context.loaders
        loaders.session.clear(str(self.id))
        record = await loaders.session_by_id(str(self.id))
        if record is None or record.status not in ENDED:
            # Deleted, or not yet shown ended: the record from before, with its ended status.
            base = record or self.before
            record = None if base is None else ended_as(base, info.context.upstreams)
        if record is None or not info.context.principal.may_see(record):
            return None
        return Session.from_record(record)


@strawberry.type(description="No enabled provider has a session with this id.")
class SessionNotFound:
    id: strawberry.ID
    message: str


@strawberry.type(description="The provider refused, e.g. the session had already ended.")
class RevokeRefused:
    id: strawberry.ID
    message: str


RevokeSessionResult = Annotated[
    SessionRevoked | SessionNotFound | RevokeRefused, strawberry.union("RevokeSessionResult")
]


@strawberry.type(description="Every open session of the user was ended.")
class UserSessionsRevoked:
    user_id: strawberry.ID
    ended: strawberry.Private[list[SessionRecord]]

    @strawberry.field(description="Sessions that were open and now ended.")
    def revoked_count(self) -> int:
        return len(self.ended)

    @strawberry.field(
        description="The sessions that were open and are now ended, with their ended status "
        "(REVOKED or LOGGED_OUT): a normalised client cache updates them by id."
    )
    def sessions(self, info: Info) -> list[Session]:
        principal = info.context.principal
        return [Session.from_record(r) for r in self.ended if principal.may_see(r)]


async def resolve_revoke_session(info: Info, id: strawberry.ID) -> RevokeSessionResult:
    """End one session at its provider (PrivX also ends its child sessions)."""
    provider, native_id = ids.decode_as(ids.SESSION, str(id))
    principal = info.context.principal
    before = None
    if not principal.may_revoke(None):
        # A scoped caller may end only its own sessions: look first; others' look missing.
        record = await info.context.loaders.session_by_id(str(id))
        if record is None or not principal.may_see(record):
            return SessionNotFound(id=id, message=f"No session with id '{echo(id)}'.")
        if not principal.may_revoke(record.user):
            raise Forbidden(f"Ending sessions needs the `{REVOKE_OWN}` scope.")
        before = record
    found = info.context.upstreams.providers.get(provider)
    if before is None and found is not None and found.deletes_revoked:
        # Read first: afterwards the provider no longer has it to answer with.
        before = await info.context.loaders.session_by_id(str(id))
    outcome = await revoke_session(info.context.upstreams, provider, native_id)
    if outcome is RevokeOutcome.NOT_FOUND:
        return SessionNotFound(id=id, message=f"No session with id '{echo(id)}'.")
    if outcome is RevokeOutcome.REFUSED:
        return RevokeRefused(id=id, message=f"{provider.value} refused to revoke '{echo(id)}'.")
    return SessionRevoked(id=id, before=before)


async def resolve_revoke_user_sessions(info: Info, user_id: strawberry.ID) -> UserSessionsRevoked:
    """End every session of one user at that user's provider."""
    provider, native_id = ids.decode_as(ids.USER, str(user_id))
    if not info.context.principal.may_revoke(UserRecord(provider, native_id)):
        raise Forbidden(
            f"Ending a user's sessions needs `{REVOKE_ALL}`, or `{REVOKE_OWN}` for your own."
        )
    ended = await revoke_user_sessions(info.context.upstreams, provider, native_id)
    return UserSessionsRevoked(user_id=user_id, ended=ended)


@strawberry.type
class Mutation:
    revoke_session: RevokeSessionResult = strawberry.field(
        resolver=resolve_revoke_session, description="End one session."
    )
    revoke_user_sessions: UserSessionsRevoked = strawberry.field(
        resolver=resolve_revoke_user_sessions,
        description="End every open session of one user (a SessionUser global id).",
    )
    sign_out_other_sessions: SignOutResult = strawberry.field(
        resolver=resolve_sign_out_other_sessions,
        description="End every open session of the caller's person, at every provider, except "
        "the one this request is made with (`sessions:revoke`). Refused with "
        "NO_CURRENT_SESSION when the request names no session of its own.",
    )
    revoke_person_sessions: SignOutResult = strawberry.field(
        resolver=resolve_revoke_person_sessions,
        description="End every open session of a person at every provider except those in "
        "`keep` (`sessions:revoke:all`): offboarding, or sign out everywhere.",
    )
    revoke_device: SignOutResult = strawberry.field(
        resolver=resolve_revoke_device,
        description="End every open session of one device (a Device global id, from "
        "`Person.devices`) at every provider: a lost laptop, in one call.",
    )
    revoke_sessions: BulkRevokeResult = strawberry.field(
        resolver=resolve_revoke_sessions,
        description="End every open session `filter` matches (`sessions:revoke:all`). A dry "
        "run (the default) ends nothing and lists what a real run would end; either refuses "
        "with TOO_MANY_SESSIONS, ending nothing, when more than `max` (1-10000) match.",
    )
