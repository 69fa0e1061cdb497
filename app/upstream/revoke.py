"""Ending sessions: one by id, or all of one user's, with each provider's own calls."""

from __future__ import annotations

from dataclasses import replace

from app.core.records import Provider, RevokeOutcome, SessionRecord
from app.upstream.revocations import Revoked
from app.upstream.upstreams import Upstreams


async def revoke_session(upstreams: Upstreams, provider: Provider, native_id: str) -> RevokeOutcome:
    """End one session; a disabled provider knows no sessions."""
    found = upstreams.providers.get(provider)
    if found is None:
        return RevokeOutcome.NOT_FOUND
    outcome = await found.revoke(native_id)
    if outcome is RevokeOutcome.REVOKED:
        along = await found.ended_along(native_id)  # e.g. PrivX's child sessions
        session_ids = (native_id, *(along or ()))
        await upstreams.revocations.publish(Revoked(provider, session_ids, unnamed=along is None))
    return outcome


async def revoke_user_sessions(
    upstreams: Upstreams, provider: Provider, user_id: str
) -> list[SessionRecord]:
    """End every session of one user; those that were still open, now with their ended status."""
    found = upstreams.providers.get(provider)
    if found is None:
        return []
    ended = await found.revoke_user(user_id)
    session_ids = tuple(r.native_id for r in ended)
    await upstreams.revocations.publish(Revoked(provider, session_ids, user_id=user_id))
    return [ended_as(r, upstreams) for r in ended]


def ended_as(record: SessionRecord, upstreams: Upstreams) -> SessionRecord:
    """`record` (read before its revoke) as its provider shows it once ended."""
    found = upstreams.providers.get(record.provider)
    return record if found is None else replace(record, status=found.ended_status)
