"""200 SSE subscribers with one filter cost the upstreams what one subscriber costs."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from app.mocks import generate
from tests.support.live import LiveStack, get

pytestmark = pytest.mark.server

INTERVAL = 0.5
WINDOW = 4.0
QUERY = "subscription { sessionEvents(filter: {providers: [KRATOS, ZITADEL]}) { kind } }"


def gauge(stack: LiveStack, name: str) -> float:
    _, _, body = get(stack.url.removesuffix("/graphql") + "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


async def listen(
    session: aiohttp.ClientSession, url: str, opened: list[int], key: str | None = None
) -> None:
    headers = {"Accept": "text/event-stream", **({"X-API-Key": key} if key else {})}
    async with session.post(url, json={"query": QUERY}, headers=headers) as response:
        assert response.status == 200
        await response.content.readline()  # the stream's first comment: subscribed
        opened.append(1)
        async for _ in response.content:
            pass


def calls_during_window(
    stack: LiveStack, subscribers: int, keys: list[str | None] | None = None, pollers: int = 1
) -> dict[str, int]:
    """Upstream calls per provider in WINDOW seconds with `subscribers` open streams (using
    `keys` in turn), which `pollers` poll loops serve."""
    keys = keys or [None]

    async def run() -> dict[str, int]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            opened: list[int] = []
            tasks = [
                asyncio.create_task(listen(session, stack.url, opened, keys[i % len(keys)]))
                for i in range(subscribers)
            ]
            deadline = time.monotonic() + 60
            while len(opened) < subscribers:
                assert time.monotonic() < deadline, f"{len(opened)} of {subscribers} subscribed"
                assert not any(t.done() for t in tasks), [t.exception() for t in tasks if t.done()]
                await asyncio.sleep(0.05)
            await asyncio.sleep(2 * INTERVAL)  # the watch has its baseline
            assert gauge(stack, "gateway_live_subscriptions") == subscribers
            assert gauge(stack, "gateway_live_pollers") == pollers
            stack.reset_calls()
            await asyncio.sleep(WINDOW)
            counted = {p: len(stack.calls(p)) for p in ("KRATOS", "ZITADEL", "PRIVX")}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return counted

    return asyncio.run(run())


def test_200_sse_subscribers_share_one_poller() -> None:
    env = {"GATEWAY_POLL_INTERVAL": str(INTERVAL), "GATEWAY_MAX_SUBSCRIPTIONS_PER_CALLER": "500"}
    with LiveStack(env=env) as stack:
        one = calls_during_window(stack, 1)
        many = calls_during_window(stack, 200)
    # At most one poll per interval (less 10% jitter) and one listing per poll at each provider.
    most = int(WINDOW / (INTERVAL * 0.9)) + 1
    assert 1 <= one["KRATOS"] <= most
    assert 1 <= many["KRATOS"] <= most
    for provider in ("KRATOS", "ZITADEL"):
        assert abs(many[provider] - one[provider]) <= 2, (one, many)
    assert one["PRIVX"] == many["PRIVX"] == 0  # outside the filter: never asked


def test_scoped_subscribers_cost_one_listing_per_user_per_interval() -> None:
    data = generate()
    users = sorted({s["identity"]["id"] for s in data.kratos})[:10]
    keys = [f"user-key-{i}" for i in range(len(users))]
    entries = [
        {"name": f"user{i}", "key": key, "users": [{"provider": "KRATOS", "id": user}]}
        for i, (key, user) in enumerate(zip(keys, users, strict=True))
    ]
    env = {
        "GATEWAY_POLL_INTERVAL": str(INTERVAL),
        "GATEWAY_ALLOW_ANONYMOUS": "false",
        "GATEWAY_API_KEYS": json.dumps(entries),
    }
    with LiveStack(data, env=env) as stack:
        counted = calls_during_window(stack, 50, list(keys), pollers=len(users))
    # Each user's watch lists that user's sessions at Kratos once per poll, and asks no one else.
    most = int(WINDOW / (INTERVAL * 0.9)) + 1
    assert len(users) <= counted["KRATOS"] <= len(users) * most
    assert counted["ZITADEL"] == counted["PRIVX"] == 0
