"""Verified tokens remembered (app/auth/jwt.py): a caller's token is not checked again on every
request, but never past its expiry or VERIFIED_SECONDS, and never once its key is gone."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

import app.auth.jwt
from app.auth.jwt import LEEWAY_SECONDS, VERIFIED_SECONDS, InvalidToken, JwksSource, JwtVerifier
from app.core.records import Provider
from tests.support.jwks import AUDIENCE, ISSUER, SigningKey, jwks


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {"k1": SigningKey("k1"), "k2": SigningKey("k2")}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature was checked, in order."""
    seen: list[str] = []
    real: Callable[..., Any] = jwt.decode

    def counted(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)  # the module app/auth/jwt.py calls it on
    return seen


def verifier(path: Path, clock: Clock) -> JwtVerifier:
    return JwtVerifier(
        JwksSource(path=str(path)),
        issuer=ISSUER,
        audience=[AUDIENCE],
        user_claims={Provider.ZITADEL: "sub"},
        clock=clock,
    )


async def test_a_verified_token_is_taken_again_without_its_signature_checked(
    tmp_path: Path, keys: dict[str, SigningKey], decodes: list[str]
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(jwks(keys["k1"]))
    check = verifier(path, Clock())
    token = keys["k1"].token(sub="u-1")

    first = await check.verify(token)
    again = [await check.verify(token) for _ in range(3)]

    assert decodes == [token]
    assert all(p == first for p in again)
    assert first.users == frozenset({(Provider.ZITADEL, "u-1")})


async def test_it_is_checked_again_after_a_while_before_its_expiry_and_when_fresh(
    tmp_path: Path, keys: dict[str, SigningKey], decodes: list[str]
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(jwks(keys["k1"]))
    clock = Clock()
    check = verifier(path, clock)
    long_lived = keys["k1"].token(sub="u-1", lifetime=3600)
    short_lived = keys["k1"].token(sub="u-2", lifetime=10)
    await check.verify(long_lived)
    await check.verify(short_lived)

    await check.verify(long_lived, fresh=True)  # a stream's re-check
    assert decodes == [long_lived, short_lived, long_lived]
    clock.now += 10 + LEEWAY_SECONDS + 1  # past the short one's exp (and leeway)
    await check.verify(long_lived)
    assert len(decodes) == 3  # still remembered
    await check.verify(short_lived)  # checked again (still valid by the real clock here)
    assert len(decodes) == 4
    clock.now += VERIFIED_SECONDS
    await check.verify(long_lived)
    assert len(decodes) == 5


async def test_a_remembered_token_is_refused_once_its_key_leaves_the_jwks(
    tmp_path: Path,
    keys: dict[str, SigningKey],
    decodes: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.auth.jwt, "REFRESH_AT_MOST_EVERY", 0.0)
    path = tmp_path / "jwks.json"
    path.write_text(jwks(keys["k1"]))
    check = verifier(path, Clock())
    old = keys["k1"].token(sub="u-1")
    await check.verify(old)

    path.write_text(jwks(keys["k2"]))  # the IdP rotates k1 out
    await check.verify(keys["k2"].token(sub="u-2"))  # an unknown kid reloads the keys

    with pytest.raises(InvalidToken, match="signing key is not known"):
        await check.verify(old)
