"""Webhook queues in a real redis-server: one deliverer at a time, and a takeover loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from app.state.shared import Shared
from app.webhooks.message import Message
from app.webhooks.queue import MemoryQueue, Put, RedisQueue
from tests.support.net import free_port
from tests.support.redis_server import RedisServer, needs_redis

pytestmark = [pytest.mark.server, needs_redis]


def messages(count: int) -> list[Message]:
    return [Message(f"msg_{i}", f"s{i % 2}", "session.created", b"{}", 1.0) for i in range(count)]


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    server = RedisServer(free_port())
    server.start()
    yield server.port
    server.stop()


@pytest.fixture
async def shared(redis_port: int) -> AsyncIterator[Shared]:
    found = Shared(f"redis://127.0.0.1:{redis_port}/0", timeout=2.0)
    assert found.client is not None
    await found.client.flushall()
    yield found
    await found.close()


def queue(shared: Shared, bound: int = 100) -> RedisQueue:
    return RedisQueue(shared, "endpoint", bound, 3600, asyncio.Event())


async def test_replicas_queue_a_message_once_and_one_delivers(shared: Shared) -> None:
    one, two = queue(shared), queue(shared)
    for message in messages(3):
        assert await one.put(message) == Put.ADDED
        assert await two.put(message) == Put.DUPLICATE
    assert await one.lead()
    assert not await two.lead()  # one replica delivers an endpoint at a time
    taken = await one.take(10)
    assert [e.message.id for e in taken] == ["msg_0", "msg_1", "msg_2"]
    assert await one.take(10) == []
    await one.done(taken[0])
    assert await one.depth() == 2


async def test_a_takeover_claims_what_the_last_holder_never_finished(shared: Shared) -> None:
    one, two = queue(shared), queue(shared)
    for message in messages(4):
        await one.put(message)
    assert await one.lead()
    taken = await one.take(10)
    await one.done(taken[0])
    # `one` stops without a word (its lease runs out); `two` takes over.
    assert shared.client is not None
    await shared.client.delete("gateway:webhooks:endpoint:lease")
    assert await two.lead()
    await two.put(Message("msg_new", "s9", "session.created", b"{}", 1.0))
    found = [e.message.id for e in await two.take(10)]
    found += [e.message.id for e in await two.take(10)]
    assert found == ["msg_1", "msg_2", "msg_3", "msg_new"]


async def test_a_graceful_stop_hands_the_lease_on_at_once(shared: Shared) -> None:
    one, two = queue(shared), queue(shared)
    assert await one.lead()
    assert not await two.lead()
    await one.close()
    assert await two.lead()


async def test_queues_are_bounded() -> None:
    memory = MemoryQueue(2, asyncio.Event())
    results = [await memory.put(m) for m in messages(3)]
    assert results == [Put.ADDED, Put.ADDED, Put.FULL]
    assert await memory.put(messages(1)[0]) == Put.DUPLICATE


async def test_a_redis_queue_is_bounded(shared: Shared) -> None:
    bounded = queue(shared, bound=2)
    results = [await bounded.put(m) for m in messages(3)]
    assert results == [Put.ADDED, Put.ADDED, Put.FULL]
