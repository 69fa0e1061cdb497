"""Sessions ended through this gateway, told to whoever keeps state about sessions.

Live subscriptions publish ENDED at once and the response cache drops what it holds about the
session or user, instead of both waiting for the next poll or TTL. Listeners run after the
upstream confirmed the revoke; one listener's failure is logged and never fails the mutation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.core.records import Provider

log = logging.getLogger("session_gateway.revocations")


@dataclass(frozen=True, slots=True)
class Revoked:
    """One confirmed revoke: the sessions (native ids) it ended, and the user when it was all of
    one user's (then `session_ids` may be empty: the provider did not say which)."""

    provider: Provider
    session_ids: tuple[str, ...] = ()
    user_id: str | None = None
    # The revoke may have ended sessions it does not name (the provider ends some along with
    # the one revoked, and they could not be read): anything of this provider may be stale.
    unnamed: bool = False


Listener = Callable[[Revoked], Awaitable[None]]


@dataclass(slots=True)
class Revocations:
    """The listeners of one app."""

    listeners: list[Listener] = field(default_factory=list)

    def listen(self, listener: Listener) -> None:
        """Call `listener` after every confirmed revoke from now on."""
        self.listeners.append(listener)

    async def publish(self, revoked: Revoked) -> None:
        """Tell every listener, in order; a failing listener is logged and skipped."""
        for listener in self.listeners:
            try:
                await listener(revoked)
            except Exception:
                log.exception("A revocation listener failed; the revoke itself succeeded.")
