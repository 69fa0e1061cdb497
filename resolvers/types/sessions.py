"""Session and SessionUser types, and the resolvers of `sessions` and `session`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import strawberry

from app.core import ids
from app.core.errors import UpstreamError
from app.core.maybe import Maybe, then
from app.core.records import AuthorizationRecord, SessionRecord, UserRecord
from app.geo import REQUEST_LOCATOR
from app.listing.filter import SessionFilter
from app.listing.paginate import PageEdge, count, paginate
from app.listing.streams import Stream
from app.people import Person as PersonRecord
from app.risk.devices import Device as DeviceRecord
from app.risk.signals import Signal
from app.upstream.fanout import fingerprint, plan_streams
from app.upstream.provider import CHILDREN, PARENT
from resolvers.types.agent import (
    Authorization,
    AuthorizationConnection,
    Factors,
    Metadata,
    UserAgent,
    authorization_connection,
)
from resolvers.types.context import Info
from resolvers.types.current import current_sessions, person_of, visible
from resolvers.types.enums import DeviceType, Provider, SessionStatus, SignalKind
from resolvers.types.extras import SessionExtras, extras_from_record
from resolvers.types.filters import (
    SessionFilterInput,
    SessionOrder,
    UserSessionFilterInput,
    to_filter,
    to_person_filter,
    to_user_filter,
)
from resolvers.types.location import Location, location_of, shown
from resolvers.types.node import Node
from resolvers.types.pagination import DEFAULT_PAGE_SIZE, PageArgs, PageInfo, page_args
from resolvers.types.whereabouts import person_insight, prepare, session_insight


@strawberry.type(description="The user a session belongs to, as its provider knows them.")
class SessionUser(Node):
    record: strawberry.Private[UserRecord]

    @classmethod
    def from_record(cls, record: UserRecord) -> SessionUser:
        global_id = ids.encode(ids.USER, record.provider, record.native_id)
        return cls(id=strawberry.ID(global_id), record=record)

    @strawberry.field
    def provider(self) -> Provider:
        return self.record.provider

    @strawberry.field(description="The provider's own user id (hyper.id: `current`).")
    def native_id(self) -> str:
        return self.record.native_id

    @strawberry.field
    def login_name(self) -> str | None:
        return self.record.login_name

    @strawberry.field
    def display_name(self) -> str | None:
        return self.record.display_name

    @strawberry.field
    def organization_id(self) -> str | None:
        return self.record.organization_id

    @strawberry.field(
        description="This user's sessions, filtered, ordered and paginated like "
        "`Query.sessions` (`first` or `last`: 1-100, default 20)."
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
        return await resolve_user_sessions(self, info, filter, order_by, first, after, last, before)

    @strawberry.field(
        description="The person this user is one of: linked by the caller's token, the "
        "people file or a directory; else the person of this user alone. Null when the caller "
        "may not see that person."
    )
    async def person(self, info: Info) -> Person | None:
        found = await person_of(info, (self.record.provider, self.record.native_id))
        shown = await visible(info, found)
        return Person.from_record(shown) if shown is not None else None


@strawberry.type(description="One session of one provider, in the gateway's common shape.")
class Session(Node):
    record: strawberry.Private[SessionRecord]

    @classmethod
    def from_record(cls, record: SessionRecord) -> Session:
        return cls(id=strawberry.ID(record.global_id), record=record)

    @strawberry.field
    def provider(self) -> Provider:
        return self.record.provider

    @strawberry.field(description="The provider's own session id.")
    def native_id(self) -> str:
        return self.record.native_id

    @strawberry.field
    def user(self) -> SessionUser | None:
        return SessionUser.from_record(self.record.user) if self.record.user else None

    @strawberry.field
    def status(self) -> SessionStatus:
        return self.record.status

    @strawberry.field(
        description="Whether this is the session the request is made with: named by the "
        "caller's token (GATEWAY_JWT_SESSION_CLAIMS) or told by the provider from a forwarded "
        "credential. False everywhere else."
    )
    async def current(self, info: Info) -> bool:
        current = await current_sessions(info)
        return bool(current) and (self.record.provider, self.record.native_id) in current

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at

    @strawberry.field
    def updated_at(self) -> datetime | None:
        return self.record.updated_at

    @strawberry.field
    def last_seen_at(self) -> datetime | None:
        return self.record.last_seen_at

    @strawberry.field
    def expires_at(self) -> datetime | None:
        return self.record.expires_at

    @strawberry.field(description="PrivX: when the session's access token expires.")
    def token_expires_at(self) -> datetime | None:
        return self.record.token_expires_at

    @strawberry.field
    def remote_address(self) -> str | None:
        return self.record.remote_address

    @strawberry.field(
        description="Where `remoteAddress` (else `userAgent.ip`) is: null without a GeoIP "
        "database, without an address, or for a network the database does not hold (private, "
        "loopback and documentation ranges, unless it has them)."
    )
    def location(self) -> Location | None:
        return location_of(REQUEST_LOCATOR.get(), self.record)

    @strawberry.field(
        description="What looks new or wrong about this session among its person's sessions "
        "at every provider (ended ones the providers still return included), oldest first."
    )
    async def signals(self, info: Info) -> list[SessionSignal]:
        found = await session_insight(info, self.record)
        return [SessionSignal(record=s) for s in found.signals.get(self.record.global_id, ())]

    @strawberry.field
    def user_agent(self) -> UserAgent | None:
        agent = self.record.user_agent
        return UserAgent(record=agent) if agent else None

    @strawberry.field(description="Checked factors (ZITADEL); null where the provider says none.")
    def factors(self) -> Factors | None:
        return Factors(record=self.record.factors) if self.record.factors else None

    @strawberry.field
    def metadata(self) -> list[Metadata]:
        return [Metadata(record=entry) for entry in self.record.metadata]

    @strawberry.field
    def extras(self) -> SessionExtras:
        return extras_from_record(self.record.extras)

    # These three answer at once where the provider needs no call (most sessions of a page):
    # Strawberry takes their GraphQL type from `graphql_type`, as they may return awaitables.
    @strawberry.field(
        description="hyper.id: the session's site authorizations, then the app "
        "authorizations its user granted. Empty for other providers. Null only when hyper.id "
        "failed to answer (an error at this path says so), not to fail the whole page.",
        graphql_type="AuthorizationConnection | None",
    )
    def authorizations(
        self, info: Info, first: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Maybe[AuthorizationConnection | None]:
        provider = self.record.provider

        def connection(records: Sequence[AuthorizationRecord]) -> AuthorizationConnection:
            return authorization_connection(list(records), first, after, provider)

        return then(info.context.loaders.authorizations(self.record), connection)

    @strawberry.field(
        description="PrivX: the session this child session belongs to.",
        graphql_type="Session | None",
    )
    def parent(self, info: Info) -> Maybe[Session | None]:
        principal = info.context.principal

        def visible_parent(found: list[SessionRecord]) -> Session | None:
            if not found or not principal.may_see(found[0]):
                return None
            return Session.from_record(found[0])

        return then(info.context.loaders.relatives(self.record, PARENT), visible_parent)

    @strawberry.field(
        description="PrivX: child sessions of this session, oldest first; empty for other "
        "providers. Null only when PrivX failed to answer (an error at this path says so), "
        "not to fail the whole page.",
        graphql_type="list[Session] | None",
    )
    def children(self, info: Info) -> Maybe[list[Session] | None]:
        principal = info.context.principal

        def visible_children(family: list[SessionRecord]) -> list[Session]:
            kids = sorted((r for r in family if principal.may_see(r)), key=lambda r: r.sort_key)
            return [Session.from_record(r) for r in kids]

        return then(info.context.loaders.relatives(self.record, CHILDREN), visible_children)


@strawberry.type
class SessionEdge:
    node: Session
    edge: strawberry.Private[PageEdge]  # its cursor state is made only if asked for

    @strawberry.field(description="Opaque; pass as `after` or `before`.")
    def cursor(self, info: Info) -> str:
        return info.context.cursors.encode(self.edge.state)


@strawberry.type(description="A page of the merged session list.")
class SessionConnection:
    edges: list[SessionEdge]
    page_info: PageInfo
    missing_providers: list[Provider] = strawberry.field(
        description="Providers whose sessions are missing from this page because they failed "
        "(each also has an error in `errors`). Their sessions are left out, not the page."
    )
    streams: strawberry.Private[list[Stream]]
    totals: strawberry.Private[dict[int, int]]
    failed: strawberry.Private[set[int]]

    @strawberry.field(description="The sessions of this page, without cursors.")
    def nodes(self) -> list[Session]:
        return [edge.node for edge in self.edges]

    @strawberry.field(
        description="How many sessions match the filter, across all pages (not counting "
        "providers that failed)."
    )
    async def total_count(self, info: Info) -> int:
        indexes = [i for i in range(len(self.streams)) if i not in self.failed]
        counts = await asyncio.gather(
            *(count(self.streams[i], self.totals.get(i)) for i in indexes),
            return_exceptions=True,
        )
        total = 0
        for result in counts:
            if isinstance(result, UpstreamError):
                info.context.report(result, list(info.path.as_list()))
            elif isinstance(result, BaseException):
                raise result
            else:
                total += result
        return total


async def resolve_sessions(
    info: Info,
    filter: SessionFilterInput | None = None,
    order_by: SessionOrder | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> SessionConnection:
    """The merged, paginated session list."""
    args = page_args(first, after, last, before)
    return await session_connection(info, to_filter(filter), order_by, args)


async def resolve_user_sessions(
    root: SessionUser,
    info: Info,
    filter: UserSessionFilterInput | None = None,
    order_by: SessionOrder | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> SessionConnection:
    """One user's sessions: `sessions` with the filter narrowed to that user."""
    args = page_args(first, after, last, before)
    record = root.record
    session_filter = to_user_filter(filter, record.provider, record.native_id)
    return await session_connection(info, session_filter, order_by, args)


