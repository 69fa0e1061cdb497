"""Principal: who is calling, and so which sessions they may see and end."""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.core.records import Provider, SessionRecord, UserRecord
from app.listing.filter import SessionFilter

READ_ALL = "sessions:read:all"
REVOKE_OWN = "sessions:revoke"
REVOKE_ALL = "sessions:revoke:all"
# May send any document when GATEWAY_PERSISTED_DOCUMENTS_MODE=require (app/state/persisted.py).
DOCUMENTS_ANY = "documents:any"

UserKey = tuple[Provider, str]
SessionKey = tuple[Provider, str]  # (provider, native session id)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller; without READ_ALL it sees only the sessions of `users`."""

    name: str
    scopes: frozenset[str] = frozenset()
    users: frozenset[UserKey] = frozenset()
    anonymous: bool = False  # only when GATEWAY_ALLOW_ANONYMOUS=true: sees everything
    rate_limit: str | None = None  # an API key's own `rateLimit` (app/state/ratelimit.py)
    # Where `name` comes from ("key": an API key's name, "jwt": a token's subject), so that a
    # key and a subject with the same name are different callers for limits.
    source: str = "key"
    # The sessions this request is made with, as its credential names them
    # (GATEWAY_JWT_SESSION_CLAIMS): `Session.current`.
    sessions: frozenset[SessionKey] = frozenset()

    def caller(self, client: tuple[str, int] | None) -> str:
        """Who a request counts against (admission, rate limits): this principal, or the
        client's address when anonymous (anonymous callers have no name of their own)."""
        if self.anonymous:
            return f"address:{client[0] if client else '-'}"
        return f"{self.source}:{self.name}"

    @property
    def identity(self) -> str:
        """Who this is, for what a caller may claim once for good (operation-name labels in
        /metrics): anonymous callers are one, as an address is cheap to change."""
        return "anonymous" if self.anonymous else f"{self.source}:{self.name}"

    @property
    def reads_all(self) -> bool:
        return self.anonymous or READ_ALL in self.scopes

    def owns(self, user: UserRecord | None) -> bool:
        """Whether `user` is one of the caller's own identities."""
        return user is not None and (user.provider, user.native_id) in self.users

    def may_see(self, record: SessionRecord) -> bool:
        """Whether the caller may see `record` (others' sessions look like missing ones)."""
        return self.reads_all or self.owns(record.user)

    def may_see_user(self, user: UserRecord) -> bool:
        return self.reads_all or self.owns(user)

    def may_revoke(self, user: UserRecord | None) -> bool:
        """Ending a session needs REVOKE_ALL, or REVOKE_OWN and the session being one's own."""
        if self.anonymous or REVOKE_ALL in self.scopes:
            return True
        return REVOKE_OWN in self.scopes and self.owns(user)

    def restrict(self, session_filter: SessionFilter) -> SessionFilter:
        """The filter narrowed to the caller's users, pushed down like any user filter."""
        if self.reads_all:
            return session_filter
        users = self.users if session_filter.users is None else session_filter.users & self.users
        return replace(session_filter, users=frozenset(users), enforce_users=True)


ANONYMOUS = Principal(name="anonymous", anonymous=True)
# A request that reached the GraphQL view without passing AuthMiddleware sees nothing.
NOBODY = Principal(name="unauthenticated")
