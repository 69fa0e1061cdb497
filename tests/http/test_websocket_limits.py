"""WebSocket limits over real sockets: the gateway under uvicorn, app/http/serving.py's protocols.

Upgrades count against the connection limit, the WebSocket limit and the per-address limit, and
are refused with an HTTP answer before the handshake; `connection_init` is awaited only so
long; frames are small until the caller is authenticated; a socket carries one credential; and
a `subscribe` may name its document by id or APQ hash.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.datastructures import Headers
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from app.auth.authenticator import TwoCredentials
from app.core import ids
from app.core.errors import ConfigError
from app.core.records import Provider
from app.http.serving import server_options
from app.http.websocket import credentials
from app.mocks.churn import create_session
from app.settings import Settings
from tests.support.digest import sha256
from tests.support.live import LiveStack, get, send

pytestmark = pytest.mark.server

KEY = "ws-ops-key"
OTHER = "ws-other-key"
KEYS = [
    {"name": "ops", "key": KEY, "scopes": ["sessions:read:all"]},
    {"name": "other", "key": OTHER, "scopes": ["sessions:read:all"]},
]
TRUSTED = (
    "subscription Trusted { sessionEvents(filter: {providers: [KRATOS]}, includeInitial: true) "
    "{ kind sessionId } }"
)
PROTOCOL = [Subprotocol("graphql-transport-ws")]
WAIT = 15.0  # seconds for what should take well under one


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ws") / "manifest.json"
    path.write_text(json.dumps({f"sha256:{sha256(TRUSTED)}": TRUSTED}))
    return path


def _stack(manifest: Path, **env: str) -> LiveStack:
    return LiveStack(
        env={
            "GATEWAY_ALLOW_ANONYMOUS": "false",
            "GATEWAY_API_KEYS": json.dumps(KEYS),
            "GATEWAY_PERSISTED_DOCUMENTS": str(manifest),
            "GATEWAY_POLL_INTERVAL": "1",
            **env,
        }
    )


@pytest.fixture
def caps(manifest: Path) -> Iterator[LiveStack]:
    """Four WebSockets per process (half of 8 connections), two per client address."""
    env = {
        "GATEWAY_MAX_CONNECTIONS": "8",
        "GATEWAY_MAX_WEBSOCKETS_PER_ADDRESS": "2",
        "GATEWAY_WEBSOCKET_INIT_TIMEOUT": "60",  # sockets stay uninitialised while counted
        "GATEWAY_KEEPALIVE_TIMEOUT": "60",
    }
    with _stack(manifest, **env) as live:
        yield live


@pytest.fixture(scope="module")
def stack(manifest: Path) -> Iterator[LiveStack]:
    with _stack(manifest, GATEWAY_MAX_BODY_BYTES="65536") as live:
        yield live


def _ws_url(stack: LiveStack) -> str:
    return stack.url.replace("http://", "ws://")


def _open(
    stack: LiveStack, address: str = "127.0.0.1", headers: Mapping[str, str] | None = None
) -> connect:
    # Loopback is all of 127/8, so each test client can have its own address.
    return connect(
        _ws_url(stack),
        subprotocols=PROTOCOL,
        additional_headers=headers,
        local_addr=(address, 0),
        proxy=None,
        open_timeout=WAIT,
    )


@asynccontextmanager
async def _sockets(stack: LiveStack, addresses: list[str]) -> AsyncIterator[list[ClientConnection]]:
    """One open (uninitialised) WebSocket per address given, closed at the end."""
    opened: list[ClientConnection] = []
    try:
        for address in addresses:
            opened.append(await _open(stack, address))
        yield opened
    finally:
        for socket_ in opened:
            await socket_.close()


async def _refusal(stack: LiveStack, address: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The status, headers and JSON error of an upgrade the gateway refuses."""
    with pytest.raises(InvalidStatus) as refused:
        await _open(stack, address)
    response = refused.value.response
    (error,) = json.loads(response.body or b"")["errors"]
    return response.status_code, {k.lower(): v for k, v in response.headers.raw_items()}, error


