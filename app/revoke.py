"""Ending sessions: one by id, or all of one user's, with each upstream's own call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from app.upstream import Upstreams
from app.upstream.hyperid import CURRENT_USER, is_session_id
from app.upstream.prefactor import MAX_PAGE_SIZE
from app.upstream.records import Provider, RevokeOutcome, SessionRecord, SessionStatus

# Upstreams without a bulk call get one call per session, this many at a time.
REVOKE_CONCURRENCY = 8
_ENDED = {SessionStatus.LOGGED_OUT, SessionStatus.REVOKED}


async def revoke_session(upstreams: Upstreams, provider: Provider, native_id: str) -> RevokeOutcome:
    """End one session; a disabled provider knows no sessions."""
    if provider is Provider.PRIVX and upstreams.privx:
        return await upstreams.privx.terminate(native_id)
    if provider is Provider.PREFACTOR and upstreams.prefactor:
        found = await upstreams.prefactor.get(native_id)
        if (
            found is None
            or getattr(found.extras, "pool_id", None) not in upstreams.prefactor.pool_ids
        ):
            return RevokeOutcome.NOT_FOUND
        return await upstreams.prefactor.revoke(native_id)
    if provider is Provider.ZITADEL and upstreams.zitadel:
        return await upstreams.zitadel.delete(native_id)
    if provider is Provider.HYPERID and upstreams.hyperid and is_session_id(native_id):
        return await upstreams.hyperid.logout(native_id)
    return RevokeOutcome.NOT_FOUND


async def _each(
    records: Iterable[SessionRecord], revoke: Callable[[str], Awaitable[RevokeOutcome]]
) -> int:
    limit = asyncio.Semaphore(REVOKE_CONCURRENCY)

    async def one(record: SessionRecord) -> RevokeOutcome:
        async with limit:
            return await revoke(record.native_id)

    outcomes = await asyncio.gather(*(one(r) for r in records if r.status not in _ENDED))
    return sum(outcome is RevokeOutcome.REVOKED for outcome in outcomes)


async def revoke_user_sessions(upstreams: Upstreams, provider: Provider, user_id: str) -> int:
    """End every session of one user; answers how many were still open and are now ended."""
    if provider is Provider.PRIVX and upstreams.privx:
        records = (await upstreams.privx.listing(user_id)).sessions()
        open_count = sum(r.status not in _ENDED for r in records)
        if open_count:
            await upstreams.privx.terminate_user(user_id)
        return open_count
    if provider is Provider.ZITADEL and upstreams.zitadel:
        zitadel = upstreams.zitadel
        query = [{"userIdQuery": {"id": user_id}}]
        records, total = await zitadel.search(query, offset=0, limit=1000, asc=True)
        while len(records) < total:
            more, _ = await zitadel.search(query, offset=len(records), limit=1000, asc=True)
            if not more:
                break
            records += more
        return await _each(records, zitadel.delete)
    if provider is Provider.PREFACTOR and upstreams.prefactor:
        prefactor = upstreams.prefactor
        records = []
        for pool_id in prefactor.pool_ids:
            offset, total = 0, 1
            while offset < total:
                page, total = await prefactor.list(
                    pool_id=pool_id, identity_id=user_id, offset=offset, page_size=MAX_PAGE_SIZE
                )
                if not page:
                    break
                records += page
                offset += len(page)
        return await _each(records, prefactor.revoke)
    if provider is Provider.HYPERID and upstreams.hyperid and user_id == CURRENT_USER:
        sessions, _ = await upstreams.hyperid.list()
        open_count = sum(r.status is SessionStatus.ACTIVE for r in sessions)
        if open_count:
            await upstreams.hyperid.logout(None)
        return open_count
    return 0
