"""Ending sessions: one by id, or all of one user's, with each provider's own calls."""

from __future__ import annotations

from app.revocations import Revoked
from app.upstream.records import Provider, RevokeOutcome
from app.upstream.upstreams import Upstreams


async def revoke_session(upstreams: Upstreams, provider: Provider, native_id: str) -> RevokeOutcome:
    """End one session; a disabled provider knows no sessions."""
    found = upstreams.providers.get(provider)
    if found is None:
        return RevokeOutcome.NOT_FOUND
    outcome = await found.revoke(native_id)
    if outcome is RevokeOutcome.REVOKED:
        await upstreams.revocations.publish(Revoked(provider, session_ids=(native_id,)))
    return outcome


async def revoke_user_sessions(upstreams: Upstreams, provider: Provider, user_id: str) -> int:
    """End every session of one user; answers how many were still open and are now ended."""
    found = upstreams.providers.get(provider)
    if found is None:
        return 0
    count = await found.revoke_user(user_id)
    await upstreams.revocations.publish(Revoked(provider, user_id=user_id))
    return count