async def _accepted_soon(stack: LiveStack, address: str) -> None:
    """An upgrade from `address` is accepted once the server has counted closed sockets out."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            await (await _open(stack, address)).close()
            return
        except InvalidStatus:
            assert time.monotonic() < deadline, "the slot of a closed socket never came back"
            await asyncio.sleep(0.1)


async def _init(socket_: ClientConnection, payload: Mapping[str, Any]) -> dict[str, Any]:
    await socket_.send(json.dumps({"type": "connection_init", "payload": dict(payload)}))
    return await _receive(socket_)


async def _receive(socket_: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket_.recv(), WAIT))
    return message


async def _closed(socket_: ClientConnection) -> tuple[int | None, str | None]:
    """The code and reason the server closed `socket_` with (whatever it sent before)."""
    try:
        while True:
            await asyncio.wait_for(socket_.recv(), WAIT)
    except ConnectionClosed:
        return socket_.close_code, socket_.close_reason


def _refused_upgrades(stack: LiveStack, reason: str) -> float:
    """`gateway_websocket_upgrades_refused_total{reason}` from the gateway's /metrics."""
    status, _, body = get(stack.url.replace("/graphql", "/metrics"))
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(f'gateway_websocket_upgrades_refused_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_websocket_upgrades_past_the_limit_get_503_not_requests(
    caps: LiveStack,
) -> None:
    # As in an upgrade flood: sockets that never send connection_init.
    async with _sockets(caps, ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"]):
        refusals = [await _refusal(caps, "127.0.0.3") for _ in range(3)]
        healthz = get(caps.url.replace("/graphql", "/healthz"))
        query = send(caps.url, "{ __typename }", headers={"X-API-Key": KEY})

    for status, headers, error in refusals:
        assert status == 503
        assert headers["content-type"] == "application/json"
        assert headers["retry-after"] == "1"
        assert error == {
            "message": "The gateway has 4 WebSockets open, its limit; retry after 1 s.",
            "extensions": {"code": "OVERLOADED"},
        }
    assert healthz[0] == 200
    assert query == (200, {"data": {"__typename": "Query"}})
    await _accepted_soon(caps, "127.0.0.3")  # closed sockets give their slots back
    assert _refused_upgrades(caps, "process") >= 3


async def test_upgrades_count_against_the_connection_limit(caps: LiveStack) -> None:
    parts = urlsplit(caps.url)
    assert parts.hostname is not None
    held = [http.client.HTTPConnection(parts.hostname, parts.port) for _ in range(6)]
    try:
        async with _sockets(caps, ["127.0.0.1", "127.0.0.2"]):
            for connection in held:  # 2 WebSockets and 6 keep-alive connections: 8, the limit
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                response.read()
                assert response.status == 200
            status, _, error = await _refusal(caps, "127.0.0.3")
    finally:
        for connection in held:
            connection.close()

    assert status == 503
    assert error == {
        "message": "The gateway is at its connection limit; retry after 1 s.",
        "extensions": {"code": "OVERLOADED"},
    }


async def test_a_client_address_past_its_limit_gets_429(caps: LiveStack) -> None:
    async with _sockets(caps, ["127.0.0.1", "127.0.0.1"]):
        status, headers, error = await _refusal(caps, "127.0.0.1")
        async with _sockets(caps, ["127.0.0.2"]):
            pass  # another address still gets in

    assert status == 429
    assert headers["content-type"] == "application/json"
    assert error == {
        "message": "This client address has 2 WebSockets open, its limit.",
        "extensions": {"code": "TOO_MANY_REQUESTS"},
    }
    await _accepted_soon(caps, "127.0.0.1")
    assert _refused_upgrades(caps, "address") >= 1


def test_server_options_cap_websockets_below_the_connection_limit() -> None:

    defaults = server_options(Settings.from_environ({"GATEWAY_MAX_CONNECTIONS": "50"}))
    explicit = server_options(
        Settings.from_environ({"GATEWAY_MAX_CONNECTIONS": "50", "GATEWAY_MAX_WEBSOCKETS": "10"})
    )

    assert defaults["ws"].keywords["websockets"].limit == 25
    assert explicit["ws"].keywords["websockets"].limit == 10
    assert defaults["http"].keywords["websockets"] is defaults["ws"].keywords["websockets"]
    with pytest.raises(ConfigError, match="GATEWAY_MAX_WEBSOCKETS must be below"):
        Settings.from_environ({"GATEWAY_MAX_CONNECTIONS": "50", "GATEWAY_MAX_WEBSOCKETS": "50"})


async def test_connection_init_must_come_within_the_init_timeout(manifest: Path) -> None:
    env = {"GATEWAY_WEBSOCKET_INIT_TIMEOUT": "0.5", "GATEWAY_MAX_CONNECTIONS": "3"}
    with _stack(manifest, **env) as live:  # one WebSocket at a time
        async with _sockets(live, ["127.0.0.1"]) as (silent,):
            code, reason = await _closed(silent)
        await _accepted_soon(live, "127.0.0.1")

    assert (code, reason) == (4408, "Connection initialisation timeout")


async def test_a_large_frame_before_connection_init_closes_with_1009(stack: LiveStack) -> None:
    async with _sockets(stack, ["127.0.0.1"]) as (socket_,):
        await socket_.send(json.dumps({"type": "connection_init", "payload": {"x": "x" * 9000}}))
        code, _ = await _closed(socket_)

    assert code == 1009


def _handshake(stack: LiveStack) -> socket.socket:
    """A raw socket past the WebSocket handshake on /graphql."""
    parts = urlsplit(stack.url)
    assert parts.hostname is not None
    assert parts.port is not None
    sock = socket.create_connection((parts.hostname, parts.port), timeout=WAIT)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /graphql HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101")
    return sock


def test_a_frame_declaring_16_mb_is_refused_from_its_header(stack: LiveStack) -> None:
    sock = _handshake(stack)
    mask = os.urandom(4)
    header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 16_000_000) + mask
    with sock:
        sock.sendall(header + b"a" * 1000)  # the rest never comes
        received = b""
        while chunk := sock.recv(4096):  # the server closes; a timeout fails the test
            received += chunk

    # A close frame (opcode 8) with code 1009, Message Too Big.
    assert received[0] == 0x88
    assert struct.unpack("!H", received[2:4])[0] == 1009


