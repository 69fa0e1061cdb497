"""SessionProvider: what the gateway asks of every upstream session API, and the request scope.

Each provider is one package under app/upstream/providers/ with one SessionProvider subclass
(its listing streams, lookups, revokes, readiness probe, pricing and enum description), one
ProviderSettings subclass (its `GATEWAY_<NAME>_*` variables), its Extras record and their
GraphQL type, declared together as the package's ProviderPackage; app/upstream/registry.py
lists them. Nothing outside a provider's package asks which provider it has (httpx's
transports are the model).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiodataloader import DataLoader
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from app.core.errors import UpstreamError
from app.core.records import (
    AuthorizationRecord,
    Extras,
    Provider,
    RevokeOutcome,
    SessionRecord,
    SessionStatus,
    UserRecord,
)
from app.listing.filter import SessionFilter
from app.listing.streams import Stream
from app.listing.users import find_users
from app.upstream.credentials import Credential, Forwarded
from app.upstream.endpoint import Endpoint

K = TypeVar("K")
V = TypeVar("V")
Batch = Callable[[list[K]], Coroutine[Any, Any, list[V]]]

# `relatives` relations: the parent of a session, or its children.
PARENT, CHILDREN = "parent", "children"


@dataclass(frozen=True, slots=True)
class Ending:
    """How ending one session of a batch went: the upstream's outcome or its error, and (when
    ended) the other sessions the upstream ended with it, by native id, and whether it may have
    ended more that it could not name."""

    record: SessionRecord
    outcome: RevokeOutcome | UpstreamError
    along: tuple[str, ...] = ()
    unnamed: bool = False


def origin(value: str | None) -> str | None:
    """An http(s) origin such as https://sessions.example.com, or None when unset."""
    if value is None or not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) origin such as https://sessions.example.com")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; use the _TOKEN/_COOKIE variable")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be an origin only; the gateway appends the documented paths")
    try:
        parts.port  # noqa: B018 - accessing it validates the port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return f"{parts.scheme}://{parts.netloc}"