async def session_connection(
    info: Info, requested: SessionFilter, order_by: SessionOrder | None, args: PageArgs
) -> SessionConnection:
    """The page `args` asks for of the sessions `requested` selects, that the caller may see."""
    # A scoped caller's users become part of the filter: pushed down, and in the cursor.
    session_filter = await prepare(info, info.context.principal.restrict(requested))
    descending = (order_by or SessionOrder()).descending
    context = info.context
    streams = plan_streams(
        context.upstreams, session_filter, descending=descending, scope=context.loaders.scope
    )
    key = fingerprint(session_filter, descending, streams)
    cursor = None
    if args.cursor is not None:
        cursor = context.cursors.decode(
            args.cursor, argument=args.cursor_argument, fingerprint=key, streams=len(streams)
        )
    page = await paginate(
        streams,
        descending=descending,
        fingerprint=key,
        forward=args.forward,
        size=args.size,
        cursor=cursor,
    )
    edges = [SessionEdge(node=Session.from_record(e.record), edge=e) for e in page.edges]
    for failure in (*page.failures.values(), *page.gaps.values()):
        context.report(failure, list(info.path.as_list()))
    missing = {streams[i].provider for i in page.failures}
    codec = context.cursors
    return SessionConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            first_cursor=lambda: codec.encode(edges[0].edge.state) if edges else None,
            last_cursor=lambda: codec.encode(edges[-1].edge.state) if edges else None,
        ),
        missing_providers=[p for p in Provider if p in missing],
        streams=streams,
        totals=page.totals,
        failed=set(page.failures),
    )


