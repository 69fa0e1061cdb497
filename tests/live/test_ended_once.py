"""Two hubs sharing a real redis-server, in process: a session revoked through the replica
that does not poll, while the holder's poll also finds it ended, is ENDED once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from app.core import ids
from app.core.records import Provider, SessionRecord, SessionStatus, UserRecord
from app.listing.filter import SessionFilter
from app.listing.streams import LocalStream, Stream
from app.live.events import EventKind, SessionChange
from app.live.hub import Hub, LiveConfig, Subscription
from app.state.shared import Shared
from app.upstream.health import ProviderHealth
from app.upstream.provider import RequestScope, SessionProvider
from app.upstream.providers.hyperid.records import HyperIdExtras
from app.upstream.revocations import Revoked
from app.upstream.upstreams import Upstreams
from tests.support.net import free_port
from tests.support.redis_server import RedisServer, needs_redis

pytestmark = [pytest.mark.server, needs_redis]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EXTRAS = HyperIdExtras(None, None, None, None, None, None, None, None)
# Polls only when the test says: the first poll, then `poll` by hand.
CONFIG = LiveConfig(interval=3600.0, grace=3600.0)


def record(native: str, minute: int) -> SessionRecord:
    return SessionRecord(
        provider=Provider.KRATOS,
        native_id=native,
        global_id=ids.encode(ids.SESSION, Provider.KRATOS, native),
        status=SessionStatus.ACTIVE,
        created_at=T0 + timedelta(minutes=minute),
        extras=EXTRAS,
        user=UserRecord(Provider.KRATOS, "u1"),
    )


class Upstream:
    """One upstream's sessions, listed whole (one page) to every replica."""

    provider = Provider.KRATOS

    def __init__(self) -> None:
        self.records = [record("a", 0), record("b", 1)]

    def streams(
        self, session_filter: SessionFilter, *, descending: bool, scope: RequestScope
    ) -> list[Stream]:
        async def load() -> Sequence[SessionRecord]:
            return list(self.records)

        return [LocalStream("fake", self.provider, load, None, descending=descending)]


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    found = RedisServer(free_port())
    found.start()
    yield found
    found.stop()


@pytest.fixture
async def shared(server: RedisServer) -> AsyncIterator[list[Shared]]:
    """Each replica's own connection to the one Redis."""
    made = [Shared(f"redis://127.0.0.1:{server.port}/0", timeout=3) for _ in range(2)]
    assert made[0].client is not None
    await made[0].client.flushdb()
    yield made
    for one in made:
        await one.close()


def hub(upstream: Upstream, shared: Shared) -> Hub:
    providers = cast("dict[Provider, SessionProvider]", {upstream.provider: upstream})
    upstreams = Upstreams(providers, {p: ProviderHealth() for p in Provider})
    return Hub(upstreams, CONFIG, shared=shared)


async def until(done: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while not cast("bool", done() if callable(done) else done):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def test_a_revoke_through_the_other_replica_racing_the_poll_is_ended_once(
    shared: list[Shared],
) -> None:
    upstream = Upstream()
    holder, other = hub(upstream, shared[0]), hub(upstream, shared[1])
    await holder.start()
    await other.start()
    try:
        on_holder = holder.subscribe("c", SessionFilter())
        watch = on_holder.watch
        assert holder.replication is not None
        await until(lambda: holder.replication.replica(watch).polling, "the holder never polled")
        await until(lambda: watch.polled, "the first poll never ended")
        on_other = other.subscribe("c", SessionFilter())
        theirs = on_other.watch
        assert other.replication is not None
        await until(lambda: other.replication.replica(theirs).joined, "the replica never joined")
        await until(lambda: Provider.KRATOS in theirs.trackers, "the replica has no state")

        # The race: the holder has not read the other replica's ENDED when its poll finds the
        # session gone, so both publish one.
        reader = holder.replication._reader
        assert reader is not None
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        upstream.records = [r for r in upstream.records if r.native_id != "a"]
        await other.upstreams.revocations.publish(Revoked(Provider.KRATOS, ("a",)))
        await holder.poll(watch)
        await holder.replication.flush(watch)
        holder.replication._reader = asyncio.create_task(holder.replication._read())

        a = ids.encode(ids.SESSION, Provider.KRATOS, "a")
        seen: dict[Subscription, list[str]] = {on_holder: [], on_other: []}

        def read() -> None:
            for sub, ended in seen.items():
                ended += [
                    i.global_id
                    for i in sub.ready()
                    if isinstance(i, SessionChange) and i.kind is EventKind.ENDED
                ]

        def each_has_one() -> bool:
            read()
            return all(seen.values())

        await until(each_has_one, "the ENDED never arrived")
        await asyncio.sleep(1.5)  # a second ENDED, were one coming, arrives meanwhile
        read()
        assert seen == {on_holder: [a], on_other: [a]}
    finally:
        await holder.close()
        await other.close()
