"""The caller of one live stream: its hub, its credentials, and when they stop being good."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import jwt

from app.auth.authenticator import Authenticator, Unauthenticated
from app.auth.principal import Principal
from app.live.hub import Hub
from app.upstream.upstreams import Upstreams

CREDENTIAL_HEADERS = ("x-api-key", "authorization")


@dataclass(slots=True)
class LiveCaller:
    """What a subscription needs beyond the query context: checked again as the stream runs.

    `headers` keeps only the credential headers and the upstream credentials the caller
    forwards, lower-cased; they stay in memory for the stream's life, never in logs.
    """

    hub: Hub
    principal: Principal
    headers: Mapping[str, str]
    authenticator: Authenticator
    reauth_interval: float
    expires_at: float | None = None  # wall time the caller's JWT expires
    forward_names: frozenset[str] = frozenset()
    last_event_id: str | None = None  # SSE Last-Event-ID: resume after it unless `since` says
    last_cursor: str | None = None  # the cursor of the event being sent (the SSE event id)
    address: str | None = None  # the client's address: what anonymous callers count against
    _next_check: float = field(default=0.0)

    @classmethod
    def create(
        cls,
        hub: Hub,
        principal: Principal,
        headers: Mapping[str, str],
        authenticator: Authenticator,
        reauth_interval: float,
        address: str | None = None,
    ) -> LiveCaller:
        forward = _forwarded_names(hub.upstreams)
        wanted = forward | set(CREDENTIAL_HEADERS)
        kept = {k.lower(): v for k, v in headers.items() if k.lower() in wanted}
        caller = cls(
            hub,
            principal,
            MappingProxyType(kept),
            authenticator,
            reauth_interval,
            _expiry(kept.get("authorization", "")),
            forward,
            address=address,
        )
        caller._next_check = time.monotonic() + reauth_interval
        return caller

    @property
    def cap_key(self) -> str:
        """Whom the per-caller caps count against: the caller of admission control and rate
        limits (an API key and a token subject of the same name are two callers)."""
        return self.principal.caller((self.address, 0) if self.address is not None else None)

    @property
    def forwarded(self) -> dict[str, str]:
        """The upstream credentials this caller forwards (they key the watch)."""
        return {k: v for k, v in self.headers.items() if k in self.forward_names}

    def seconds_to_check(self) -> float:
        """How long the stream may wait for events before checking the caller again."""
        wait = self._next_check - time.monotonic()
        if self.expires_at is not None:
            wait = min(wait, self.expires_at - time.time())
        return max(wait, 0.0)

    async def check(self) -> str | None:
        """None while the caller is still who they were; else why the stream must end."""
        if self.expires_at is not None and time.time() >= self.expires_at:
            return "The token has expired."
        if time.monotonic() < self._next_check:
            return None
        self._next_check = time.monotonic() + self.reauth_interval
        try:
            now = await self.authenticator.authenticate(self.headers, fresh=True)
        except Unauthenticated as exc:
            return str(exc)
        if now != self.principal:
            return "The credentials now stand for other rights; subscribe again."
        return None


def _forwarded_names(upstreams: Upstreams) -> frozenset[str]:
    names = set()
    for provider in upstreams.forwarded:
        header = upstreams.providers[provider].settings.forward_header
        if header:
            names.add(header.lower())
    return frozenset(names)


def _expiry(authorization: str) -> float | None:
    """The `exp` of a bearer JWT the authenticator already verified (not verified again)."""
    if not authorization.lower().startswith("bearer "):
        return None
    try:
        claims = jwt.decode(authorization[7:].strip(), options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) else None
