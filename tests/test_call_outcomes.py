"""What each way a call can end does to the breaker and health: only the upstream's doing counts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.errors import (
    CallBudgetExceeded,
    RequestDeadline,
    UpstreamBadResponse,
    UpstreamTimeout,
)
from app.upstream import accounting, deadline
from app.upstream._http import Endpoint
from app.upstream.circuit import CircuitBreaker, CircuitState
from app.upstream.health import Health, ProviderHealth
from app.upstream.lag import LAG, LoopLag


@dataclass
class Upstream:
    """A loopback upstream: `/hang` never answers, `/flaky` answers 503 once, then 200."""

    url: str = ""
    seen: list[str] = field(default_factory=list)
    flaky: int = 0


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    state = Upstream()

    async def handler(request: web.Request) -> web.Response:
        name = request.path.strip("/")
        state.seen.append(name)
        if name == "hang":
            await asyncio.Event().wait()
        if name == "flaky" and state.flaky == 0:
            state.flaky += 1
            return web.Response(status=503, headers={"Retry-After": "1"})
        return web.json_response({"items": [1, 2]})

    app = web.Application()
    app.router.add_get("/{name}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        state.url = str(server.make_url("/"))
        yield state


def endpoint(
    session: aiohttp.ClientSession,
    upstream: Upstream,
    health: ProviderHealth,
    *,
    concurrency: int = 4,
    slow_call: float = 30.0,
) -> Endpoint:
    return Endpoint(
        session,
        provider="ZITADEL",
        base_url=upstream.url,
        headers={},
        health=health,
        concurrency=concurrency,
        slow_call=slow_call,
    )


def tripping() -> ProviderHealth:
    """Health whose circuit opens on the first failure it is told of."""
    return ProviderHealth(circuit=CircuitBreaker(failures=1, cooldown=60.0))


def half_open() -> ProviderHealth:
    """Health with an open circuit whose next call is the probe."""
    health = ProviderHealth(circuit=CircuitBreaker(failures=1, cooldown=0.0))
    health.circuit.allow()
    health.circuit.record(failed=True)
    return health


def body(payload: Any) -> Any:
    return payload


async def test_a_cancelled_probe_is_given_back_and_records_nothing(upstream: Upstream) -> None:
    health = half_open()
    async with aiohttp.ClientSession() as session:
        call = asyncio.ensure_future(endpoint(session, upstream, health).call("GET", "/hang", body))
        while "hang" not in upstream.seen:  # noqa: ASYNC110 - the server only has a list
            await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    assert health.circuit.state is not CircuitState.CLOSED  # not closed by a non-answer
    assert health.circuit.allow()  # the probe went back for the next call
    assert health.health is Health.UNKNOWN


async def test_a_call_cut_by_the_deadline_in_the_gateways_queue_is_not_a_failure(
    upstream: Upstream,
) -> None:
    health = tripping()
    async with aiohttp.ClientSession() as session:
        calls = endpoint(session, upstream, health, concurrency=1)
        holder = asyncio.ensure_future(calls.call("GET", "/hang", body))
        while "hang" not in upstream.seen:  # noqa: ASYNC110 - the server only has a list
            await asyncio.sleep(0.01)
        deadline.start(0.2)
        with pytest.raises(RequestDeadline) as caught:
            await calls.call("GET", "/items", body)  # waits for the only slot
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder

    assert upstream.seen == ["hang"]  # the second call never left the gateway
    assert caught.value.extensions["deadline"] is True
    assert caught.value.code == "UPSTREAM_TIMEOUT"
    assert health.circuit.state is CircuitState.CLOSED
    assert health.health is Health.UNKNOWN


@pytest.mark.parametrize(("slow_call", "counted"), [(30.0, False), (0.05, True)])
async def test_a_call_cut_by_the_deadline_in_flight_counts_only_if_the_upstream_was_slow(
    upstream: Upstream, slow_call: float, counted: bool
) -> None:
    health = tripping()
    async with aiohttp.ClientSession() as session:
        # The upstream holds the call for most of the second, far beyond 0.05 s even if
        # connecting takes a while on a busy machine.
        deadline.start(1.0)
        with pytest.raises(UpstreamTimeout) as caught:
            await endpoint(session, upstream, health, slow_call=slow_call).call(
                "GET", "/hang", body
            )

    assert isinstance(caught.value, RequestDeadline) is not counted
    assert (health.circuit.state is CircuitState.OPEN) is counted
    assert (health.health is Health.DOWN) is counted


async def test_a_deadline_cut_while_the_gateways_loop_lagged_is_not_the_upstreams_fault(
    upstream: Upstream,
) -> None:
    health = tripping()
    async with aiohttp.ClientSession() as session, LAG.running():
        calls = endpoint(session, upstream, health, slow_call=0.1)
        call = asyncio.ensure_future(calls_with_deadline(calls, 0.6))
        while "hang" not in upstream.seen:  # noqa: ASYNC110 - the server only has a list
            await asyncio.sleep(0.01)
        time.sleep(0.3)  # noqa: ASYNC251 - the point: the loop itself stalls, as under CPU load
        with pytest.raises(RequestDeadline):
            await call

    assert health.circuit.state is CircuitState.CLOSED
    assert health.health is Health.UNKNOWN


async def calls_with_deadline(calls: Endpoint, seconds: float) -> Any:
    deadline.start(seconds)
    return await calls.call("GET", "/hang", body)


def test_loop_lag_reports_the_worst_lateness_since_a_moment() -> None:
    lag = LoopLag()
    lag.note(due=10.0, now=10.01)
    lag.note(due=10.1, now=10.9)
    lag.note(due=11.0, now=11.02)

    assert lag.worst_since(10.0, now=11.1) == pytest.approx(0.8)
    assert lag.worst_since(10.95, now=11.1) == pytest.approx(0.02)


def _index(payload: Any) -> Any:
    return payload["items"][5]


def _divide(payload: Any) -> Any:
    return 1 / (len(payload["items"]) - 2)


def _lookup(payload: Any) -> Any:
    raise LookupError("no such thing")


def _runtime(payload: Any) -> Any:
    raise RuntimeError("a reader bug")


def _attribute(payload: Any) -> Any:
    return payload.items_


@pytest.mark.parametrize("parse", [_index, _divide, _lookup, _runtime, _attribute])
async def test_any_exception_while_parsing_is_a_bad_response(
    upstream: Upstream, parse: Callable[[Any], Any]
) -> None:
    health = tripping()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamBadResponse):
            await endpoint(session, upstream, health).call("GET", "/items", parse)

    assert health.health is Health.DOWN
    assert health.last_error_code == "UPSTREAM_BAD_RESPONSE"
    assert health.circuit.state is CircuitState.CLOSED  # an answer, just not a usable one


async def test_a_retry_waiting_on_retry_after_holds_no_slot(upstream: Upstream) -> None:
    health = tripping()
    async with aiohttp.ClientSession() as session:
        calls = endpoint(session, upstream, health, concurrency=1)
        flaky = asyncio.ensure_future(calls.call("GET", "/flaky", body))
        while "flaky" not in upstream.seen:  # noqa: ASYNC110 - the server only has a list
            await asyncio.sleep(0.01)
        # The flaky call now sleeps one second before its retry; the only slot is free.
        other = await calls.call("GET", "/items", body)
        retried = await flaky

    assert upstream.seen == ["flaky", "items", "flaky"]
    assert other == retried == {"items": [1, 2]}
    assert health.circuit.state is CircuitState.CLOSED
    assert health.health is Health.UP


async def test_a_call_past_the_budget_is_refused_before_it_leaves(upstream: Upstream) -> None:
    health = half_open()
    accounting.start(budget=2)
    async with aiohttp.ClientSession() as session:
        calls = endpoint(session, upstream, health)
        await calls.call("GET", "/items", body)  # the probe: closes the circuit
        await calls.call("GET", "/items", body)
        health.circuit.record(failed=True)  # open again, probe allowed next
        with pytest.raises(CallBudgetExceeded) as caught:
            await calls.call("GET", "/items", body)

    assert upstream.seen == ["items", "items"]
    assert accounting.calls() == 2
    assert caught.value.extensions == {
        "code": "CALL_BUDGET_EXCEEDED",
        "provider": "ZITADEL",
        "budget": 2,
    }
    assert health.circuit.allow()  # the probe the refused call took was given back
