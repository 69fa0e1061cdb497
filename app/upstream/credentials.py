"""How the gateway authenticates to an upstream: a static secret, or one forwarded from the caller
(providers add their own, e.g. an OAuth grant, in their modules).

`headers()` is awaited for every call; `invalidate(used)` after an upstream 401 lets a
refreshable credential fetch a new token before the one retry.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from types import MappingProxyType

from app.core.errors import UpstreamUnauthorized

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
