"""sessionEvents end to end: the npm graphql-sse and graphql-ws clients against the live stack.

Each client runs in Node (tests/node/live/subscribe.mjs) and prints what it receives as JSON
lines; sessions are created and ended at the mock Kratos (app/mocks/churn.py) or revoked
through the gateway while the clients listen.
"""

from __future__ import annotations

import asyncio
import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from app.core import ids
from app.core.records import Provider
from app.mocks import Fault, FaultPlan
from app.mocks.churn import create_session, end_session
from tests.support.jwks import AUDIENCE, ISSUER, SigningKey, jwks
from tests.support.live import LiveStack, post
from tests.support.paths import NODE

NODE_DIR = NODE / "live"
INTERVAL = 1.0
DUE = INTERVAL + 1.0  # an event is due within one poll interval plus one second
KEY = "live-ops-key"
JWT_KEY = SigningKey("live")
QUERY = """subscription {
  sessionEvents(filter: {providers: [KRATOS]}, includeInitial: true) {
    kind sessionId provider at cursor session { nativeId status }
  }
}"""

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js"),
]


class Client:
    """One Node subscriber; `lines` fills from its stdout as it prints."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            ["node", "subscribe.mjs", json.dumps(options)],
            cwd=NODE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def wait_for(self, wanted: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """The first line `wanted` accepts, within `timeout` seconds; the rest go to `seen`."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if wanted(line):
                return line
        raise AssertionError(f"nothing wanted within {timeout} s; saw {self.seen[-5:]}")

    def drain(self, seconds: float) -> list[dict[str, Any]]:
        """Everything printed in the next `seconds`."""
        found = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                found.append(self.lines.get(timeout=left))
            except queue.Empty:
                break
        self.seen += found
        return found

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def event(line: dict[str, Any]) -> dict[str, Any] | None:
    if line.get("kind") != "next":
        return None
    data = line["payload"].get("data")
    return data["sessionEvents"] if data else None


def is_event(kind: str, session_id: str) -> Callable[[dict[str, Any]], bool]:
    def wanted(line: dict[str, Any]) -> bool:
        found = event(line)
        return found is not None and found["kind"] == kind and found["sessionId"] == session_id

    return wanted


def error_code(line: dict[str, Any]) -> str | None:
    if line.get("kind") != "next":
        return None
    errors = line["payload"].get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    folder = tmp_path_factory.mktemp("live")
    (folder / "jwks.json").write_text(jwks(JWT_KEY))
    keys = [{"name": "ops", "key": KEY, "scopes": ["sessions:read:all", "sessions:revoke:all"]}]
    env = {
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(keys),
        "GATEWAY_JWKS_FILE": str(folder / "jwks.json"),
        "GATEWAY_JWT_ISSUER": ISSUER,
        "GATEWAY_JWT_AUDIENCE": AUDIENCE,
        "GATEWAY_POLL_INTERVAL": str(INTERVAL),
        "GATEWAY_UPSTREAM_RETRIES": "0",
        "GATEWAY_HEARTBEAT_INTERVAL": "1",
    }
    with LiveStack(env=env) as live:
        yield live


def options(stack: LiveStack, transport: str, query: str = QUERY, **more: Any) -> dict[str, Any]:
    url = stack.url if transport == "sse" else stack.url.replace("http://", "ws://")
    auth = {"X-API-Key": KEY}
    credentials = {"headers": auth} if transport == "sse" else {"connectionParams": auth}
    return {"transport": transport, "url": url, "query": query, **credentials, **more}


def new_session(stack: LiveStack) -> tuple[str, str]:
    """A session begun at the mock Kratos now: (native id, global id)."""

    async def create() -> str:
        return str(create_session(stack.mocks.data)["id"])

    native = stack.run(create())
    return native, ids.encode(ids.SESSION, Provider.KRATOS, native)


def started(client: Client) -> None:
    """Wait until the watch has its first snapshot (the initial events have arrived)."""
    client.wait_for(lambda line: line.get("kind") == "open", 30)
    client.wait_for(lambda line: event(line) is not None, 30)
    client.drain(0.5)


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_created_and_ended_arrive_within_an_interval(stack: LiveStack, transport: str) -> None:
    client = Client(options(stack, transport))
    try:
        started(client)
        native, global_id = new_session(stack)
        begun = time.monotonic()
        created = event(client.wait_for(is_event("CREATED", global_id), DUE + 5))
        assert time.monotonic() - begun <= DUE
        assert created is not None
        assert created["session"] == {"nativeId": native, "status": "ACTIVE"}
        assert created["provider"] == "KRATOS"

        async def end() -> bool:
            return end_session(stack.mocks.data, native)

        assert stack.run(end())
        begun = time.monotonic()
        ended = event(client.wait_for(is_event("ENDED", global_id), DUE + 5))
        assert time.monotonic() - begun <= DUE
        assert ended is not None
        assert ended["session"]["status"] != "ACTIVE"

        # Revoked through the gateway: ENDED at once, not at the next poll.
        _, other = new_session(stack)
        client.wait_for(is_event("CREATED", other), DUE + 5)
        revoke = "mutation($id: ID!) { revokeSession(id: $id) { __typename } }"
        answer = post(stack.url, revoke, {"id": other}, headers={"X-API-Key": KEY})
        assert answer["data"]["revokeSession"]["__typename"] == "SessionRevoked"
        found = event(client.wait_for(is_event("ENDED", other), DUE + 5))
        assert found is not None
        assert found["session"]["status"] == "REVOKED"
        kinds = [(e["kind"], e["sessionId"]) for e in map(event, client.seen) if e]
        assert len(kinds) == len(set(kinds))  # nothing twice
    finally:
        client.close()


