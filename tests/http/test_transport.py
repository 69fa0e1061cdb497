"""Transport limits, over loopback sockets: head size, slow heads and bodies, idle connections."""

from __future__ import annotations

import http.client
import json
import os
import pickle
import select
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.core.errors import ConfigError
from app.http.serving import GatewayProtocol, server_options
from app.mocks.faults import Fault, FaultPlan
from app.settings import Settings
from tests.support.jwks import AUDIENCE, ISSUER, SigningKey, jwks
from tests.support.live import LiveStack, send
from tests.support.net import free_port

pytestmark = pytest.mark.server

# Tiny limits; the assertions below allow 10 s for what should take 0.5 s.
TIGHT = {
    "GATEWAY_MAX_HEADER_BYTES": "4096",
    "GATEWAY_HEADER_TIMEOUT": "0.5",
    "GATEWAY_BODY_TIMEOUT": "0.5",
    "GATEWAY_KEEPALIVE_TIMEOUT": "0.5",
}
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n"


@pytest.fixture(scope="module")
def tight() -> Iterator[LiveStack]:
    with LiveStack(env=TIGHT) as live:
        yield live


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _until_closed(sock: socket.socket, within: float = 10.0) -> bytes:
    """What the server sends until it closes the connection; fails if it is still open."""
    received = b""
    deadline = time.monotonic() + within
    with sock:
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                pytest.fail(f"the connection is still open after {within} s")
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk


def _error(response: bytes) -> tuple[int, dict[str, Any]]:
    """The status and the single GraphQL-style error of a refusal."""
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"\r\nconnection: close" in head.lower()
    (error,) = json.loads(body)["errors"]
    return int(head.split(b" ")[1]), error


def test_an_oversized_head_is_431_and_the_connection_closes(live: LiveStack) -> None:
    sock = _connect(live.url)
    sock.sendall(HEALTHZ + b"X-Padding: " + b"a" * 40_000 + b"\r\n\r\n")

    status, error = _error(_until_closed(sock))

    assert status == 431
    assert error == {
        "message": "Request headers are larger than 32768 bytes.",
        "extensions": {"code": "HEADERS_TOO_LARGE"},
    }


def test_an_endless_header_is_cut_off(tight: LiveStack) -> None:
    sock = _connect(tight.url)
    sock.sendall(HEALTHZ + b"X-Endless: ")
    sent, chunk = 0, b"a" * 16384
    # Without a limit the server buffers the header for as long as it keeps coming.
    while not select.select([sock], [], [], 0)[0]:
        assert sent < 64 * 1024 * 1024, "the server read 64 MB of one header"
        try:
            sock.sendall(chunk)
        except OSError:  # reset: the server stopped reading
            break
        sent += len(chunk)

    status, error = _error(_until_closed(sock))

    assert status == 431
    assert error["message"] == "Request headers are larger than 4096 bytes."


def test_heads_are_counted_per_request(tight: LiveStack) -> None:
    padding = b"X-Padding: " + b"a" * 3000 + b"\r\n"
    sock = _connect(tight.url)
    # Two pipelined requests: together over the 4096-byte limit, each under it.
    sock.sendall(HEALTHZ + padding + b"\r\n" + HEALTHZ + padding + b"Connection: close\r\n\r\n")

    assert _until_closed(sock).count(b"HTTP/1.1 200 OK") == 2


def test_a_slow_head_is_408_and_the_connection_closes(tight: LiveStack) -> None:
    sock = _connect(tight.url)
    sock.sendall(b"GET /healthz HT")

    status, error = _error(_until_closed(sock))

    assert status == 408
    assert error == {
        "message": "Request headers were not complete within 0.5 seconds.",
        "extensions": {"code": "HEADERS_TIMEOUT"},
    }


def test_a_trickled_head_is_timed_from_its_first_byte(tight: LiveStack) -> None:
    sock = _connect(tight.url)
    sock.sendall(HEALTHZ + b"X-Trickle: ")
    deadline = time.monotonic() + 10
    while not select.select([sock], [], [], 0.1)[0]:  # a byte every 0.1 s until an answer
        assert time.monotonic() < deadline, "a byte every 0.1 s kept the head open for 10 s"
        try:
            sock.sendall(b"a")
        except OSError:
            break

    status, error = _error(_until_closed(sock))

    assert status == 408
    assert error["extensions"] == {"code": "HEADERS_TIMEOUT"}


def test_a_slow_body_is_408_and_the_connection_closes(tight: LiveStack) -> None:
    sock = _connect(tight.url)
    sock.sendall(
        b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"query": '
    )

    status, error = _error(_until_closed(sock))

    assert status == 408
    assert error == {
        "message": "Request body was not complete within 0.5 seconds.",
        "extensions": {"code": "BODY_TIMEOUT"},
    }


