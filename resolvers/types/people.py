"""`viewer` and `person`: the caller's own person, and a person by id or by one of its users."""

from __future__ import annotations

import strawberry

from app.core import ids
from app.core.errors import BadUserInput
from app.people import Person as PersonRecord
from resolvers.types.context import Info
from resolvers.types.current import current_sessions, person_of, viewer_person, visible
from resolvers.types.filters import (
    ProviderUserInput,
    SessionOrder,
    UserSessionFilterInput,
    to_person_filter,
)
from resolvers.types.pagination import page_args
from resolvers.types.sessions import Person, Session, SessionConnection, session_connection


@strawberry.type(description="The caller: its person, and the session it calls with.")
class Viewer:
    record: strawberry.Private[PersonRecord]

    @strawberry.field(description="The caller's person (its token's or key's users, linked).")
    def person(self) -> Person:
        return Person.from_record(self.record)

    @strawberry.field(
        description="The session this request is made with (its `current` is true), when the "
        "credential names one and the caller may see it."
    )
    async def current_session(self, info: Info) -> Session | None:
        principal = info.context.principal
        for provider, native_id in sorted(await current_sessions(info), key=str):
            global_id = ids.encode(ids.SESSION, provider, native_id)
            record = await info.context.loaders.session_by_id(global_id)
            if record is not None and principal.may_see(record):
                return Session.from_record(record)
        return None

    @strawberry.field(
        description="The caller's sessions at every provider: `person.sessions`, here for short."
    )
    async def sessions(
        self,
        info: Info,
        filter: UserSessionFilterInput | None = None,
        order_by: SessionOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> SessionConnection:
        args = page_args(first, after, last, before)
        session_filter = to_person_filter(filter, self.record.users)
        return await session_connection(info, session_filter, order_by, args)


async def resolve_viewer(info: Info) -> Viewer | None:
    """The caller's person; null for a caller that is not one (anonymous, a key without users)."""
    own = await visible(info, await viewer_person(info))
    return Viewer(record=own) if own is not None else None


async def resolve_person(
    info: Info, id: strawberry.ID | None = None, user: ProviderUserInput | None = None
) -> Person | None:
    """A person by global id, or the person a provider user belongs to; null when unknown or
    when the caller may not see it."""
    if (id is None) == (user is None):
        raise BadUserInput("Pass exactly one of `id` and `user` to `person`.")
    if user is not None:
        native_id = user.native_id.strip()
        if not native_id:
            raise BadUserInput("`user.nativeId` must not be empty.")
        wanted = (user.provider, native_id)
        principal = info.context.principal
        if not principal.reads_all and wanted not in principal.users:
            return None  # whom another user is linked to is not a scoped caller's to learn
        found: PersonRecord | None = await person_of(info, wanted)
    else:
        key = ids.person_id(str(id))
        if key is None:
            ids.decode(str(id))  # a malformed id, or another kind's: a precise error
            raise BadUserInput(f"'{id}' is not the id of a Person.")
        found = await info.context.upstreams.people.person(key)
    shown = await visible(info, found)
    return Person.from_record(shown) if shown is not None else None