async def test_authenticated_frames_may_reach_the_body_limit(stack: LiveStack) -> None:
    async with _sockets(stack, ["127.0.0.1"]) as (socket_,):
        assert await _init(socket_, {"X-API-Key": KEY}) == {"type": "connection_ack"}
        await socket_.send(json.dumps({"type": "ping", "payload": {"x": "x" * 20_000}}))
        pong = await _receive(socket_)
        await socket_.send(json.dumps({"type": "ping", "payload": {"x": "x" * 70_000}}))
        code, _ = await _closed(socket_)

    assert pong == {"type": "pong"}
    assert code == 1009  # past GATEWAY_MAX_BODY_BYTES (65536 here)


@pytest.mark.parametrize(
    ("headers", "payload"),
    [
        ({"X-API-Key": KEY}, {"X-API-Key": OTHER}),
        ({}, {"X-API-Key": KEY, "x-api-key": OTHER}),
        ({}, {"X-API-Key": KEY, "Authorization": "Bearer not-a-token"}),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, {"X-API-Key": KEY}),
    ],
    ids=["header-and-payload", "two-cases-of-one-name", "key-and-bearer", "basic-and-key"],
)
async def test_two_credentials_close_the_socket_with_4400(
    stack: LiveStack, headers: dict[str, str], payload: dict[str, str]
) -> None:
    async with _open(stack, headers=headers) as socket_:
        await socket_.send(json.dumps({"type": "connection_init", "payload": payload}))
        code, reason = await _closed(socket_)

    assert code == 4400
    assert reason is not None
    assert reason.startswith("Send one credential, not ")


def test_one_upstream_authorization_may_ride_beside_the_key() -> None:
    # As on HTTP: where an upstream takes the caller's Authorization as its own credential,
    # it is no second credential; two of them still are.
    upgrade = Headers({"Authorization": "Bearer upstream-token"})
    merged = credentials(upgrade, {"X-API-Key": KEY}, authorization_forwarded=True)
    assert merged["x-api-key"] == KEY
    assert merged["authorization"] == "Bearer upstream-token"
    with pytest.raises(TwoCredentials, match="not Authorization in the upgrade request and "):
        credentials(upgrade, {"Authorization": "Bearer other"}, authorization_forwarded=True)
    with pytest.raises(TwoCredentials):
        credentials(upgrade, {"X-API-Key": KEY})


async def test_one_credential_in_the_upgrade_headers_is_enough(stack: LiveStack) -> None:
    async with _open(stack, headers={"X-API-Key": KEY}) as socket_:
        assert await _init(socket_, {}) == {"type": "connection_ack"}


def _new_session(stack: LiveStack) -> str:
    """A session begun at the mock Kratos now: its global id."""

    async def create() -> str:
        return str(create_session(stack.mocks.data)["id"])

    return ids.encode(ids.SESSION, Provider.KRATOS, stack.run(create()))


@pytest.mark.parametrize(
    "named",
    [
        {"documentId": f"sha256:{sha256(TRUSTED)}"},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(TRUSTED)}}},
    ],
    ids=["documentId", "apq"],
)
async def test_a_subscribe_by_document_id_runs_and_an_unknown_one_fails_alone(
    stack: LiveStack, named: dict[str, Any]
) -> None:
    unknown = {"documentId": "sha256:" + "0" * 64}
    async with _open(stack) as socket_:
        assert await _init(socket_, {"X-API-Key": KEY}) == {"type": "connection_ack"}
        await socket_.send(json.dumps({"id": "a", "type": "subscribe", "payload": named}))
        first = await _receive(socket_)
        await socket_.send(json.dumps({"id": "b", "type": "subscribe", "payload": unknown}))
        messages = [await _receive(socket_)]
        while messages[-1].get("id") != "b":
            messages.append(await _receive(socket_))
        created = _new_session(stack)
        while not (
            messages[-1].get("id") == "a"
            and messages[-1]["payload"]["data"]["sessionEvents"]
            == {"kind": "CREATED", "sessionId": created}
        ):
            messages.append(await _receive(socket_))

    assert first["id"] == "a"
    assert first["type"] == "next"
    errors = [m for m in messages if m.get("id") == "b"]
    assert errors == [
        {
            "id": "b",
            "type": "error",
            "payload": [
                {
                    "message": "PersistedQueryNotFound",
                    "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
                }
            ],
        }
    ]


def test_a_uvicorn_without_the_websocket_hooks_stops_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    monkeypatch.delattr(WebSocketsSansIOProtocol, "run_asgi")

    with pytest.raises(RuntimeError, match=r"WebSocketsSansIOProtocol\.run_asgi"):
        server_options(Settings.from_environ({}))
