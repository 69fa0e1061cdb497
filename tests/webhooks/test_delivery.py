"""Webhooks end to end: the gateway under uvicorn, the mock upstreams, and a receiver on
loopback that verifies every delivery with the standardwebhooks library.

Sessions begin and end at the mock Kratos (app/mocks/churn.py) or are revoked through the
gateway; the receiver fails its first deliveries in each way a receiver fails and must still end
with every event exactly once after deduplicating by webhook-id.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
import redis

from app.core import ids
from app.core.records import Provider
from app.mocks.churn import create_session, end_session
from tests.support.live import LiveStack, post
from tests.support.net import free_port
from tests.support.redis_server import RedisServer, needs_redis
from tests.support.webhook_receiver import RETRY_AFTER_SECONDS, SECRET, Receiver

pytestmark = pytest.mark.server

# Short waits come from the settings: a poll well under a second, retries in tenths.
FAST = {
    "GATEWAY_POLL_INTERVAL": "0.3",
    "GATEWAY_WEBHOOK_TIMEOUT": "0.5",
    "GATEWAY_WEBHOOK_RETRY_FIRST": "0.05",
    "GATEWAY_WEBHOOK_RETRY_MOST": "0.2",
}


def webhooks(url: str, **entry: object) -> str:
    return json.dumps(
        [{"url": url, "secret": SECRET, "filter": {"providers": ["KRATOS"]}, **entry}]
    )


def watching(stack: LiveStack) -> None:
    """Wait until the webhooks' watch has its first snapshot: changes after it are events."""
    end = time.monotonic() + 30
    while len(stack.calls("KRATOS")) < 2:
        assert time.monotonic() < end, "the webhooks' watch never polled"
        time.sleep(0.05)


def begin(stack: LiveStack) -> tuple[str, str]:
    """A session begun at the mock Kratos now: (native id, global id)."""

    async def create() -> str:
        return str(create_session(stack.mocks.data)["id"])

    native = stack.run(create())
    return native, ids.encode(ids.SESSION, Provider.KRATOS, native)


def end(stack: LiveStack, native: str) -> None:
    async def run() -> bool:
        return end_session(stack.mocks.data, native)

    assert stack.run(run())


def metric(stack: LiveStack, name: str) -> float:
    """The sum of a metric's samples in the gateway's /metrics."""
    url = stack.url.replace("/graphql", "/metrics")
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + "{", name + " "))
    )


def test_every_event_arrives_once_in_order_after_failures(caplog: pytest.LogCaptureFixture) -> None:
    plan: list[str | int] = [500, "hang", "close", "retry-after"]
    with (
        Receiver(plan) as receiver,
        LiveStack(env={**FAST, "GATEWAY_WEBHOOKS": webhooks(receiver.url)}) as stack,
    ):
        watching(stack)
        first, first_id = begin(stack)
        _, second_id = begin(stack)
        receiver.wait(lambda r: {first_id, second_id} <= {d.session for d in r.unique().values()})
        end(stack, first)
        _, third_id = begin(stack)
        receiver.wait(lambda r: len(r.unique()) >= 4)
        # Revoked through the gateway: the hub's revocation reaches the webhooks too.
        revoke = "mutation($id: ID!) { revokeSession(id: $id) { __typename } }"
        answer = post(stack.url, revoke, {"id": third_id})
        assert answer["data"]["revokeSession"]["__typename"] == "SessionRevoked"
        receiver.wait(lambda r: len(r.unique()) >= 5)
        time.sleep(1.0)  # anything still to come (a duplicate, a stray event) arrives
        unique = receiver.unique()
        attempts = metric(stack, "gateway_webhook_deliveries_total")
        retries = metric(stack, "gateway_webhook_retries_total")

    events = sorted((d.type, d.session) for d in unique.values())
    assert events == sorted(
        [
            ("session.created", first_id),
            ("session.created", second_id),
            ("session.created", third_id),
            ("session.ended", first_id),
            ("session.ended", third_id),
        ]
    )
    assert receiver.bad_signatures == 0
    assert not receiver.plan  # every planned failure was met
    assert retries >= 4
    assert attempts >= 9  # 4 failed attempts, 5 delivered
    # In order per session: a session's CREATED was accepted before its ENDED.
    order = [(d.type, d.session) for d in receiver.accepted]
    for session in (first_id, third_id):
        assert order.index(("session.created", session)) < order.index(("session.ended", session))
    # The Retry-After answer was honoured: that message came back no sooner than asked.
    asked = receiver.requests[3]
    again = next(d for d in receiver.requests[4:] if d.id == asked.id)
    assert again.at - asked.at >= RETRY_AFTER_SECONDS * 0.9
    # The payload: Standard Webhooks' shape, the session's fields.
    created = next(d for d in unique.values() if d.session == first_id)
    assert created.payload["type"] == "session.created"
    assert created.payload["data"]["nativeId"] == first
    assert created.payload["data"]["provider"] == "KRATOS"
    assert created.payload["data"]["status"] == "ACTIVE"
    # Secrets stay out of logs: neither the signing secret nor the URL's query string.
    assert SECRET not in caplog.text
    assert "query-secret" not in caplog.text


