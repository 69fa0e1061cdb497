"""Authenticator: turns a request's credentials into a Principal, or refuses it."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from app.auth.apikeys import ApiKeyStore
from app.auth.jwt import InvalidToken, JwtVerifier
from app.auth.principal import ANONYMOUS, Principal


class Unauthenticated(Exception):
    """Missing or bad caller credentials; the message is safe to show the caller."""


class TwoCredentials(Unauthenticated):
    """An API key and an Authorization header at once: a bad request, not a bad credential."""


class Authenticator:
    """API key (`X-API-Key`) or JWT bearer token; anonymous only when explicitly allowed."""

    def __init__(
        self,
        api_keys: ApiKeyStore | None = None,
        jwt: JwtVerifier | None = None,
        *,
        allow_anonymous: bool = False,
        forwarded: Collection[str] = (),
    ) -> None:
        self._api_keys = api_keys
        self._jwt = jwt
        self._allow_anonymous = allow_anonymous
        # Where an upstream takes the caller's Authorization header as its own credential
        # (GATEWAY_<P>_FORWARD_HEADER), it rides beside the API key and is no second one.
        self.authorization_forwarded = "authorization" in {h.lower() for h in forwarded}

    async def authenticate(self, headers: Mapping[str, str], *, fresh: bool = False) -> Principal:
        """The caller behind `headers` (case-insensitive mapping).

        `fresh` looks at the API key file now, not within the next second or so, and checks a
        token's signature again: a live stream's re-check uses it, so a removed key ends its
        streams at the first check after removal.
        """
        key = headers.get("x-api-key", "").strip()
        authorization = headers.get("authorization", "").strip()
        if key and authorization and not self.authorization_forwarded:
            # Which of two credentials decides who the caller is must not be a rule of ours
            # that a client (or a proxy adding a header) could be unaware of.
            raise TwoCredentials("Both X-API-Key and Authorization were sent; send one credential.")
        if key:
            if self._api_keys is None:
                raise Unauthenticated("This gateway does not accept API keys.")
            await self._api_keys.refresh(fresh=fresh)
            principal = self._api_keys.find(key)
            if principal is None:
                raise Unauthenticated("The API key is not valid.")
            return principal
        if authorization.lower().startswith("bearer ") and authorization[7:].strip():
            if self._jwt is None:
                raise Unauthenticated("This gateway does not accept bearer tokens.")
            try:
                return await self._jwt.verify(authorization[7:].strip(), fresh=fresh)
            except InvalidToken as exc:
                raise Unauthenticated(str(exc)) from None
        if self._allow_anonymous:
            return ANONYMOUS
        raise Unauthenticated(
            "Authentication required: send an X-API-Key header or an "
            "Authorization: Bearer <JWT> header."
        )
