"""SIGTERM under load: `session-gateway serve` drains, ends its streams with a cursor, and exits.

The gateway runs as its own process (`python -m app.cli serve`), alone or as the supervisor of
two workers, against the mock upstreams in
this process, one of them slowed so that requests are in flight when the signal comes. Clients
in threads keep sending queries on new and on keep-alive connections, an SSE stream and a
WebSocket subscription listen, then the process gets SIGTERM.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from app.mocks import Fault, FaultPlan, MockUpstreams
from tests.support.net import free_port
from tests.support.paths import ROOT

pytestmark = pytest.mark.server

DRAIN_SECONDS = 3
QUERY = "{ sessions(first: 5) { edges { node { id } } } }"
SUBSCRIPTION = """subscription {
  sessionEvents(filter: {providers: [KRATOS]}, includeInitial: true) { kind sessionId cursor }
}"""


class Mocks:
    """The mock upstreams on their own event loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.mocks = MockUpstreams()

    def __enter__(self) -> MockUpstreams:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.mocks.__aenter__(), self.loop).result(timeout=30)
        return self.mocks

    def __exit__(self, *exc: object) -> None:
        stop = self.mocks.__aexit__(None, None, None)
        asyncio.run_coroutine_threadsafe(stop, self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class Outcome:
    started: float  # time.monotonic()
    ended: float
    refused: bool  # the connection was refused: the process no longer listens
    error: str | None  # anything else that went wrong, once connected


class Load:
    """Threads sending QUERY until told to stop or refused: half on a new connection per
    request, half on keep-alive connections."""

    def __init__(self, port: int, threads: int = 4) -> None:
        self.port = port
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Staggered, so that requests start and end all the time rather than in step.
        self._threads = [
            threading.Thread(target=self._run, args=(i % 2 == 0, i / threads), daemon=True)
            for i in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self, keep_alive: bool, delay: float) -> None:
        self._stop.wait(delay)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        body = json.dumps({"query": QUERY})
        headers = {"Content-Type": "application/json"}
        while not self._stop.is_set():
            started = time.monotonic()
            refused, error = False, None
            try:
                if connection.sock is None:
                    connection.connect()
                connection.request("POST", "/graphql", body, headers)
                response = connection.getresponse()
                answer = json.loads(response.read())
                if response.status != 200 or answer.get("errors"):
                    error = f"{response.status}: {answer}"
                if response.will_close or not keep_alive:
                    connection.close()
            except ConnectionRefusedError:
                refused = True
            except (OSError, http.client.HTTPException, ValueError) as exc:
                error = repr(exc)
                connection.close()
            with self._lock:
                self.outcomes.append(Outcome(started, time.monotonic(), refused, error))
            if refused:
                return  # nobody listens any more: what a load balancer would have seen


class SseListener:
    """One graphql-sse stream; `events` fills with (event, id, data) as they arrive."""

    def __init__(self, port: int) -> None:
        self.events: list[tuple[str, str | None, dict[str, Any] | None]] = []
        self.first = threading.Event()
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.connection.request(
            "POST",
            "/graphql",
            json.dumps({"query": SUBSCRIPTION}),
            {"Content-Type": "application/json", "Accept": "text/event-stream"},
        )
        self.response = self.connection.getresponse()
        assert self.response.status == 200
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event, event_id, data = "", None, None
        for raw in self.response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("id: "):
                event_id = line.removeprefix("id: ")
            elif line.startswith("data:"):
                text = line.removeprefix("data:").strip()
                data = json.loads(text) if text else None
            elif not line and event:
                self.events.append((event, event_id, data))
                if event == "next":
                    self.first.set()
                event, event_id, data = "", None, None


class WsListener:
    """One graphql-transport-ws subscription; `messages` fills as they arrive, then `closed`."""

    def __init__(self, port: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/graphql"
        self.messages: list[dict[str, Any]] = []
        self.first = threading.Event()
        self.close_code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        protocol = Subprotocol("graphql-transport-ws")
        with connect(self.url, subprotocols=[protocol]) as socket:
            socket.send(json.dumps({"type": "connection_init", "payload": {}}))
            subscribe = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
            socket.send(json.dumps(subscribe))
            try:
                for text in socket:
                    message = json.loads(text)
                    self.messages.append(message)
                    if message["type"] == "next":
                        self.first.set()
            except ConnectionClosed:
                pass
            self.close_code = socket.close_code


def readyz(port: int) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/readyz")
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.fixture(params=[1, 2], ids=["one-process", "two-workers"])
def gateway(request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with Mocks() as mocks:
        # Every `sessions` query waits a second on ZITADEL, so queries are in flight whenever
        # the signal comes.
        mocks.set_fault("ZITADEL", FaultPlan(Fault.SLOW, delay=1.0))
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
            **mocks.gateway_env(),
            "GATEWAY_ALLOW_ANONYMOUS": "true",
            "GATEWAY_CURSOR_SECRET": "drain-test",
            "GATEWAY_DRAIN_SECONDS": str(DRAIN_SECONDS),
            "GATEWAY_POLL_INTERVAL": "1",
            "GATEWAY_HEARTBEAT_INTERVAL": "1",
        }
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        process = subprocess.Popen(
            [*command, "--workers", str(request.param)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    readyz(port)
                    break
                except OSError:
                    assert process.poll() is None, "the gateway exited at start-up"
                    assert time.monotonic() < deadline, "the gateway did not start"
                    time.sleep(0.1)
            yield process, port
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            assert process.stderr is not None
            process.stderr.close()


def test_sigterm_under_load_fails_no_request_and_ends_streams_with_a_cursor(
    gateway: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = gateway
    sse = SseListener(port)
    ws = WsListener(port)
    assert sse.first.wait(30), "no initial SSE event"
    assert ws.first.wait(30), "no initial WebSocket event"
    load = Load(port)
    load.start()
    time.sleep(1.5)  # every load thread has a request in flight

    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    not_ready = 0
    while not_ready < 5:  # readiness turns false at once and stays so
        status, body = readyz(port)
        if status == 503:
            assert body == {"status": "draining"}
            not_ready += 1
        else:
            assert not not_ready, "ready again after draining began"
        time.sleep(0.1)

    assert process.wait(timeout=DRAIN_SECONDS + 30) in (0, -signal.SIGTERM)
    load.stop()
    sse.thread.join(timeout=10)
    sse.connection.close()
    ws.thread.join(timeout=10)

    # The process listens until about DRAIN_SECONDS after the signal. A connection made in the
    # instant it stops can be reset from the accept queue, as with any server; so a request
    # counts from half a second earlier on, when it is surely accepted.
    closing = signalled + DRAIN_SECONDS - 0.5
    must_answer = [o for o in load.outcomes if o.started < closing]
    failed = [o for o in must_answer if o.error is not None or o.refused]
    assert not failed, f"{len(failed)} requests failed: {failed[:3]}"
    assert [o for o in must_answer if o.started < signalled < o.ended], "none in flight at SIGTERM"
    assert [o for o in must_answer if o.started > signalled], "none answered while draining"
    stopped = signalled + DRAIN_SECONDS
    assert [o for o in must_answer if o.ended > stopped], "none in flight when it stopped listening"

    # The SSE stream's last event names the cursor to resume from, as its id, then completes.
    events = [(event, event_id) for event, event_id, _ in sse.events]
    assert events[-1] == ("complete", None)
    event, last_id, data = sse.events[-2]
    assert event == "next"
    assert data is not None
    (error,) = data["errors"]
    assert error["extensions"]["code"] == "SHUTTING_DOWN"
    assert error["extensions"]["resumeFrom"] == last_id
    assert last_id == [i for e, i, _ in sse.events[:-2] if e == "next"][-1]

    # The WebSocket's operation likewise, then the socket closes with 1012 (Service Restart).
    assert [m["type"] for m in ws.messages[-2:]] == ["next", "complete"]
    (error,) = ws.messages[-2]["payload"]["errors"]
    assert error["extensions"]["code"] == "SHUTTING_DOWN"
    cursors = [
        m["payload"]["data"]["sessionEvents"]["cursor"]
        for m in ws.messages[:-2]
        if m["type"] == "next" and m["payload"].get("data")
    ]
    assert error["extensions"]["resumeFrom"] == cursors[-1]
    assert ws.close_code == 1012