class ProviderSettings(BaseModel):
    """`GATEWAY_<NAME>_URL` and friends: a provider whose `url` is unset is disabled.

    Field names are the variable names without `GATEWAY_<NAME>_`, lower case.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    # Name of a caller request header whose value is forwarded as the upstream credential.
    forward_header: str | None = None

    _check_url = field_validator("url", mode="before")(lambda value: origin(value))

    # How its own secret is set, in messages: `{P}` stands for its GATEWAY_<NAME>_ prefix.
    own_credential: ClassVar[str] = "{P}TOKEN"

    def has_own_credential(self) -> bool:
        """Whether its own secret is set (forwarding the caller's aside); none needed by default."""
        return True

    def caller_headers(self) -> tuple[str, ...]:
        """The caller's request headers this provider sends on: its forwarded credential."""
        return (self.forward_header,) if self.forward_header else ()

    def missing_credential(self, prefix: str) -> str | None:
        """What to set when it is enabled without a way to authenticate, else None."""
        if not self.url or self.forward_header or self.has_own_credential():
            return None
        return f"{self.own_credential.format(P=prefix)} or {prefix}FORWARD_HEADER"


def secret(value: SecretStr | None) -> str:
    """A secret's value, or "" when unset."""
    return value.get_secret_value() if value is not None else ""


def is_set(value: SecretStr | None) -> bool:
    """Whether a secret is set to something other than blanks."""
    return value is not None and bool(value.get_secret_value().strip())


@dataclass(frozen=True, slots=True)
class ProviderPackage:
    """One provider package's registry entry: what the rest of the gateway uses of it."""

    kind: type[SessionProvider]
    # Its GraphQL type (with a `from_record(records)` classmethod), in the SessionExtras union.
    extras: type[Any]
    records: type[Extras]  # what its sessions carry in `SessionRecord.extras`
    parse_session: Callable[[Mapping[str, Any], datetime], SessionRecord]  # one raw session


class RequestScope:
    """Per-request memo a provider keeps its loaders in; it dies with the request."""

    def __init__(self, observe: Callable[[str], Callable[[float], None]] | None = None) -> None:
        self._loaders: dict[str, DataLoader[Any, Any]] = {}
        self._observe = observe
        self.values: dict[str, Any] = {}  # a provider's own per-request state, by its key

    def loader(self, name: str, batch: Batch[K, V]) -> DataLoader[K, V]:
        """The request's loader called `name`, made from `batch` on first use."""
        found = self._loaders.get(name)
        if found is None:
            if self._observe is not None:
                observe = self._observe(name)
                inner = batch

                async def counted(keys: list[K]) -> list[V]:
                    observe(len(keys))
                    return await inner(keys)

                batch = counted
            found = self._loaders[name] = DataLoader(batch)
        return found


class SessionProvider(abc.ABC):
    """One enabled upstream session API."""

    provider: ClassVar[Provider]
    title: ClassVar[str]  # the name people know it by, for `Query.providers`
    description: ClassVar[str]  # its `Provider` enum value's description in the schema
    settings_class: ClassVar[type[ProviderSettings]] = ProviderSettings
    # The request header a static or forwarded credential travels in.
    credential_header: ClassVar[str] = "Authorization"
    # What a session this provider ended through the gateway shows, and whether the upstream
    # deletes it instead (then the gateway reads it before revoking, to answer with it).
    ended_status: ClassVar[SessionStatus] = SessionStatus.REVOKED
    deletes_revoked: ClassVar[bool] = False

    def __init__(self, endpoint: Endpoint, settings: ProviderSettings) -> None:
        self.endpoint = endpoint
        self.settings = settings

    @classmethod
    def credential(
        cls, settings: ProviderSettings, session: aiohttp.ClientSession, url: str
    ) -> Credential:
        """How to authenticate: forwarded from the caller, or the provider's own secret."""
        if settings.forward_header:
            return Forwarded(cls.provider.value, settings.forward_header, cls.credential_header)
        return cls.static_credential(settings, session, url)

    @classmethod
    def static_credential(
        cls, settings: ProviderSettings, session: aiohttp.ClientSession, url: str
    ) -> Credential:
        """The provider's configured secret (`_TOKEN` as a bearer token by default)."""
        token = getattr(settings, "token", None)
        return Credential({"Authorization": f"Bearer {secret(token)}"})

    @property
    def listings(self) -> int:
        """Listings an unrestricted `sessions` page reads (for pricing a query up front)."""
        return 1

    @abc.abstractmethod
    def streams(
        self, session_filter: SessionFilter, *, descending: bool, scope: RequestScope
    ) -> list[Stream]:
        """The listings that answer `session_filter`, with what this upstream filters itself."""

    @abc.abstractmethod
    async def sessions(self, native_ids: Sequence[str], scope: RequestScope) -> list[SessionRecord]:
        """Those of `native_ids` this provider knows (and this gateway may show)."""

    @abc.abstractmethod
    async def user(self, native_id: str, scope: RequestScope) -> UserRecord | None:
        """The user with that native id, known by any one of their sessions."""

    async def users(self, native_ids: Sequence[str], scope: RequestScope) -> dict[str, UserRecord]:
        """Those of `native_ids` that have a session here: one lookup for one user, else one
        walk of the unfiltered listing (no upstream looks up several users in one call)."""
        wanted = list(dict.fromkeys(native_ids))
        if len(wanted) == 1:
            user = await self.user(wanted[0], scope)
            return {wanted[0]: user} if user is not None else {}
        streams = self.streams(SessionFilter(), descending=False, scope=scope)
        return await find_users(streams, wanted)

    @abc.abstractmethod
    async def revoke(self, native_id: str) -> RevokeOutcome:
        """End one session."""

    async def ended_along(self, native_id: str) -> Sequence[str] | None:
        """Other sessions the upstream ended with `native_id` (just revoked), so that what is
        kept about them is dropped too; None when they could not be read."""
        return ()

    async def revoke_record(self, record: SessionRecord) -> RevokeOutcome:
        """End one session already read from this provider: what it was read with may spare
        the lookup `revoke` makes by id."""
        return await self.revoke(record.native_id)

    async def revoke_many(self, records: Sequence[SessionRecord], concurrency: int) -> list[Ending]:
        """End each of `records` (read from this provider), `concurrency` calls at a time, in
        the order given. By default each is ended as `revoke` and `ended_along` end one;
        providers where one end ends others, or where a read can be spared, do less."""
        limit = asyncio.Semaphore(concurrency)

        async def one(record: SessionRecord) -> Ending:
            async with limit:
                try:
                    outcome = await self.revoke_record(record)
                except UpstreamError as exc:
                    return Ending(record, exc)
                if outcome is not RevokeOutcome.REVOKED:
                    return Ending(record, outcome)
                along = await self.ended_along(record.native_id)
                return Ending(record, outcome, tuple(along or ()), unnamed=along is None)

        return list(await asyncio.gather(*(one(r) for r in records)))

    @abc.abstractmethod
    async def revoke_user(self, user_id: str) -> list[SessionRecord]:
        """End every session of one user; those still open and now ended, as read before."""

    async def current_session(self) -> str | None:
        """The session the caller's forwarded credential is (its native id), where this
        provider can tell; None where it cannot, or the caller brought no such credential."""
        return None

    @abc.abstractmethod
    async def probe(self) -> None:
        """One cheap call that succeeds when the upstream is reachable and accepts us."""

    def known_relatives(self, record: SessionRecord, relation: str) -> list[SessionRecord] | None:
        """A session's PARENT (zero or one) or CHILDREN where they are known without a call
        (none where sessions do not nest: `relatives` is not overridden); None: `relatives`
        asks the upstream."""
        return [] if type(self).relatives is SessionProvider.relatives else None

    async def relatives(
        self, record: SessionRecord, relation: str, scope: RequestScope
    ) -> list[SessionRecord]:
        """A session's relatives that `known_relatives` does not know."""
        return []

    def known_authorizations(self, record: SessionRecord) -> Sequence[AuthorizationRecord] | None:
        """What a session authorizes where it is known without a call (what its own record
        carries, where `authorizations` is not overridden); None: `authorizations` asks."""
        if type(self).authorizations is SessionProvider.authorizations:
            return record.authorizations
        return None

    async def authorizations(
        self, record: SessionRecord, scope: RequestScope
    ) -> Sequence[AuthorizationRecord]:
        """What a session authorizes where `known_authorizations` does not know."""
        return record.authorizations


# Upstreams without a bulk call get one call per session, this many at a time.
REVOKE_CONCURRENCY = 8
ENDED = frozenset({SessionStatus.LOGGED_OUT, SessionStatus.REVOKED})


async def revoke_each(
    records: Iterable[SessionRecord], revoke: Callable[[str], Awaitable[RevokeOutcome]]
) -> list[SessionRecord]:
    """Revoke the open ones of `records` one call each, a few at a time; those that ended."""
    limit = asyncio.Semaphore(REVOKE_CONCURRENCY)

    async def one(record: SessionRecord) -> RevokeOutcome:
        async with limit:
            return await revoke(record.native_id)

    still_open = [r for r in records if r.status not in ENDED]
    outcomes = await asyncio.gather(*(one(r) for r in still_open))
    return [
        r
        for r, outcome in zip(still_open, outcomes, strict=True)
        if outcome is RevokeOutcome.REVOKED
    ]


def first_user(records: Iterable[SessionRecord], native_id: str) -> UserRecord | None:
    """The user `native_id` as the first of `records` that belongs to them names them."""
    for record in records:
        if record.user is not None and record.user.native_id == native_id:
            return record.user
    return None


async def fetch_each(
    native_ids: Iterable[str],
    fetch: Callable[[str], Awaitable[SessionRecord | None]],
    concurrency: int,
) -> dict[str, SessionRecord]:
    """Sessions by id from an upstream that looks up one at a time: concurrent, but bounded."""
    limit = asyncio.Semaphore(concurrency)

    async def one(native_id: str) -> SessionRecord | None:
        async with limit:
            return await fetch(native_id)

    found = await asyncio.gather(*(one(i) for i in dict.fromkeys(native_ids)))
    return {r.native_id: r for r in found if r is not None}
