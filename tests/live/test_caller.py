"""A live stream's caller is checked again while the stream runs."""

from __future__ import annotations

import asyncio
import json
import time

from app.auth.apikeys import ApiKeyStore
from app.auth.authenticator import Authenticator
from app.live.caller import LiveCaller
from app.live.hub import Hub
from app.upstream.upstreams import Upstreams
from tests.support.jwks import SigningKey


def keys(*entries: tuple[str, str]) -> ApiKeyStore:
    return ApiKeyStore.load(json.dumps([{"name": n, "key": k} for n, k in entries]))


async def test_a_key_that_stops_being_valid_ends_the_stream_at_the_next_check() -> None:
    authenticator = Authenticator(keys(("ops", "k1")))
    headers = {"X-API-Key": "k1", "X-Other": "not kept"}
    principal = await authenticator.authenticate({"x-api-key": "k1"})
    caller = LiveCaller.create(Hub(Upstreams.none()), principal, headers, authenticator, 0.01)
    assert dict(caller.headers) == {"x-api-key": "k1"}  # credentials only
    await asyncio.sleep(0.02)
    assert await caller.check() is None  # still good
    authenticator._api_keys = keys(("ops", "k2"))  # the key was rotated out
    await asyncio.sleep(0.02)
    assert caller.seconds_to_check() == 0
    assert await caller.check() == "The API key is not valid."


async def test_a_jwt_stream_ends_when_the_token_expires() -> None:
    token = SigningKey("k").token(lifetime=60)
    caller = LiveCaller.create(
        Hub(Upstreams.none()),
        (await Authenticator(allow_anonymous=True).authenticate({})),
        {"Authorization": f"Bearer {token}"},
        Authenticator(allow_anonymous=True),
        3600,
    )
    assert caller.expires_at is not None
    assert 0 < caller.seconds_to_check() <= 60
    caller.expires_at = time.time() - 1
    assert await caller.check() == "The token has expired."
