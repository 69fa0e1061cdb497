"""API keys from a file: a changed file takes effect without a restart, streams included."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.support.live import LiveStack

pytestmark = pytest.mark.server

KEPT = "kept-key-0123456789"
REMOVED = "removed-key-0123456789"
ADDED = "added-key-0123456789"
QUERY = "{ providers { provider } }"
# A filter no mock session matches soon: the streams carry nothing but their end.
QUIET = "subscription { sessionEvents(filter: {providers: [HYPERID]}) { kind } }"
# Generous for a busy machine: the streams are re-checked every second here.
DUE = 20.0


def _entries(*keys: str) -> list[dict[str, Any]]:
    return [{"name": f"caller-{i}", "key": key} for i, key in enumerate(keys)]


def _write(path: Path, *keys: str, more: tuple[dict[str, Any], ...] = ()) -> None:
    path.write_text(json.dumps(_entries(*keys) + list(more)))


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    _write(path, KEPT, REMOVED)
    return path


@pytest.fixture
def live(keys: Path) -> Iterator[LiveStack]:
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": str(keys),
        "GATEWAY_REAUTH_INTERVAL": "1",
    }
    with LiveStack(env=env) as stack:
        yield stack


async def _status(session: aiohttp.ClientSession, live: LiveStack, key: str) -> int:
    async with session.post(live.url, json={"query": QUERY}, headers={"X-API-Key": key}) as answer:
        return answer.status


async def _eventually(session: aiohttp.ClientSession, live: LiveStack, key: str, want: int) -> None:
    """Wait until `key` gets `want` (the file is looked at within a second)."""
    end = time.monotonic() + DUE
    while (status := await _status(session, live, key)) != want:
        assert time.monotonic() < end, f"still {status}"
        await asyncio.sleep(0.1)


async def _subscribed_socket(live: LiveStack, key: str) -> ClientConnection:
    url = live.url.replace("http://", "ws://")
    socket = await connect(url, subprotocols=[Subprotocol("graphql-transport-ws")])
    await socket.send(json.dumps({"type": "connection_init", "payload": {"X-API-Key": key}}))
    assert json.loads(await asyncio.wait_for(socket.recv(), DUE)) == {"type": "connection_ack"}
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUIET}}))
    return socket


async def _socket_until_complete(socket: ClientConnection) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] != "complete":
        message = json.loads(await asyncio.wait_for(socket.recv(), DUE))
        if message["type"] != "ping":
            seen.append(message)
    return seen


async def test_a_key_removed_from_the_file_ends_its_requests_and_streams(
    live: LiveStack, keys: Path
) -> None:
    headers = {"Accept": "text/event-stream", "X-API-Key": REMOVED}
    async with (
        aiohttp.ClientSession() as session,
        session.post(live.url, json={"query": QUIET}, headers=headers) as stream,
    ):
        assert await _status(session, live, REMOVED) == 200
        assert await asyncio.wait_for(stream.content.readline(), DUE) == b": connected\n"
        socket = await _subscribed_socket(live, REMOVED)

        _write(keys, KEPT)  # REMOVED is taken out; no restart

        # The event stream ends with an UNAUTHENTICATED error, then `complete`.
        text = (await asyncio.wait_for(stream.content.read(), DUE)).decode()
        assert '"code": "UNAUTHENTICATED"' in text or '"code":"UNAUTHENTICATED"' in text
        assert text.rstrip().endswith("event: complete\ndata:")
        # So does the socket's subscription.
        *before, last = await _socket_until_complete(socket)
        await socket.close()
        assert last == {"id": "1", "type": "complete"}
        [error] = before[-1]["payload"]["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert error["message"] == "The API key is not valid."

        await _eventually(session, live, REMOVED, 401)
        assert await _status(session, live, KEPT) == 200


async def test_a_malformed_key_file_keeps_the_keys_and_a_fixed_one_is_taken(
    live: LiveStack, keys: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="session_gateway.auth")
    bad = {"name": "half", "key": ADDED, "scopes": "sessions:read:all"}  # scopes: not a list
    _write(keys, KEPT, REMOVED, more=(bad,))

    async with aiohttp.ClientSession() as session:
        # The file is looked at when a key is checked: a request with one, once a second.
        end = time.monotonic() + DUE
        while not [r for r in caplog.records if r.levelno == logging.ERROR]:
            assert await _status(session, live, KEPT) == 200
            assert time.monotonic() < end, "the malformed file was not reported"
            await asyncio.sleep(0.1)
        [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert record.getMessage() == (
            f"GATEWAY_API_KEYS: [2].scopes must be a list of strings in {keys}; "
            "keeping the 2 keys loaded before."
        )
        assert await _status(session, live, KEPT) == 200
        assert await _status(session, live, REMOVED) == 200
        assert await _status(session, live, ADDED) == 401

        _write(keys, KEPT, ADDED)
        await _eventually(session, live, ADDED, 200)
        await _eventually(session, live, REMOVED, 401)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(key in logged for key in (KEPT, REMOVED, ADDED))