def test_sse_reconnect_with_last_event_id_resumes_without_duplicates(stack: LiveStack) -> None:
    first = Client(options(stack, "sse"))
    try:
        started(first)
        _, a = new_session(stack)
        last = event(first.wait_for(is_event("CREATED", a), DUE + 5))
        assert last is not None
    finally:
        first.close()
    _, b = new_session(stack)  # while nobody listens: the watch lives on for its grace period
    time.sleep(2 * INTERVAL + 0.5)
    query = QUERY.replace("includeInitial: true", "includeInitial: false")
    second = Client(options(stack, "sse", query, lastEventId=last["cursor"]))
    try:
        second.wait_for(is_event("CREATED", b), DUE + 5)
        second.drain(2 * INTERVAL)
        got = [(e["kind"], e["sessionId"]) for e in map(event, second.seen) if e]
        assert ("CREATED", a) not in got
        assert got.count(("CREATED", b)) == 1
        assert len(got) == len(set(got))
    finally:
        second.close()


def test_ws_resume_with_since(stack: LiveStack) -> None:
    first = Client(options(stack, "ws"))
    try:
        started(first)
        _, a = new_session(stack)
        last = event(first.wait_for(is_event("CREATED", a), DUE + 5))
        assert last is not None
    finally:
        first.close()
    _, b = new_session(stack)
    time.sleep(2 * INTERVAL + 0.5)
    query = QUERY.replace("includeInitial: true", f'since: "{last["cursor"]}"')
    second = Client(options(stack, "ws", query))
    try:
        second.wait_for(is_event("CREATED", b), DUE + 5)
        second.drain(INTERVAL)
        got = [(e["kind"], e["sessionId"]) for e in map(event, second.seen) if e]
        assert ("CREATED", a) not in got
        assert len(got) == len(set(got))
    finally:
        second.close()


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_a_provider_down_two_polls_is_one_error_not_a_false_ended(
    stack: LiveStack, transport: str
) -> None:
    client = Client(options(stack, transport))
    try:
        started(client)
        stack.mocks.set_fault("KRATOS", FaultPlan(Fault.UNAVAILABLE))
        try:
            problem = client.wait_for(lambda line: error_code(line) is not None, DUE + 10)
            assert error_code(problem) == "UPSTREAM_UNAVAILABLE"
            assert problem["payload"]["errors"][0]["extensions"]["provider"] == "KRATOS"
            during = client.drain(3 * INTERVAL)  # two more polls, and then some
        finally:
            stack.mocks.clear_faults()
        after = client.drain(3 * INTERVAL)
        assert [error_code(line) for line in during + after if error_code(line)] == []
        ended = [e for e in map(event, during + after) if e and e["kind"] == "ENDED"]
        assert ended == []
        _, fresh = new_session(stack)
        client.wait_for(is_event("CREATED", fresh), DUE + 5)  # and it carries on
    finally:
        client.close()


def test_websocket_without_valid_credentials_gets_nothing(stack: LiveStack) -> None:
    for params in ({}, {"X-API-Key": "wrong"}):
        client = Client({**options(stack, "ws"), "connectionParams": params})
        try:
            closed = client.wait_for(lambda line: line.get("kind") in {"closed", "error"}, 15)
            assert closed.get("code") == 4403 or closed.get("error", {}).get("code") == 4403
            assert not any(event(line) for line in client.seen)
        finally:
            client.close()


def test_sse_without_credentials_is_refused(stack: LiveStack) -> None:
    client = Client({**options(stack, "sse"), "headers": {}})
    try:
        line = client.wait_for(lambda line: line.get("kind") == "error", 15)
        assert "401" in json.dumps(line)
    finally:
        client.close()


def test_queries_over_websocket_are_refused_with_a_code(stack: LiveStack) -> None:
    client = Client(options(stack, "ws", "query { providers { name } }"))
    try:
        line = client.wait_for(lambda line: line.get("kind") == "error", 15)
        assert "BAD_REQUEST" in json.dumps(line)
    finally:
        client.close()


def test_expired_jwt_ends_the_stream_with_a_code(stack: LiveStack) -> None:
    token = JWT_KEY.token(lifetime=2, sub="ops-jwt", scope="sessions:read:all")
    params = {"Authorization": f"Bearer {token}"}
    client = Client({**options(stack, "ws"), "connectionParams": params})
    try:
        client.wait_for(lambda line: line.get("kind") == "open", 15)
        line = client.wait_for(lambda line: error_code(line) is not None, 30)
        assert error_code(line) == "UNAUTHENTICATED"
        client.wait_for(lambda line: line.get("kind") == "complete", 10)
    finally:
        client.close()


def test_idle_streams_get_heartbeats(stack: LiveStack) -> None:
    quiet = "subscription { sessionEvents(filter: {providers: [HYPERID]}) { kind } }"

    async def sse() -> list[bytes]:
        headers = {"Accept": "text/event-stream", "X-API-Key": KEY}
        async with (
            aiohttp.ClientSession() as session,
            session.post(stack.url, json={"query": quiet}, headers=headers) as response,
        ):
            return [await asyncio.wait_for(response.content.readline(), 10) for _ in range(4)]

    async def ws() -> dict[str, Any]:
        url = stack.url.replace("http://", "ws://")
        async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
            await socket.send(
                json.dumps({"type": "connection_init", "payload": {"X-API-Key": KEY}})
            )
            assert json.loads(await socket.recv()) == {"type": "connection_ack"}
            message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 10))
            return message

    lines = asyncio.run(sse())
    assert lines[0] == b": connected\n"
    assert b": ping\n" in lines  # GATEWAY_HEARTBEAT_INTERVAL=1 here
    assert asyncio.run(ws()) == {"type": "ping"}