def test_a_slow_body_is_refused_in_the_media_type_asked_for(tight: LiveStack) -> None:
    sock = _connect(tight.url)
    sock.sendall(
        b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b"Accept: application/graphql-response+json\r\n"
        b'Content-Length: 100\r\n\r\n{"query": '
    )

    response = _until_closed(sock)

    assert _error(response)[0] == 408
    assert b"\r\ncontent-type: application/graphql-response+json\r\n" in response.lower()


def test_a_slow_pipelined_body_closes_with_no_answer_out_of_turn(
    tight: LiveStack,
) -> None:
    tight.mocks.set_fault("PRIVX", FaultPlan(Fault.SLOW, delay=1.5))  # /readyz waits on it
    try:
        sock = _connect(tight.url)
        sock.sendall(
            b"GET /readyz HTTP/1.1\r\nHost: gateway\r\n\r\n"
            b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"query": '
        )
        received = _until_closed(sock)
    finally:
        tight.mocks.clear_faults()

    # A 408 now would read as the answer to GET /readyz, whose response is still to come.
    assert received == b""


def test_a_connection_that_sends_nothing_is_closed(tight: LiveStack) -> None:
    assert _until_closed(_connect(tight.url)) == b""


def test_an_idle_keepalive_connection_is_closed(tight: LiveStack) -> None:
    sock = _connect(tight.url)
    sock.sendall(HEALTHZ + b"\r\n")

    received = _until_closed(sock)

    assert received.startswith(b"HTTP/1.1 200 OK")
    assert received.endswith(b'{"status":"ok"}')


def test_a_20_kb_bearer_token_is_accepted(tmp_path: Path) -> None:
    key = SigningKey("big")
    (tmp_path / "jwks.json").write_text(jwks(key))
    token = key.token(sub="caller", padding="x" * 15_000)
    env = {
        "GATEWAY_JWKS_FILE": str(tmp_path / "jwks.json"),
        "GATEWAY_JWT_ISSUER": ISSUER,
        "GATEWAY_JWT_AUDIENCE": AUDIENCE,
    }
    assert len(token) > 20_000

    with LiveStack(env=env) as live:
        valid = send(live.url, "{ __typename }", headers={"Authorization": f"Bearer {token}"})
        forged = send(live.url, "{ __typename }", headers={"Authorization": f"Bearer {token}x"})

    assert valid == (200, {"data": {"__typename": "Query"}})
    assert forged[0] == 401  # the token was read and checked, not dropped


def test_connections_beyond_the_limit_get_503() -> None:
    with LiveStack(env={"GATEWAY_MAX_CONNECTIONS": "2"}) as live:
        parts = urlsplit(live.url)
        assert parts.hostname is not None
        connections = [http.client.HTTPConnection(parts.hostname, parts.port) for _ in range(3)]
        statuses = []
        try:
            for connection in connections:  # each stays open (keep-alive) while the next asks
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
        finally:
            for connection in connections:
                connection.close()

    assert statuses == [200, 200, 503]


def test_server_options_carry_the_limits() -> None:
    settings = Settings.from_environ({**TIGHT, "GATEWAY_MAX_CONNECTIONS": "7"})

    options = server_options(settings)
    factory = pickle.loads(pickle.dumps(options["http"]))  # as `--workers` processes get it

    assert factory.func is GatewayProtocol
    assert factory.keywords["limits"].max_header_bytes == 4096
    assert options["timeout_keep_alive"] == 0.5
    assert options["limit_concurrency"] == 8


def test_transport_settings_defaults() -> None:
    settings = Settings.from_environ({})

    assert settings.max_header_bytes == 32768
    assert (settings.header_timeout, settings.body_timeout) == (10.0, 10.0)
    assert settings.keepalive_timeout == 5.0
    assert settings.max_connections == 1000


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GATEWAY_MAX_HEADER_BYTES", "512"),
        ("GATEWAY_MAX_HEADER_BYTES", "lots"),
        ("GATEWAY_HEADER_TIMEOUT", "0"),
        ("GATEWAY_BODY_TIMEOUT", "-1"),
        ("GATEWAY_KEEPALIVE_TIMEOUT", "3601"),
        ("GATEWAY_MAX_CONNECTIONS", "0"),
    ],
)
def test_bad_transport_settings_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ({variable: value})
    assert f"{variable}:" in str(caught.value)


def test_serve_with_workers_enforces_the_limits() -> None:
    port = free_port()
    env = {**os.environ, "GATEWAY_ALLOW_ANONYMOUS": "true", "GATEWAY_MAX_HEADER_BYTES": "2048"}
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        [*command, "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        sock = _connect(f"http://127.0.0.1:{port}/graphql")
        sock.sendall(HEALTHZ + b"X-Padding: " + b"a" * 4000 + b"\r\n\r\n")

        status, error = _error(_until_closed(sock))
    finally:
        server.terminate()
        server.communicate(timeout=30)

    assert status == 431
    assert error["message"] == "Request headers are larger than 2048 bytes."
