"""Subscription caps over the wire: past them, a coded error instead of a stream."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.live import LiveStack

QUERY = "subscription { sessionEvents(filter: {providers: [KRATOS]}) { kind } }"


def test_a_caller_past_its_cap_gets_too_many_subscriptions() -> None:
    env = {"GATEWAY_MAX_SUBSCRIPTIONS_PER_CALLER": "2"}
    with LiveStack(env=env) as stack:

        async def run() -> tuple[list[bytes], list[bytes]]:
            headers = {"Accept": "text/event-stream"}
            async with aiohttp.ClientSession() as session:
                held = [
                    await session.post(stack.url, json={"query": QUERY}, headers=headers)
                    for _ in range(2)
                ]
                for response in held:
                    assert await response.content.readline() == b": connected\n"
                async with session.post(stack.url, json={"query": QUERY}, headers=headers) as third:
                    refused = [line async for line in third.content]
                held[0].close()
                await asyncio.sleep(0.5)  # the gateway notices the hang-up and frees the place
                async with session.post(stack.url, json={"query": QUERY}, headers=headers) as again:
                    admitted = [await again.content.readline()]  # only a stream says this
                held[1].close()
                return refused, admitted

        refused, admitted = asyncio.run(run())
    data = next(line for line in refused if line.startswith(b"data: {"))
    error = json.loads(data.removeprefix(b"data: "))["errors"][0]
    assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert b"event: complete\n" in refused
    assert admitted[0] == b": connected\n"
