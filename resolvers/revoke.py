"""Mutations that end sessions; expected outcomes are result types, not errors."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app import ids
from app.auth.principal import REVOKE_ALL, REVOKE_OWN
from app.echo import echo
from app.errors import Forbidden
from app.revoke import revoke_session, revoke_user_sessions
from app.upstream.records import RevokeOutcome, UserRecord
from resolvers.context import Info
from resolvers.sessions import Session


@strawberry.type(description="The session was ended.")
class SessionRevoked:
    id: strawberry.ID

    @strawberry.field(description="The session as its provider shows it now (null if deleted).")
    async def session(self, info: Info) -> Session | None:
        loaders = info.context.loaders
        loaders.session.clear(str(self.id))
        record = await loaders.session_by_id(str(self.id))
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
    revoked_count: int = strawberry.field(description="Sessions that were open and now ended.")


async def resolve_revoke_session(info: Info, id: strawberry.ID) -> RevokeSessionResult:
    """End one session at its provider (PrivX also ends its child sessions)."""
    provider, native_id = ids.decode_as(ids.SESSION, str(id))
    principal = info.context.principal
    if not principal.may_revoke(None):
        # A scoped caller may end only its own sessions: look first; others' look missing.
        record = await info.context.loaders.session_by_id(str(id))
        if record is None or not principal.may_see(record):
            return SessionNotFound(id=id, message=f"No session with id '{echo(id)}'.")
        if not principal.may_revoke(record.user):
            raise Forbidden(f"Ending sessions needs the `{REVOKE_OWN}` scope.")
    outcome = await revoke_session(info.context.upstreams, provider, native_id)
    if outcome is RevokeOutcome.NOT_FOUND:
        return SessionNotFound(id=id, message=f"No session with id '{echo(id)}'.")
    if outcome is RevokeOutcome.REFUSED:
        return RevokeRefused(id=id, message=f"{provider.value} refused to revoke '{echo(id)}'.")
    return SessionRevoked(id=id)


async def resolve_revoke_user_sessions(info: Info, user_id: strawberry.ID) -> UserSessionsRevoked:
    """End every session of one user at that user's provider."""
    provider, native_id = ids.decode_as(ids.USER, str(user_id))
    if not info.context.principal.may_revoke(UserRecord(provider, native_id)):
        raise Forbidden(
            f"Ending a user's sessions needs `{REVOKE_ALL}`, or `{REVOKE_OWN}` for your own."
        )
    count = await revoke_user_sessions(info.context.upstreams, provider, native_id)
    return UserSessionsRevoked(user_id=user_id, revoked_count=count)


@strawberry.type
class Mutation:
    revoke_session: RevokeSessionResult = strawberry.field(
        resolver=resolve_revoke_session, description="End one session."
    )
    revoke_user_sessions: UserSessionsRevoked = strawberry.field(
        resolver=resolve_revoke_user_sessions,
        description="End every open session of one user (a SessionUser global id).",
    )
