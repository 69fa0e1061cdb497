"""Ending sessions: one by id, or all of one user's, with each provider's own calls."""

from __future__ import annotations

from app.upstream.records import Provider, RevokeOutcome
from app.upstream.upstreams import Upstreams


async def revoke_session(upstreams: Upstreams, provider: Provider, native_id: str) -> RevokeOutcome:
    """End one session; a disabled provider knows no sessions."""
    found = upstreams.providers.get(provider)
    return await found.revoke(native_id) if found else RevokeOutcome.NOT_FOUND


async def revoke_user_sessions(upstreams: Upstreams, provider: Provider, user_id: str) -> int:
    """End every session of one user; answers how many were still open and are now ended."""
    found = upstreams.providers.get(provider)
    return await found.revoke_user(user_id) if found else 0
