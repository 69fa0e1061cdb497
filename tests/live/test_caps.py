"""Subscription caps, poller budgets and rate limits over the wire: past them, a coded error
instead of a stream."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from app.state.ratelimit import RateLimiter
from tests.support.live import LiveStack, get

pytestmark = pytest.mark.server

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


# -- pollers (watches) and the rate limit, over WebSocket as over SSE

WS_PROTOCOL = [Subprotocol("graphql-transport-ws")]
COSTLY = (
    "subscription { sessionEvents(filter: {providers: [KRATOS]}) "
    "{ kind sessionId provider at cursor session { nativeId status } } }"
)  # priced at 9


def identity(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def watching(n: int) -> str:
    """A subscription with a filter of its own: one Kratos identity's sessions."""
    user = f'{{provider: KRATOS, nativeId: "{identity(n)}"}}'
    return f"subscription {{ sessionEvents(filter: {{users: [{user}]}}) {{ kind }} }}"


def gauge(stack: LiveStack, name: str) -> float:
    _, _, body = get(stack.url.removesuffix("/graphql") + "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


async def until(test: Callable[[], bool], what: str) -> None:
    """Wait for a state of the gateway (a generous bound for a busy machine)."""
    deadline = time.monotonic() + 30
    while not test():
        assert time.monotonic() < deadline, f"not {what} within 30 s"
        await asyncio.sleep(0.05)


async def subscriptions(stack: LiveStack, count: int) -> None:
    """Wait until the gateway holds `count` open subscriptions."""
    await until(lambda: gauge(stack, "gateway_live_subscriptions") == count, f"{count} open")


async def opened(stack: LiveStack) -> ClientConnection:
    socket = await connect(stack.url.replace("http://", "ws://"), subprotocols=WS_PROTOCOL)
    await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await socket.recv()) == {"type": "connection_ack"}
    return socket


async def subscribe(socket: ClientConnection, id: str, query: str) -> None:
    await socket.send(json.dumps({"id": id, "type": "subscribe", "payload": {"query": query}}))


async def complete(socket: ClientConnection, id: str) -> None:
    await socket.send(json.dumps({"id": id, "type": "complete"}))


async def reply(socket: ClientConnection) -> dict[str, Any]:
    """The next message that is not a ping (within a generous bound)."""
    async with asyncio.timeout(30):
        while True:
            message: dict[str, Any] = json.loads(await socket.recv())
            if message["type"] != "ping":
                return message


async def still_open(socket: ClientConnection) -> None:
    await socket.send(json.dumps({"type": "ping"}))
    assert await reply(socket) == {"type": "pong"}


def test_churning_filters_keep_a_callers_pollers_in_budget() -> None:
    env = {
        "GATEWAY_MAX_WATCHES_PER_CALLER": "3",
        "GATEWAY_POLL_INTERVAL": "0.5",
        "GATEWAY_POLL_GRACE": "600",  # every watch would outlive the test without the budget
    }
    with LiveStack(env=env) as stack:

        async def run() -> set[str]:
            socket = await opened(stack)
            for n in range(10):
                await subscribe(socket, str(n), watching(n))
                await subscriptions(stack, 1)
                await complete(socket, str(n))
                await subscriptions(stack, 0)
            assert gauge(stack, "gateway_live_pollers") == 3
            stack.reset_calls()
            last = {identity(n) for n in (7, 8, 9)}
            await until(lambda: polled(stack) >= last, "polled by the last three watches")
            await asyncio.sleep(1.0)  # two more intervals: a poller left running would show
            await still_open(socket)
            await socket.close()
            return polled(stack)

        assert asyncio.run(run()) == {identity(n) for n in (7, 8, 9)}


def polled(stack: LiveStack) -> set[str]:
    """The Kratos identities whose sessions were listed since the last reset."""
    paths = (call.path for call in stack.calls("KRATOS"))
    return {p.split("/")[3] for p in paths if p.startswith("/admin/identities/")}


