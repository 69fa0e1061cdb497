"""Three gateways sharing one redis-server poll each watch once and deliver it everywhere.

A real redis-server, the mock upstreams on a thread, three `serve` processes with the same
GATEWAY_REDIS_URL. One organisation-wide subscription on each (SSE); sessions are created and
ended at the mock Kratos; the replica polling the watch is killed mid-run.
"""

from __future__ import annotations

import json
import os
import queue
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.core import ids
from app.core.records import Provider
from app.mocks.churn import create_session, end_session
from tests.support.gateways import Gateway, SseSubscriber, ThreadedMocks
from tests.support.mode import FAST_PATH
from tests.support.net import free_port
from tests.support.redis_server import RedisServer, needs_redis

pytestmark = [pytest.mark.server, needs_redis]

KEY = "replica-live-key"
HEADERS = {"X-API-Key": KEY}
INTERVAL = 1.0
WAIT = 60.0  # generous: three gateways, the mocks and Redis share a busy machine
QUERY = "subscription { sessionEvents { kind sessionId cursor } }"  # every provider


class Watcher:
    """What one subscriber has received, across a resume on another replica."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.sub = SseSubscriber(gateway.url + "/graphql", QUERY, HEADERS)
        self.events: list[tuple[str, str]] = []
        self.problems: list[str] = []
        self.cursor: str | None = None
        self.ended = False

    def resume(self, gateway: Gateway) -> None:
        self.sub.close()
        self.gateway = gateway
        self.sub = SseSubscriber(gateway.url + "/graphql", QUERY, HEADERS, self.cursor)
        self.ended = False

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.ended and (left := end - time.monotonic()) > 0:
            try:
                item = self.sub.items.get(timeout=left)
            except queue.Empty:
                return
            if item is None:
                self.ended = True
                return
            payload, cursor = item
            if payload.get("errors"):
                self.problems.append(payload["errors"][0]["extensions"]["code"])
                continue
            event = payload["data"]["sessionEvents"]
            self.events.append((event["kind"], event["sessionId"]))
            self.cursor = cursor

    def wait_until(self, done: Callable[[Watcher], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not done(self):
            assert not self.ended, f"the stream ended; saw {self.problems}"
            assert time.monotonic() < deadline, f"not yet; saw {self.problems}"
            self.pump(0.5)

    def wait_for(self, kind: str, session_id: str) -> None:
        deadline = time.monotonic() + WAIT
        while (kind, session_id) not in self.events:
            assert not self.ended, f"the stream ended; saw {self.events[-5:]}"
            assert time.monotonic() < deadline, f"no {kind} {session_id}; saw {self.events[-5:]}"
            self.pump(0.5)


def post(gateway: Gateway, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{gateway.url}/graphql",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **HEADERS},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def kratos_id(session: dict[str, Any]) -> str:
    return ids.encode(ids.SESSION, Provider.KRATOS, session["id"])


@pytest.fixture
def stack() -> Iterator[tuple[list[Gateway], ThreadedMocks, RedisServer]]:
    server = RedisServer(free_port())
    server.start()
    keys = [{"name": "ops", "key": KEY, "scopes": ["sessions:read:all", "sessions:revoke:all"]}]
    gateways: list[Gateway] = []
    try:
        with ThreadedMocks() as mocks:
            env = {
                **os.environ,
                "GATEWAY_FAST_PATH": str(FAST_PATH).lower(),
                **mocks.mocks.gateway_env(),
                "GATEWAY_CURSOR_SECRET": "replicas-share-this",
                "GATEWAY_API_KEYS": json.dumps(keys),
                "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{server.port}/0",
                "GATEWAY_REDIS_TIMEOUT": "3",
                "GATEWAY_POLL_INTERVAL": str(INTERVAL),
                "GATEWAY_RATE_LIMIT": "10000/minute",
            }
            try:
                gateways = [Gateway(env) for _ in range(3)]
                for gateway in gateways:
                    gateway.wait_healthy()
                yield gateways, mocks, server
            finally:
                for gateway in gateways:
                    gateway.stop()
    finally:
        server.stop()


def polling(gateway: Gateway) -> None:
    """Wait until `gateway` polls the watch, and past its first poll (the starting point)."""
    deadline = time.monotonic() + WAIT
    while gateway.metric("gateway_live_leases") != 1:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(2 * INTERVAL)


def calls_in(mocks: ThreadedMocks, intervals: int) -> int:
    before = mocks.upstream_calls()
    time.sleep(intervals * INTERVAL)
    return mocks.upstream_calls() - before


def test_one_replica_polls_all_deliver_and_a_killed_poller_is_replaced(
    stack: tuple[list[Gateway], ThreadedMocks, RedisServer],
) -> None:
    gateways, mocks, _ = stack
    data = mocks.mocks.data
    first = Watcher(gateways[0])
    polling(gateways[0])
    s0 = kratos_id(mocks.call(lambda: create_session(data)))
    first.wait_for("CREATED", s0)
    one = calls_in(mocks, 6)

    watchers = [first, Watcher(gateways[1]), Watcher(gateways[2])]
    made = mocks.call(lambda: create_session(data))
    s1 = kratos_id(made)
    for watcher in watchers:
        watcher.wait_for("CREATED", s1)
    three = calls_in(mocks, 6)
    # One poller for the three: the same calls per interval (give or take jitter), not three
    # times as many.
    assert 0 < three < one * 1.6, (one, three)
    leases = [g.metric("gateway_live_leases") for g in gateways]
    assert sorted(leases) == [0, 0, 1], leases
    holder = gateways[leases.index(1)]

    s2 = kratos_id(mocks.call(lambda: create_session(data)))
    for watcher in watchers:
        watcher.pump(0.2)
    holder.kill()
    survivors = [g for g in gateways if g is not holder]
    assert mocks.call(lambda: end_session(data, made["id"]))
    s3 = kratos_id(mocks.call(lambda: create_session(data)))

    for watcher in watchers:
        if watcher.gateway is holder:
            while not watcher.ended:
                watcher.pump(1.0)
            watcher.resume(survivors[0])  # its cursor resumes on another replica
    for watcher in watchers:
        for kind, session in (("CREATED", s2), ("CREATED", s3), ("ENDED", s1)):
            watcher.wait_for(kind, session)
        watcher.pump(3 * INTERVAL)
    for watcher in watchers:
        counts = Counter(watcher.events)
        for session in (s1, s2, s3):
            assert counts["CREATED", session] == 1, (session, watcher.events)
        assert counts["ENDED", s1] == 1
        assert [e for e, n in counts.items() if n > 1] == []
        assert "EVENTS_LOST" not in watcher.problems
        assert "REPLAY_INCOMPLETE" not in watcher.problems
    assert Counter(first.events)["CREATED", s0] == 1
    assert sorted(g.metric("gateway_live_leases") for g in survivors) == [0, 1]
    for watcher in watchers:
        watcher.sub.close()


def test_with_redis_down_the_holder_keeps_polling_and_subscribers_are_told(
    stack: tuple[list[Gateway], ThreadedMocks, RedisServer],
) -> None:
    gateways, mocks, server = stack
    data = mocks.mocks.data
    holder = Watcher(gateways[0])
    polling(gateways[0])
    other = Watcher(gateways[1])
    s0 = kratos_id(mocks.call(lambda: create_session(data)))
    for watcher in (holder, other):
        watcher.wait_for("CREATED", s0)

    # Revoked through the replica that does not poll: ENDED on both.
    revoke = "mutation R($id: ID!) { revokeSession(id: $id) { __typename } }"
    answer = post(gateways[1], {"query": revoke, "variables": {"id": s0}})
    assert answer["data"]["revokeSession"]["__typename"] == "SessionRevoked", answer
    for watcher in (holder, other):
        watcher.wait_for("ENDED", s0)

    # A poll's problem reaches the subscribers on the replica that does not poll too.
    mocks.run(mocks.mocks.stop_provider("PRIVX"))
    for watcher in (holder, other):
        watcher.wait_until(lambda w: any(p.startswith("UPSTREAM_") for p in w.problems))
    mocks.run(mocks.mocks.start_provider("PRIVX"))

    server.stop()
    s1 = kratos_id(mocks.call(lambda: create_session(data)))
    for watcher in (holder, other):
        watcher.wait_until(lambda w: "EVENTS_DELAYED" in w.problems)
    assert calls_in(mocks, 3) > 0  # the lease holder polls on
    assert gateways[0].metric("gateway_live_outbox") >= 1  # CREATED s1 waits for Redis

    server.start()  # empty: the stream and its sequence are gone
    for watcher in (holder, other):
        watcher.wait_for("CREATED", s1)
        watcher.pump(3 * INTERVAL)
        assert Counter(watcher.events)["CREATED", s1] == 1, watcher.events
        assert Counter(watcher.events)["CREATED", s0] == 1, watcher.events
        assert "EVENTS_LOST" in watcher.problems  # the old cursors cannot be honoured
    for watcher in (holder, other):
        watcher.sub.close()
