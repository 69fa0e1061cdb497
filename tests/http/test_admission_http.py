"""Admission control over real HTTP: a BFF alone is served whole; competing callers share.

The gateway runs under uvicorn against mock upstreams made slow, so requests pile up in the
gateway as they would in front of distant upstreams; the counts asserted come from the answers
and from the gateway's own /metrics, never from timings.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.mocks import Fault, FaultPlan
from tests.support.digest import sha256
from tests.support.live import LiveStack

pytestmark = pytest.mark.server

BFF = "bff-key-0123456789"
OTHER = "other-bff-key-0123456789"
QUERY = "{ sessions(first: 5, filter: {providers: [KRATOS]}) { nodes { id } } }"


def _keys() -> str:
    return json.dumps(
        [
            {
                "name": name,
                "key_sha256": sha256(key),
                "scopes": ["sessions:read:all"],
            }
            for name, key in (("bff", BFF), ("other-bff", OTHER))
        ]
    )


def _stack(delay: float, **env: str) -> Iterator[LiveStack]:
    settings = {"GATEWAY_ALLOW_ANONYMOUS": "false", "GATEWAY_API_KEYS": _keys(), **env}
    with LiveStack(env=settings) as live:
        live.mocks.set_fault("KRATOS", FaultPlan(Fault.SLOW, delay=delay))
        yield live


@pytest.fixture
def defaults() -> Iterator[LiveStack]:
    """Every admission setting at its default."""
    yield from _stack(0.1)


@pytest.fixture
def wide() -> Iterator[LiveStack]:
    """Upstream calls not limited per provider, so the gateway's slots are what binds; waits
    long enough that only the order of answers, not a busy test machine, decides the test."""
    yield from _stack(0.3, GATEWAY_UPSTREAM_CONCURRENCY="256", GATEWAY_ADMISSION_WAIT="20")


def _client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
    )


async def _query(session: aiohttp.ClientSession, live: LiveStack, key: str) -> int:
    headers = {"X-API-Key": key}
    async with session.post(live.url, json={"query": QUERY}, headers=headers) as answer:
        body = await answer.json()
        if answer.status == 200:
            assert "errors" not in body, body
            assert len(body["data"]["sessions"]["nodes"]) == 5
        return answer.status


async def _metric(
    session: aiohttp.ClientSession, live: LiveStack, name: str, **labels: str
) -> float:
    async with session.get(live.url.removesuffix("/graphql") + "/metrics") as answer:
        text = await answer.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_one_caller_at_concurrency_64_is_served_whole_with_the_defaults(
    defaults: LiveStack,
) -> None:
    async with _client() as session:
        statuses = await asyncio.gather(*(_query(session, defaults, BFF) for _ in range(64)))
        waited = await _metric(
            session, defaults, "gateway_admission_wait_seconds_count", outcome="admitted"
        )
        shed = await _metric(session, defaults, "gateway_requests_shed_total")

    assert statuses == [200] * 64
    assert waited > 0  # more requests than slots: some waited for one, none was refused
    assert shed == 0


async def test_two_callers_competing_share_the_slots_and_neither_starves(wide: LiveStack) -> None:
    finished: list[tuple[str, int]] = []

    async def query(session: aiohttp.ClientSession, key: str) -> None:
        finished.append((key, await _query(session, wide, key)))

    async with _client() as session:
        # The first BFF fills every slot and half the queue...
        first = [asyncio.create_task(query(session, BFF)) for _ in range(64)]
        end = time.monotonic() + 30
        while await _metric(session, wide, "gateway_admission_queue_requests") < 16:
            assert time.monotonic() < end, "the first caller's requests never waited"
            await asyncio.sleep(0.01)
        # ...then the second sends as many while those wait.
        second = [asyncio.create_task(query(session, OTHER)) for _ in range(64)]
        await asyncio.gather(*first, *second)

    assert sorted(finished) == sorted([(BFF, 200)] * 64 + [(OTHER, 200)] * 64)
    # First come, first served would answer all of the first caller's 64 before any of the
    # second's; a freed slot goes to the caller with fewer running, so the second is served
    # as soon as the first's running requests end.
    early = [key for key, _ in finished[:64]]
    assert early.count(OTHER) >= 8


@pytest.fixture
def one_slot() -> Iterator[LiveStack]:
    yield from _stack(1.0, GATEWAY_MAX_IN_FLIGHT="1")


async def test_a_waiting_request_whose_client_hangs_up_leaves_the_queue(
    one_slot: LiveStack,
) -> None:
    async with _client() as session:
        running = asyncio.create_task(_query(session, one_slot, BFF))
        end = time.monotonic() + 30
        while await _metric(session, one_slot, "gateway_requests_in_flight") < 1:
            assert time.monotonic() < end
            await asyncio.sleep(0.01)
        async with _client() as leaving:  # its own connection, closed while it waits
            waiting = asyncio.create_task(_query(leaving, one_slot, OTHER))
            while await _metric(session, one_slot, "gateway_admission_queue_requests") < 1:
                assert time.monotonic() < end
                await asyncio.sleep(0.01)
            waiting.cancel()
        while await _metric(session, one_slot, "gateway_admission_queue_requests") > 0:
            assert time.monotonic() < end, "the request of a client that left is still waiting"
            await asyncio.sleep(0.01)
        gone = await _metric(
            session, one_slot, "gateway_admission_wait_seconds_count", outcome="disconnected"
        )
        assert await running == 200

    assert gone == 1