def test_a_new_filter_past_a_budget_of_busy_watches_is_refused() -> None:
    with LiveStack(env={"GATEWAY_MAX_WATCHES_PER_CALLER": "2"}) as stack:

        async def run() -> dict[str, Any]:
            socket = await opened(stack)
            for n in (1, 2):
                await subscribe(socket, str(n), watching(n))
                await subscriptions(stack, n)
            await subscribe(socket, "3", watching(3))
            refused = await reply(socket)
            assert gauge(stack, "gateway_live_pollers") == 2  # it started nothing
            # The socket and its subscriptions carry on; one closed, its idle watch makes room.
            await complete(socket, "1")
            await subscriptions(stack, 1)
            await subscribe(socket, "4", watching(3))
            await subscriptions(stack, 2)
            assert gauge(stack, "gateway_live_pollers") == 2
            await socket.close()
            return refused

        refused = asyncio.run(run())
    assert refused["type"] == "error"
    assert refused["id"] == "3"
    (error,) = refused["payload"]
    assert error["extensions"]["code"] == "TOO_MANY_WATCHES"
    assert "maximum of 2 watches" in error["message"]


def sse_refusal(stack: LiveStack, query: str) -> tuple[int, dict[str, Any]]:
    async def run() -> tuple[int, dict[str, Any]]:
        headers = {"Accept": "text/event-stream"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(stack.url, json={"query": query}, headers=headers) as response,
        ):
            return response.status, await response.json()

    return asyncio.run(run())


def without_seconds(error: dict[str, Any]) -> dict[str, Any]:
    return {**error, "message": re.sub(r"\d+ s\b", "N s", error["message"])}


def test_websocket_subscribes_count_on_the_rate_limit_as_sse() -> None:
    with LiveStack(env={"GATEWAY_RATE_LIMIT": "3/minute"}) as stack:

        async def run() -> dict[str, Any]:
            headers = {"Accept": "text/event-stream"}
            async with (
                aiohttp.ClientSession() as session,
                session.post(stack.url, json={"query": QUERY}, headers=headers) as sse,
            ):
                assert await sse.content.readline() == b": connected\n"  # request 1
            socket = await opened(stack)
            for n in (2, 3):
                await subscribe(socket, str(n), QUERY)
                await subscriptions(stack, 1)
                await complete(socket, str(n))
                await subscriptions(stack, 0)
            await subscribe(socket, "4", QUERY)
            refused = await reply(socket)
            await still_open(socket)
            await socket.close()
            return refused

        refused = asyncio.run(run())
        status, body = sse_refusal(stack, QUERY)
    assert (refused["type"], refused["id"]) == ("error", "4")
    (error,) = refused["payload"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert status == 429
    assert without_seconds(error) == without_seconds(body["errors"][0])


def cost_left(stack: LiveStack) -> float:
    """What the gateway's limiter has left of this machine's cost budget: a stream is charged
    as it ends, just after the client sees it end, so a test waits for the charge here."""
    assert stack.app is not None
    limiter = next(m.kwargs["limiter"] for m in stack.app.user_middleware if "limiter" in m.kwargs)
    assert isinstance(limiter, RateLimiter)
    assert limiter.cost_budget is not None
    window = limiter.strategy.get_window_stats(limiter.cost_budget, "cost", "address:127.0.0.1")
    return stack.run(window).remaining


def test_websocket_subscriptions_spend_the_cost_budget_as_sse() -> None:
    with LiveStack(env={"GATEWAY_COST_BUDGET": "5/hour"}) as stack:

        async def run() -> dict[str, Any]:
            socket = await opened(stack)
            await subscribe(socket, "1", COSTLY)
            await subscriptions(stack, 1)
            assert cost_left(stack) == 5  # charged when it ends, as an SSE stream is
            await complete(socket, "1")
            await until(lambda: cost_left(stack) == 0, "charged")
            await subscribe(socket, "2", COSTLY)
            refused = await reply(socket)
            await socket.close()
            return refused

        refused = asyncio.run(run())
        status, body = sse_refusal(stack, COSTLY)
    (error,) = refused["payload"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert "query cost" in error["message"]
    assert status == 429
    assert without_seconds(error) == without_seconds(body["errors"][0])