def test_a_410_disables_the_endpoint(caplog: pytest.LogCaptureFixture) -> None:
    with (
        Receiver(then=410) as receiver,
        LiveStack(env={**FAST, "GATEWAY_WEBHOOKS": webhooks(receiver.url)}) as stack,
    ):
        watching(stack)
        begin(stack)
        receiver.wait(lambda r: len(r.requests) >= 1)
        deadline = time.monotonic() + 30
        while metric(stack, "gateway_webhook_dead_letters_total") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        begin(stack)
        deadline = time.monotonic() + 30
        while metric(stack, "gateway_webhook_dead_letters_total") < 2:
            assert time.monotonic() < deadline, "the later event was not dead-lettered"
            time.sleep(0.05)
    assert len(receiver.requests) == 1  # nothing was sent after the 410
    assert "answered 410 Gone: it is disabled" in caplog.text


@pytest.fixture
def redis_url() -> Iterator[str]:
    server = RedisServer(free_port())
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@needs_redis
def test_a_restart_loses_no_queued_message(redis_url: str) -> None:
    receiver = Receiver(then=503)
    env = {**FAST, "GATEWAY_REDIS_URL": redis_url}
    with receiver:
        env["GATEWAY_WEBHOOKS"] = webhooks(receiver.url)
        with LiveStack(env=env) as stack:
            watching(stack)
            made = {begin(stack)[1] for _ in range(3)}
            # Each was tried (and refused) at least once: read, so pending in Redis, not new.
            receiver.wait(lambda r: made <= {d.session for d in r.requests})
        assert not receiver.accepted
        receiver.then = 204
        # A new process over the same upstreams (what a restart is): the watch goes on from
        # its state in Redis, so only what the queue kept there reaches the receiver.
        with LiveStack(data=stack.mocks.data, env=env):
            receiver.wait(lambda r: made <= {d.session for d in r.unique().values()})
            time.sleep(1.0)
    assert sorted(d.session for d in receiver.unique().values()) == sorted(made)
    assert {d.type for d in receiver.accepted} == {"session.created"}
    client = redis.Redis.from_url(redis_url)
    streams = list(client.scan_iter("gateway:webhooks:*:stream"))
    assert [client.xlen(s) for s in streams] == [0]


def dead_letters(stack: LiveStack, at_least: int) -> None:
    deadline = time.monotonic() + 30
    while metric(stack, "gateway_webhook_dead_letters_total") < at_least:
        assert time.monotonic() < deadline, "no message was dead-lettered"
        time.sleep(0.05)


