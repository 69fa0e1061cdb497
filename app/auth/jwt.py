"""JWT bearer tokens checked against a JWKS (file or URL), cached, re-read for unknown `kid`s.

A token once verified is remembered (by its exact text) with the key that verified it, for at
most VERIFIED_SECONDS and never past its `exp`: a caller sends the same token on every request,
and checking an ES256 signature costs about 0.14 ms of CPU. The entry is dropped as soon as that
key is no longer the JWKS's (a rotation that removes it ends the token's requests at once), and
a stream's re-check (`fresh`) verifies again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from app.auth.principal import Principal
from app.core.echo import clip_echoes
from app.core.records import Provider

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
CACHE_SECONDS = 300.0
# An unknown kid re-reads the JWKS at most this often, so junk tokens cannot flood the IdP.
REFRESH_AT_MOST_EVERY = 10.0
LEEWAY_SECONDS = 30
# How long a verified token is taken without checking its signature again, and how many are kept.
VERIFIED_SECONDS = 60.0
VERIFIED_TOKENS = 4096


class InvalidToken(Exception):
    """The token is not acceptable; the message is safe to show the caller."""


class JwksSource:
    """The signing keys, from a file or a URL, cached; a `kid` not seen forces a re-read."""

    def __init__(
        self,
        *,
        url: str | None = None,
        path: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._url, self._path, self._session = url, path, session
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The key with id `kid` (or the only key, for tokens without a kid)."""
        if self._needs_load(kid):
            async with self._lock:
                if self._needs_load(kid):  # another request may have just loaded it
                    await self._load()
        found = self.current(kid)
        if found is None:
            raise InvalidToken("The token's signing key is not known.")
        return found

    def current(self, kid: str | None) -> jwt.PyJWK | None:
        """The key `kid` names in the keys held now, without loading."""
        found = self._keys.get(kid)
        if found is None and kid is None and len(self._keys) == 1:
            found = next(iter(self._keys.values()))
        return found

    def _needs_load(self, kid: str | None) -> bool:
        age = time.monotonic() - self._loaded_at
        return age > CACHE_SECONDS or (kid not in self._keys and age > REFRESH_AT_MOST_EVERY)

    async def _load(self) -> None:
        try:
            document = await self._read()
            keyset = jwt.PyJWKSet.from_dict(document)
        except (OSError, ValueError, aiohttp.ClientError, TimeoutError, jwt.PyJWKSetError):
            # Keep the keys we have; a token signed by an unknown key is refused.
            self._loaded_at = time.monotonic()
            return
        self._keys = {k.key_id: k for k in keyset.keys}
        self._loaded_at = time.monotonic()

    async def _read(self) -> dict[str, Any]:
        if self._path is not None:
            text = await asyncio.to_thread(Path(self._path).read_text)
            data: dict[str, Any] = json.loads(text)
            return data
        assert self._url is not None
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=5)
        async with self._session.get(self._url, timeout=timeout) as response:
            response.raise_for_status()
            fetched: dict[str, Any] = await response.json(content_type=None)
            return fetched


class JwtVerifier:
    """Checks signature, `exp`, `iss` and `aud`; maps claims to scopes and provider users."""

    def __init__(
        self,
        jwks: JwksSource,
        *,
        issuer: str,
        audience: Sequence[str],
        user_claims: Mapping[Provider, str],
        session_claims: Mapping[Provider, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jwks = jwks
        self._issuer = issuer
        self._audience = list(audience)
        self._user_claims = dict(user_claims)
        self._session_claims = dict(session_claims or {})
        self._clock = clock
        # Token -> (principal, key id, the key that verified it, until when it is taken).
        self._verified: OrderedDict[str, tuple[Principal, str | None, jwt.PyJWK, float]]
        self._verified = OrderedDict()

    async def verify(self, token: str, *, fresh: bool = False) -> Principal:
        """The principal a valid token stands for, or InvalidToken saying why not; `fresh`
        checks the signature again even if the token was verified lately."""
        now = self._clock()
        known = None if fresh else self._verified.get(token)
        if known is not None:
            principal, kid, key, until = known
            if now < until and self._jwks.current(kid) is key:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal, kid, key, expires = await self._check(token)
        self._verified[token] = (principal, kid, key, min(expires, now + VERIFIED_SECONDS))
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return principal

    async def _check(self, token: str) -> tuple[Principal, str | None, jwt.PyJWK, float]:
        """Verify `token`: its principal, its key's id, the key, and when it expires."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("The bearer token is not a JWT.") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise InvalidToken(
                f"The token's algorithm {clip_echoes(repr(algorithm))} is not accepted."
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("The token's `kid` is not a string.")
        key = await self._jwks.key(kid)
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The token has expired.") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("The token's issuer is not accepted.") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("The token's audience is not accepted.") from None
        except (jwt.PyJWTError, TypeError, ValueError):
            # Also a key whose type does not fit `alg` (PyJWT raises TypeError for that).
            raise InvalidToken("The token's signature or claims are invalid.") from None
        principal = Principal(
            name=str(claims.get("sub", "jwt")),
            scopes=_scopes(claims),
            users=_pairs(claims, self._user_claims),
            source="jwt",
            sessions=_pairs(claims, self._session_claims),
        )
        # `exp` is required and was checked (a number); the leeway is what decode allowed.
        return principal, kid, key, float(claims["exp"]) + LEEWAY_SECONDS


def _pairs(
    claims: Mapping[str, Any], named: Mapping[Provider, str]
) -> frozenset[tuple[Provider, str]]:
    """(provider, id) for each provider's claim in `named` that holds ids (one, or a list)."""
    users: set[tuple[Provider, str]] = set()
    for provider, claim in named.items():
        value = claims.get(claim)
        values = value if isinstance(value, list) else [value]
        users.update(
            (provider, str(v).strip())
            for v in values
            if isinstance(v, str | int) and not isinstance(v, bool) and str(v).strip()
        )
    return frozenset(users)


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, list):
        return frozenset(str(s) for s in scp)
    return frozenset()
