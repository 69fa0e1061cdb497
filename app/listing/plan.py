"""Which streams answer a filter: what each upstream can filter itself, and what is left."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from app.listing.filter import Part, SessionFilter
from app.listing.streams import AscendingStream, LocalStream, OffsetStream, Stream
from app.upstream import Upstreams
from app.upstream.prefactor import MAX_PAGE_SIZE, PrefactorClient, is_pfid
from app.upstream.privx import PrivxClient
from app.upstream.records import Provider, SessionRecord
from app.upstream.zitadel import MAX_LIMIT, ZitadelClient, timestamp_query

LoadAll = Callable[[], Awaitable[Sequence[SessionRecord]]]


def plan_streams(
    upstreams: Upstreams,
    session_filter: SessionFilter,
    *,
    descending: bool,
    load_hyperid: LoadAll | None = None,
) -> list[Stream]:
    """The streams to merge for `session_filter`, in a stable order (cursors index them)."""
    streams: list[Stream] = []
    scope = session_filter.in_scope(upstreams.enabled)
    if upstreams.privx and Provider.PRIVX in scope:
        streams += _privx(upstreams.privx, session_filter, descending)
    if upstreams.prefactor and Provider.PREFACTOR in scope:
        streams += _prefactor(upstreams.prefactor, session_filter, descending)
    if upstreams.zitadel and Provider.ZITADEL in scope:
        streams += _zitadel(upstreams.zitadel, session_filter, descending)
    if upstreams.hyperid and Provider.HYPERID in scope:
        client = upstreams.hyperid

        async def load() -> Sequence[SessionRecord]:
            return (await client.list())[0]

        streams.append(
            LocalStream(
                "HYPERID",
                Provider.HYPERID,
                load_hyperid or load,
                session_filter.residual(frozenset()),
                descending=descending,
            )
        )
    return streams


def fingerprint(session_filter: SessionFilter, descending: bool, streams: list[Stream]) -> str:
    """Binds a cursor to its filter, order and stream set."""
    keys = "|".join(s.key for s in streams)
    text = f"{session_filter.fingerprint()}|{'desc' if descending else 'asc'}|{keys}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _privx(client: PrivxClient, f: SessionFilter, descending: bool) -> list[Stream]:
    # The search body narrows to one user_id; everything else is checked here.
    residual = f.residual(frozenset({Part.USERS}) if f.users is not None else frozenset())

    def stream(user_id: str | None) -> Stream:
        async def page(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
            return await client.search(user_id=user_id, offset=offset, limit=limit, descending=desc)

        key = f"PRIVX:{user_id}" if user_id else "PRIVX"
        return OffsetStream(key, Provider.PRIVX, page, descending=descending, residual=residual)

    users = f.users_of(Provider.PRIVX)
    return [stream(None)] if users is None else [stream(u) for u in users]


def _prefactor(client: PrefactorClient, f: SessionFilter, descending: bool) -> list[Stream]:
    ids = f.session_ids_of(Provider.PREFACTOR)
    if ids is not None:
        pools = set(client.pool_ids)

        async def load() -> Sequence[SessionRecord]:
            found = await client.get_many(ids)
            return [r for r in found.values() if getattr(r.extras, "pool_id", None) in pools]

        predicate = f.residual(frozenset({Part.SESSION_IDS}))
        return [
            LocalStream("PREFACTOR:ids", Provider.PREFACTOR, load, predicate, descending=descending)
        ]
    users = f.users_of(Provider.PREFACTOR)
    residual = f.residual(frozenset({Part.USERS}) if users is not None else frozenset())

    def stream(pool_id: str, identity: str | None) -> Stream:
        async def page(offset: int, limit: int, desc: bool) -> tuple[list[SessionRecord], int]:
            return await client.list(
                pool_id=pool_id, identity_id=identity, offset=offset, page_size=limit
            )

        key = f"PREFACTOR:{pool_id}:{identity or ''}"
        return AscendingStream(
            key,
            Provider.PREFACTOR,
            page,
            descending=descending,
            residual=residual,
            max_chunk=MAX_PAGE_SIZE,
        )

    # An identity id that is not a PFID matches nothing (and Prefactor would answer 400).
    identities: list[str | None] = [u for u in users if is_pfid(u)] if users is not None else [None]
    return [stream(pool, identity) for pool in client.pool_ids for identity in identities]


def _zitadel(client: ZitadelClient, f: SessionFilter, descending: bool) -> list[Stream]:
    queries: list[dict[str, Any]] = []
    # Expiration is only narrowed upstream: ZITADEL's GREATER comparisons also match sessions
    # that never expire, which our `expiresAt` range excludes, so the range is checked here.
    pushed = {Part.CREATED}
    ids = f.session_ids_of(Provider.ZITADEL)
    if ids is not None:
        queries.append({"idsQuery": {"ids": ids}})
        pushed.add(Part.SESSION_IDS)
    ranges = (
        (f.created, "creationDateQuery", "creationDate"),
        (f.expires, "expirationDateQuery", "expirationDate"),
    )
    for span, key, field in ranges:
        if span is None:
            continue
        bounds: tuple[tuple[datetime | None, str], ...] = (
            (span.since if key == "creationDateQuery" else None, "GREATER_OR_EQUALS"),
            (span.until, "LESS"),
        )
        queries += [timestamp_query(key, field, when, how) for when, how in bounds if when]
    users = f.users_of(Provider.ZITADEL)
    if users is not None:
        pushed.add(Part.USERS)
    residual = f.residual(frozenset(pushed))

    async def page(
        extra: list[dict[str, Any]], offset: int, limit: int, desc: bool
    ) -> tuple[list[SessionRecord], int]:
        return await client.search([*queries, *extra], offset=offset, limit=limit, asc=not desc)

    def stream(user_id: str | None) -> Stream:
        extra = [{"userIdQuery": {"id": user_id}}] if user_id else []
        return OffsetStream(
            f"ZITADEL:{user_id}" if user_id else "ZITADEL",
            Provider.ZITADEL,
            partial(page, extra),
            descending=descending,
            residual=residual,
            max_chunk=MAX_LIMIT,
        )

    return [stream(None)] if users is None else [stream(u) for u in users]
