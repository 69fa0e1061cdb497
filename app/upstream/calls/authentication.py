"""The credential's headers on every exchange, and one renewal after a 401 (as httpx's auth flow
answers a challenge)."""

from __future__ import annotations

from app.upstream.calls.exchange import Call, Layer, Response
from app.upstream.credentials import Credential


class Authenticating:
    """Adds the credential; after a 401 a refreshable one is renewed and the call sent once more."""

    def __init__(self, inner: Layer, credential: Credential) -> None:
        self._inner = inner
        self._credential = credential

    async def send(self, call: Call) -> Response:
        credential = self._credential
        call.credential = used = await credential.headers()
        response = await self._inner.send(call)
        if response.status == 401 and credential.refreshable and not call.refreshed:
            # An expired or revoked token: the upstream did not act on a request it refused,
            # so sending it again is safe for writes too, and is not a retry.
            call.refreshed = True
            credential.invalidate(used)
            return await self.send(call)
        return response
