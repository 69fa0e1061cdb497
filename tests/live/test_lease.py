"""The lease and the fenced publish against a real redis-server, in process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from app.core.records import Provider
from app.live import codec
from app.live.bus import Bus, Outgoing
from app.live.events import EventKind, SessionChange
from app.live.lease import Lease
from app.state.shared import Shared
from tests.support.net import free_port
from tests.support.redis_server import RedisServer, needs_redis

pytestmark = [pytest.mark.server, needs_redis]

TTL = 1.5  # long beside a stall between two calls of a test on a busy machine


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    found = RedisServer(free_port())
    found.start()
    yield found
    found.stop()


@pytest.fixture
async def shared(server: RedisServer) -> AsyncIterator[Shared]:
    found = Shared(f"redis://127.0.0.1:{server.port}/0", timeout=3)
    assert found.client is not None
    await found.client.flushdb()
    yield found
    await found.close()


def change(global_id: str) -> Outgoing:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    outgoing = Outgoing()
    ended = SessionChange(EventKind.ENDED, Provider.PRIVX, global_id, at, None)
    outgoing.change(codec.dump_change(ended), global_id, None)
    return outgoing


async def test_one_holder_at_a_time_and_a_lapsed_lease_is_taken(shared: Shared) -> None:
    a = Lease(shared, "gateway:live:w:lease", "a", TTL)
    b = Lease(shared, "gateway:live:w:lease", "b", TTL)
    assert await a.hold()
    assert not await b.hold()
    assert await a.hold()  # renewed
    await asyncio.sleep(TTL * 2.5)  # a stops renewing: it died
    assert await b.hold()
    assert not await a.hold()
    await b.release()
    assert await a.hold()


async def test_a_replica_that_lost_the_lease_publishes_nothing(shared: Shared) -> None:
    lease = "gateway:live:w:lease"
    a, b = Bus(shared, "a", 10, 60, 0.1), Bus(shared, "b", 10, 60, 0.1)
    assert await Lease(shared, lease, "b", 30).hold()
    refused = await a.publish("w", change("g1"), fenced=True, lease=lease, lease_ttl=TTL)
    assert refused is None
    published = await b.publish("w", change("g2"), fenced=True, lease=lease, lease_ttl=TTL)
    assert published is not None
    revoked = await a.publish("w", change("g3"), fenced=False, lease=lease, lease_ttl=TTL)
    assert revoked is not None
    joined = await a.join("w")
    sequences = [e.sequence for e in joined.entries]
    assert sequences == published[1] + revoked[1]  # the shared counter, in order
    bodies = [codec.load_change(e.change or b"", e.sequence).global_id for e in joined.entries]
    assert bodies == ["g2", "g3"]
    assert joined.epoch == published[0] == revoked[0]
    await a.close()
    await b.close()