@strawberry.type(
    description="One human: the provider users that belong together, and their sessions at "
    "every provider."
)
class Person(Node):
    record: strawberry.Private[PersonRecord]

    @classmethod
    def from_record(cls, record: PersonRecord) -> Person:
        return cls(id=strawberry.ID(ids.encode_person(record.id)), record=record)

    @strawberry.field(
        description="The provider users of this person that the caller may see, in provider "
        "order (login and display names are not looked up here: read them on a session's user)."
    )
    def users(self) -> list[SessionUser]:
        order = {p: i for i, p in enumerate(Provider)}
        users = sorted(self.record.users, key=lambda u: (order[u[0]], u[1]))
        return [SessionUser.from_record(UserRecord(p, n)) for p, n in users]

    @strawberry.field(
        description="This person's sessions at every provider, merged, filtered, ordered and "
        "paginated like `Query.sessions` (`first` or `last`: 1-100, default 20)."
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

    @strawberry.field(
        description="This person's devices: its sessions at every provider (ended ones the "
        "providers still return included) grouped by client, the most recently active first."
    )
    async def devices(self, info: Info) -> list[Device]:
        found = await person_insight(info, self.record)
        return [Device(record=d) for d in found.devices]


@strawberry.type(description="Something new or wrong about a session, and why.")
class SessionSignal:
    record: strawberry.Private[Signal]

    @strawberry.field
    def kind(self) -> SignalKind:
        return self.record.kind

    @strawberry.field(description="Why, in words, e.g. the place and speed of the travel.")
    def detail(self) -> str:
        return self.record.detail

    @strawberry.field(
        description="IMPOSSIBLE_TRAVEL: the earlier session it is too far from, at whichever "
        "provider; null for the other kinds."
    )
    def related_session(self) -> Session | None:
        related = self.record.related
        return Session.from_record(related) if related is not None else None


@strawberry.type(
    description="One client a person signs in from, across providers: sessions with the same "
    "device fingerprint (ZITADEL), or the same browser, OS and device type from the same "
    "network (ASN or /24)."
)
class Device:
    record: strawberry.Private[DeviceRecord]

    @strawberry.field(
        description="Global id, for `revokeDevice`: stable while the device's first session "
        "is among those the providers return."
    )
    def id(self) -> strawberry.ID:
        first = self.record.first
        return strawberry.ID(ids.encode(ids.DEVICE, first.provider, first.native_id))

    @strawberry.field(description='Reads like "Chrome on macOS".')
    def name(self) -> str:
        return self.record.name

    @strawberry.field
    def device_type(self) -> DeviceType | None:
        return self.record.client.device_type

    @strawberry.field
    def browser_name(self) -> str | None:
        return self.record.client.browser_name

    @strawberry.field
    def os_name(self) -> str | None:
        return self.record.client.os_name

    @strawberry.field(description="The latest activity of any of its sessions.")
    def last_seen_at(self) -> datetime | None:
        return self.record.last_seen_at

    @strawberry.field(description="Where its newest located session is.")
    def location(self) -> Location | None:
        found = self.record.location
        return shown(found) if found is not None else None

    @strawberry.field(description="Its sessions at every provider, newest first.")
    def sessions(self) -> list[Session]:
        return [Session.from_record(r) for r in self.record.sessions]


async def resolve_session(info: Info, id: strawberry.ID) -> Session | None:
    """One session by global id; null when no enabled provider has it."""
    record = await info.context.loaders.session_by_id(str(id))
    # Another user's session answers exactly like a missing one.
    if record is None or not info.context.principal.may_see(record):
        return None
    return Session.from_record(record)


__all__ = [
    "Authorization",
    "Device",
    "Person",
    "Session",
    "SessionConnection",
    "SessionSignal",
    "SessionUser",
]
