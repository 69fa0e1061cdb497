"""What each way a call can end does to the breaker and health: only the upstream's doing counts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.core.circuit import CircuitBreaker, CircuitState
from app.core.errors import (
    CallBudgetExceeded,
    RequestDeadline,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from app.observability.loop_lag import LAG, LoopLag
from app.observability.metrics import Metrics
from app.upstream import accounting, request_deadline
from app.upstream.calls import retrying
from app.upstream.endpoint import Endpoint
from app.upstream.health import Health, ProviderHealth

pytestmark = pytest.mark.server


@dataclass
class Upstream:
    """A loopback upstream: `/hang` never answers, `/flaky` answers 503 once, then 200; `/busy`
    always 503 (Retry-After: 0), `/down` 503, `/later` 429 (Retry-After: 30), `/garbage` is
    invalid JSON."""

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
        if name == "down":
            return web.Response(status=503)
        if name == "busy":
            return web.Response(status=503, headers={"Retry-After": "0"})
        if name == "later":
            return web.Response(status=429, headers={"Retry-After": "30"})
        if name == "garbage":
            return web.Response(text='{"items": [1,', content_type="application/json")
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


@pytest.mark.parametrize("slow_call", [30.0, 0.05])
async def test_a_deadline_cut_in_the_gateways_queue_is_not_a_failure(
    upstream: Upstream, slow_call: float
) -> None:
    health = tripping()
    # The loop's lag is watched too: a call that never left has no time in flight to weigh.
    async with aiohttp.ClientSession() as session, LAG.running():
        calls = endpoint(session, upstream, health, concurrency=1, slow_call=slow_call)
        holder = asyncio.ensure_future(calls.call("GET", "/hang", body))
        while "hang" not in upstream.seen:  # noqa: ASYNC110 - the server only has a list
            await asyncio.sleep(0.01)
        request_deadline.start(0.2)
        with pytest.raises(RequestDeadline) as caught:
            await calls.call("GET", "/items", body)  # waits for the only slot
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder

    assert upstream.seen == ["hang"]  # the second call never left the gateway
    assert str(caught.value) == "ZITADEL did not answer before the request deadline."
    assert caught.value.extensions == {
        "code": "UPSTREAM_TIMEOUT",
        "provider": "ZITADEL",
        "deadline": True,
    }
    assert health.circuit.state is CircuitState.CLOSED
    assert health.health is Health.UNKNOWN


@pytest.mark.parametrize(("slow_call", "counted"), [(30.0, False), (0.05, True)])
async def test_a_deadline_cut_in_flight_counts_only_against_a_slow_upstream(
    upstream: Upstream, slow_call: float, counted: bool
) -> None:
    health = tripping()
    async with aiohttp.ClientSession() as session:
        # The upstream holds the call for most of the second, far beyond 0.05 s even if
        # connecting takes a while on a busy machine.
        request_deadline.start(1.0)
        with pytest.raises(UpstreamTimeout) as caught:
            await endpoint(session, upstream, health, slow_call=slow_call).call(
                "GET", "/hang", body
            )

    assert isinstance(caught.value, RequestDeadline) is not counted
    assert str(caught.value) == "ZITADEL did not answer before the request deadline."
    assert caught.value.extensions == {
        "code": "UPSTREAM_TIMEOUT",
        "provider": "ZITADEL",
        "deadline": True,
    }
    assert (health.circuit.state is CircuitState.OPEN) is counted
    assert (health.health is Health.DOWN) is counted


async def test_a_deadline_cut_during_loop_lag_is_not_the_upstreams_fault(
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
    request_deadline.start(seconds)
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


def _type(payload: Any) -> Any:
    return payload["items"] + 1


def _key(payload: Any) -> Any:
    return payload["sessions"]


def _value(payload: Any) -> Any:
    return int("not a number")


def _unicode(payload: Any) -> Any:
    return b"\xff".decode()


def _recursion(payload: Any) -> Any:
    return _recursion(payload)


def _assertion(payload: Any) -> Any:
    assert payload is None
    return payload


def _not_implemented(payload: Any) -> Any:
    raise NotImplementedError


@pytest.mark.parametrize(
    "parse",
    [
        _index,
        _divide,
        _lookup,
        _runtime,
        _attribute,
        _type,
        _key,
        _value,
        _unicode,
        _recursion,
        _assertion,
        _not_implemented,
    ],
)
async def test_any_exception_while_parsing_is_a_bad_response(
    upstream: Upstream, parse: Callable[[Any], Any]
) -> None:
    health = tripping()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamBadResponse) as caught:
            await endpoint(session, upstream, health).call("GET", "/items", parse)

    assert str(caught.value) == "ZITADEL answered with an unexpected shape."
    assert caught.value.extensions == {"code": "UPSTREAM_BAD_RESPONSE", "provider": "ZITADEL"}
    assert health.health is Health.DOWN
    assert health.last_error_code == "UPSTREAM_BAD_RESPONSE"
    assert health.circuit.state is CircuitState.CLOSED  # an answer, just not a usable one


async def test_a_body_that_is_not_json_is_a_bad_response(upstream: Upstream) -> None:
    health = tripping()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamBadResponse) as caught:
            await endpoint(session, upstream, health).call("GET", "/garbage", body)

    assert str(caught.value) == "ZITADEL answered with invalid JSON."
    assert caught.value.extensions == {"code": "UPSTREAM_BAD_RESPONSE", "provider": "ZITADEL"}
    assert upstream.seen == ["garbage"]  # a bad body is not retried
    assert health.health is Health.DOWN
    assert health.last_error_code == "UPSTREAM_BAD_RESPONSE"
    assert health.circuit.state is CircuitState.CLOSED

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


async def test_retries_under_a_full_limit_all_finish_and_close_the_probe(
    upstream: Upstream,
) -> None:
    health = half_open()
    async with aiohttp.ClientSession() as session:
        calls = endpoint(session, upstream, health, concurrency=1)
        # The probe waits one second to retry (Retry-After) with the only slot free; the
        # other calls are refused at once (open, probe taken), then served once it closed.
        probe = asyncio.ensure_future(calls.call("GET", "/flaky", body))
        while "flaky" not in upstream.seen:  # noqa: ASYNC110 - the server only has a list
            await asyncio.sleep(0.01)
        with pytest.raises(UpstreamUnavailable) as refused:
            await calls.call("GET", "/items", body)
        assert await probe == {"items": [1, 2]}
        others = await asyncio.gather(*(calls.call("GET", "/items", body) for _ in range(4)))

    assert refused.value.extensions["circuit"] == "HALF_OPEN"
    assert upstream.seen == ["flaky", "flaky", "items", "items", "items", "items"]
    assert others == [{"items": [1, 2]}] * 4
    assert health.circuit.state is CircuitState.CLOSED
    assert health.health is Health.UP


async def test_a_probe_cancelled_while_waiting_to_retry_is_given_back(upstream: Upstream) -> None:
    health = half_open()
    async with aiohttp.ClientSession() as session:
        call = asyncio.ensure_future(
            endpoint(session, upstream, health).call("GET", "/flaky", body)
        )
        while "flaky" not in upstream.seen:  # noqa: ASYNC110 - the server only has a list
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # the 503 is in; the call sleeps on Retry-After: 1
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    assert upstream.seen == ["flaky"]
    assert health.circuit.state is CircuitState.HALF_OPEN
    assert health.circuit.allow()  # the probe went back
    assert health.health is Health.UNKNOWN  # the 503 it saw was not the call's outcome


async def test_a_budget_spent_between_attempts_keeps_the_upstreams_error(
    upstream: Upstream,
) -> None:
    health = tripping()
    accounting.start(budget=1)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamUnavailable) as caught:
            await endpoint(session, upstream, health).call("GET", "/busy", body)

    assert upstream.seen == ["busy"]
    assert str(caught.value) == (
        "ZITADEL answered HTTP 503. It was not retried: the request has used its budget of 1 "
        "upstream calls."
    )
    assert caught.value.extensions == {
        "code": "UPSTREAM_UNAVAILABLE",
        "provider": "ZITADEL",
        "budget": 1,
        "notRetried": "CALL_BUDGET_EXCEEDED",
    }
    assert health.circuit.state is CircuitState.OPEN  # the 503 was the upstream's
    assert health.last_error_code == "UPSTREAM_UNAVAILABLE"


async def test_a_connection_error_then_a_spent_budget_says_both() -> None:
    health = tripping()
    accounting.start(budget=2)
    async with aiohttp.ClientSession() as session:
        calls = Endpoint(
            session, provider="PRIVX", base_url="http://127.0.0.1:9", headers={}, health=health
        )
        with pytest.raises(UpstreamUnavailable) as caught:
            await calls.call("GET", "/x", body)

    assert accounting.calls() == 2
    assert str(caught.value).startswith("PRIVX is unavailable. It was not retried:")
    assert caught.value.extensions["notRetried"] == "CALL_BUDGET_EXCEEDED"
    assert health.circuit.state is CircuitState.OPEN


async def test_retries_stop_when_the_budget_is_spent_before_the_first_attempt(
    upstream: Upstream,
) -> None:
    health = half_open()
    accounting.start(budget=0)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(CallBudgetExceeded):
            await endpoint(session, upstream, health).call("GET", "/busy", body)

    assert upstream.seen == []
    assert health.circuit.allow()  # the probe went back
    assert health.health is Health.UNKNOWN


async def test_a_retry_past_the_deadline_reports_the_failure_now(
    upstream: Upstream,
) -> None:
    health = tripping()
    async with aiohttp.ClientSession() as session:
        request_deadline.start(retrying.WAIT_MAX / 2)  # less time left than a backoff may take
        with pytest.raises(UpstreamUnavailable) as caught:
            await endpoint(session, upstream, health).call("GET", "/down", body)

    assert not isinstance(caught.value, RequestDeadline)
    assert str(caught.value) == "ZITADEL answered HTTP 503."
    assert upstream.seen == ["down"]
    assert health.circuit.state is CircuitState.OPEN


async def test_a_retry_after_past_the_cap_is_reported_at_once(upstream: Upstream) -> None:
    health = tripping()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamUnavailable) as caught:
            await endpoint(session, upstream, health).call("GET", "/later", body)

    assert str(caught.value) == "ZITADEL is rate limiting the gateway (HTTP 429)."
    assert upstream.seen == ["later"]


async def test_reads_are_tried_retries_plus_one_times_and_writes_once(upstream: Upstream) -> None:
    health = ProviderHealth()
    async with aiohttp.ClientSession() as session:
        calls = endpoint(session, upstream, health)
        with pytest.raises(UpstreamUnavailable):
            await calls.call("GET", "/busy", body)
        assert upstream.seen == ["busy"] * 3
        upstream.seen.clear()
        with pytest.raises(UpstreamUnavailable):
            await calls.call("GET", "/busy", body, read=False)
        assert upstream.seen == ["busy"]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # past: at once
        ("soon", None),
        ("-1", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    assert retrying.retry_after(value) == seconds


def test_retry_after_in_the_future_is_the_seconds_until_then() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    dated = retrying.retry_after(format_datetime(when, usegmt=True))
    assert dated is not None
    assert 25 < dated <= 30
    naive = format_datetime(when.replace(tzinfo=None))  # no zone: read as UTC
    undated = retrying.retry_after(naive)
    assert undated is not None
    assert 25 < undated <= 30


async def test_telemetry_counts_every_outcome_but_cancellation(upstream: Upstream) -> None:
    metrics = Metrics()
    health = ProviderHealth()
    async with aiohttp.ClientSession() as session:
        calls = Endpoint(
            session,
            provider="ZITADEL",
            base_url=upstream.url,
            headers={},
            health=health,
            metrics=metrics,
            retries=0,
        )
        await calls.call("GET", "/items", body)
        with pytest.raises(UpstreamUnavailable):
            await calls.call("GET", "/busy", body)
        with pytest.raises(UpstreamBadResponse):
            await calls.call("GET", "/items", _key)
        accounting.start(budget=0)
        with pytest.raises(CallBudgetExceeded):
            await calls.call("GET", "/items", body)
        accounting.start()
        hung = asyncio.ensure_future(calls.call("GET", "/hang", body))
        while "hang" not in upstream.seen:  # noqa: ASYNC110 - the server only has a list
            await asyncio.sleep(0.01)
        hung.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hung

    def count(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"provider": "ZITADEL", **labels})

    assert count("gateway_upstream_calls_total", status="200") == 2  # one parsed badly
    assert count("gateway_upstream_calls_total", status="503") == 1
    assert count("gateway_upstream_calls_total", status="CALL_BUDGET_EXCEEDED") == 1
    assert count("gateway_upstream_errors_total", code="UPSTREAM_UNAVAILABLE") == 1
    assert count("gateway_upstream_errors_total", code="UPSTREAM_BAD_RESPONSE") == 1
    assert count("gateway_upstream_errors_total", code="CALL_BUDGET_EXCEEDED") == 1
    assert count("gateway_upstream_call_duration_seconds_count") == 4  # not the cancelled one
    assert health.last_error_code == "UPSTREAM_BAD_RESPONSE"  # the budget's refusal is not health's


async def test_a_retry_stuck_in_the_queue_at_the_deadline_is_no_failure(
    upstream: Upstream,
) -> None:
    health = tripping()

    async def flaky() -> Any:
        request_deadline.start(3.0)
        return await calls.call("GET", "/flaky", body)

    async with aiohttp.ClientSession() as session:
        calls = endpoint(session, upstream, health, concurrency=1)
        retried = asyncio.ensure_future(flaky())
        while "flaky" not in upstream.seen:  # noqa: ASYNC110 - the server only has a list
            await asyncio.sleep(0.01)
        # While the flaky call waits a second to retry, this one takes the only slot and keeps it.
        holder = asyncio.ensure_future(calls.call("GET", "/hang", body))
        with pytest.raises(RequestDeadline):
            await retried
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder

    assert upstream.seen == ["flaky", "hang"]  # the retry never left the gateway
    assert health.circuit.state is CircuitState.CLOSED
    assert health.health is Health.UNKNOWN