@needs_redis
def test_a_410_outlives_a_restart_until_the_url_changes(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(then=410)
    env = {**FAST, "GATEWAY_REDIS_URL": redis_url}
    with receiver:
        env["GATEWAY_WEBHOOKS"] = webhooks(receiver.url)
        with LiveStack(env=env) as stack:
            watching(stack)
            begin(stack)
            receiver.wait(lambda r: len(r.requests) >= 1)
            dead_letters(stack, 1)
        receiver.then = 204
        # A new process (what a restart is) keeps the endpoint disabled: nothing is sent.
        with LiveStack(data=stack.mocks.data, env=env) as again:
            watching(again)
            begin(again)
            dead_letters(again, 1)
        assert len(receiver.requests) == 1
        # A new URL (or secret) is a new endpoint: it is enabled.
        env["GATEWAY_WEBHOOKS"] = webhooks(receiver.url + "&v=2")
        with LiveStack(data=stack.mocks.data, env=env) as changed:
            watching(changed)
            _, made = begin(changed)
            receiver.wait(lambda r: made in {d.session for d in r.unique().values()})
    assert "answered 410 Gone before (recorded in Redis): it stays disabled" in caplog.text
    client = redis.Redis.from_url(redis_url)
    (record,) = client.scan_iter("gateway:webhooks:*:disabled")
    stored = client.get(record)
    assert isinstance(stored, bytes)
    assert SECRET.encode() not in stored  # a digest of the URL and secret, never the secret


@needs_redis
def test_replicas_deliver_each_event_once(redis_url: str) -> None:
    with Receiver() as receiver:
        env = {**FAST, "GATEWAY_REDIS_URL": redis_url, "GATEWAY_WEBHOOKS": webhooks(receiver.url)}
        with LiveStack(env=env) as one, LiveStack(env={**env, **one.mocks.gateway_env()}):
            watching(one)
            time.sleep(1.0)  # the second replica's watch has its snapshot too
            made = [begin(one) for _ in range(3)]
            receiver.wait(lambda r: len(r.unique()) >= 3)
            end(one, made[0][0])
            receiver.wait(lambda r: len(r.unique()) >= 4)
            time.sleep(1.0)
    # Both replicas saw every change; each message was queued and delivered once.
    assert len(receiver.accepted) == len(receiver.unique()) == 4


def test_a_hanging_receiver_fills_only_its_own_queue(caplog: pytest.LogCaptureFixture) -> None:
    env = {**FAST, "GATEWAY_WEBHOOK_QUEUE": "1", "GATEWAY_WEBHOOK_TIMEOUT": "30"}
    with Receiver(then="hang") as receiver:
        env["GATEWAY_WEBHOOKS"] = webhooks(receiver.url)
        with LiveStack(env=env) as stack:
            watching(stack)
            for _ in range(3):
                begin(stack)
            deadline = time.monotonic() + 30
            while metric(stack, "gateway_webhook_queue_full_total") < 2:
                assert time.monotonic() < deadline, "the full queue was never reported"
                time.sleep(0.05)
            # The gateway goes on answering while the receiver holds its one delivery.
            answer = post(stack.url, "{ sessions(first: 1) { totalCount } }")
            assert answer["data"]["sessions"]["totalCount"] > 0
            assert metric(stack, "gateway_webhook_queue_depth") == 1
            assert metric(stack, "gateway_webhook_dead_letters_total") == 2
    assert len(receiver.requests) == 1
    assert "its queue is full; new messages are dead-lettered" in caplog.text


@needs_redis
def test_messages_wait_in_the_process_while_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    server = RedisServer(free_port())
    server.start()
    try:
        with Receiver() as receiver:
            env = {
                **FAST,
                "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{server.port}/0",
                "GATEWAY_WEBHOOKS": webhooks(receiver.url),
            }
            with LiveStack(env=env) as stack:
                watching(stack)
                _, before = begin(stack)
                receiver.wait(lambda r: before in {d.session for d in r.unique().values()})
                server.stop()
                _, during = begin(stack)
                deadline = time.monotonic() + 30
                while "webhook messages wait in this process" not in caplog.text:
                    assert time.monotonic() < deadline, "the outage was never reported"
                    time.sleep(0.05)
                server.start()
                receiver.wait(lambda r: during in {d.session for d in r.unique().values()})
    finally:
        server.stop()
    assert "webhook messages held in this process are queued" in caplog.text
