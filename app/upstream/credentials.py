"""How the gateway authenticates to an upstream: a static secret, PrivX OAuth, or forwarding.

`headers()` is awaited for every call; `invalidate(used)` after an upstream 401 lets a
refreshable credential fetch a new token before the one retry.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import time
from collections.abc import Mapping
from types import MappingProxyType

import aiohttp

from app.errors import UpstreamBadResponse, UpstreamUnauthorized, UpstreamUnavailable

# The current caller's request headers (case-insensitive), for forwarded credentials.
CALLER_HEADERS: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "caller_headers", default=MappingProxyType({})
)


class MissingCredential(UpstreamUnauthorized):
    """The caller did not bring the credential to forward; no call was made."""

    upstream_fault = False


class Credential:
    """Static headers; the base of every credential."""

    refreshable = False

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._headers = dict(headers or {})

    async def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def invalidate(self, used: Mapping[str, str]) -> None:
        """Forget the cached token that `used` carried (after a 401); static ones have none."""


class Forwarded(Credential):
    """The caller's own credential: the value of one of its request headers, sent on."""

    def __init__(self, provider: str, source: str, target: str) -> None:
        super().__init__()
        self._provider, self._source, self._target = provider, source, target

    async def headers(self) -> dict[str, str]:
        value = CALLER_HEADERS.get().get(self._source.lower())
        if not value:
            raise MissingCredential(
                f"{self._provider} needs the caller's own credential: send it in the "
                f"{self._source} header.",
                provider=self._provider,
            )
        return {self._target: value}


class PrivxOAuth(Credential):
    """PrivX's OAuth2 password grant for API clients, cached and refreshed before expiry.

    Under concurrency one refresh runs at a time; the others wait for its token.
    """

    refreshable = True
    PATH = "/auth/api/v1/oauth/token"
    # Refresh this long before expiry (or at 80% of the lifetime, for short-lived tokens).
    MARGIN_SECONDS = 30.0

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        oauth_client_id: str,
        oauth_client_secret: str,
        api_client_id: str,
        api_client_secret: str,
    ) -> None:
        super().__init__()
        self._session = session
        self._url = base_url.rstrip("/") + self.PATH
        basic = base64.b64encode(f"{oauth_client_id}:{oauth_client_secret}".encode()).decode()
        self._basic = f"Basic {basic}"
        self._form = {
            "grant_type": "password",
            "username": api_client_id,
            "password": api_client_secret,
        }
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._current()}"}

    def invalidate(self, used: Mapping[str, str]) -> None:
        # Only if still current: another request may already have fetched a fresh one.
        if self._token is not None and used.get("Authorization") == f"Bearer {self._token}":
            self._token = None

    async def _current(self) -> str:
        if self._token is not None and time.monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def _fetch(self) -> None:
        try:
            async with self._session.post(
                self._url, data=self._form, headers={"Authorization": self._basic}
            ) as response:
                status = response.status
                payload = await response.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise UpstreamUnavailable(
                "PRIVX token endpoint is unavailable.", provider="PRIVX"
            ) from exc
        if status in (400, 401, 403):
            raise UpstreamUnauthorized(
                f"PRIVX refused the gateway's OAuth client credentials (HTTP {status}).",
                provider="PRIVX",
            )
        if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
            raise UpstreamUnavailable(
                f"PRIVX token endpoint answered HTTP {status} without a token.", provider="PRIVX"
            )
        try:
            lifetime = float(payload.get("expires_in") or 300)
        except (TypeError, ValueError):
            raise UpstreamBadResponse(
                "PRIVX token endpoint answered an invalid expires_in.", provider="PRIVX"
            ) from None
        self._token = payload["access_token"]
        self._renew_at = time.monotonic() + lifetime - min(self.MARGIN_SECONDS, lifetime * 0.2)
